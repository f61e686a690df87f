"""Verifying the whole log: every leaf, every stored column and subtree, every checkpoint.

Detects what the database's triggers cannot prevent (a superuser, a restored backup, an edited
file): a changed entry body or hash, removed or reordered entries, rewritten tree nodes, a
checkpoint signed by another key, and a log that no longer matches a checkpoint held outside it.

The log keeps growing while it is verified (the integrator adds leaves, nodes and checkpoints
in their own transactions, and several statements here each see the newest commit). So the
view is fixed first: the checkpoints signed so far, then the tree's size, and every later read
is bounded by that size (the leaves below it, the subtrees complete within it). What was added
after the start is verified by the next run; a healthy log under load always verifies.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import merkle, notes
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditLeaf,
    AuditPending,
    AuditTreeNode,
    AuditVerification,
)
from audit.services import LEAF_PREFIX
from core.db import utcnow, wrote

CHUNK = 20_000
#: From this many leaves on, PostgreSQL reads the leaves in STREAMS ranges at once (the
#: database's share of the work then runs on as many processes); below it, in one.
PARALLEL_FROM = 100_000
STREAMS = max(2, min(4, os.cpu_count() or 1))
_sha256 = hashlib.sha256

# Columns whose values must equal the leaf's fields of the same name ("id" is `uuid`).
_SCALAR_COLUMNS = (
    ("id", "uuid"),
    ("time_ms", "time_ms"),
    ("actor", "actor"),
    ("actor_org", "actor_org"),
    ("on_behalf_of", "on_behalf_of"),
    ("action", "action"),
    ("outcome", "outcome"),
    ("reason", "reason"),
    ("resource_type", "resource_type"),
    ("resource_org", "resource_org"),
    ("agreement_id", "agreement_id"),
    ("agreement_version", "agreement_version"),
    ("agreement_hash", "agreement_hash"),
    ("purpose", "purpose"),
    ("request_id", "request_id"),
)
_JSON_COLUMNS = (("resource_ids", "resource_ids"), ("fields", "fields"), ("details", "details"))


@dataclass
class Problem:
    """One thing that does not hold, at a leaf index where it can be pinned to one."""

    message: str
    index: int | None = None


@dataclass
class Report:
    """What `verify` found."""

    tree_size: int = 0
    checkpoints: int = 0
    cosigned: int = 0
    external_checked: bool = False
    external_size: int | None = None  # the size the checkpoint file signed, once it verified
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def missing_from_external(self) -> int:
        """How many entries the checkpoint file signed that the log does not hold (a log
        restored from a backup older than the checkpoint); 0 when it holds them all."""
        if self.external_size is None:
            return 0
        return max(0, self.external_size - self.tree_size)

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def add(self, message: str, index: int | None = None) -> None:
        self.problems.append(Problem(message, index))

    def summary(self) -> str:
        """A human summary naming the first bad index."""
        if self.ok:
            extra = "; agrees with the checkpoint file" if self.external_checked else ""
            return (
                f"OK: {self.tree_size} entries and {self.checkpoints} signed checkpoints "
                f"verified{extra}."
            )
        lines = [f"FAILED: {len(self.problems)} problem(s) in a log of {self.tree_size} entries."]
        if self.first_bad_index is not None:
            lines.append(f"First bad index: {self.first_bad_index}.")
        lines.extend(f"- {p.message}" for p in self.problems[:50])
        if len(self.problems) > 50:
            lines.append(f"- ... and {len(self.problems) - 50} more")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "checkpoints": self.checkpoints,
            "first_bad_index": self.first_bad_index,
            "external_checked": self.external_checked,
            "problems": [{"index": p.index, "message": p.message} for p in self.problems],
        }


# --- the leaves ---------------------------------------------------------------------------
#
# Each leaf is checked in one pass over the entries in `seq` order (so the entries, their
# leaves and their subjects are read by merge joins, not a lookup per row):
#
# - its SHA-256 leaf hash is recomputed here, from the leaf bytes, and compared with the
#   entry's stored leaf hash; the leaf hashes then rebuild the tree (below);
# - its queryable columns and subjects are compared with its leaf by the database: the query
#   writes the canonical JSON that the columns say the leaf holds and compares it with the
#   leaf's bytes. Parsing each leaf here cost more than all the rest of `verify` together;
#   the database's side of the work runs on its own processes, several at once.
#
# Equal bytes mean that every column and subject agrees with the leaf, provided the JSON
# written is exactly the JSON of the column values. So: a string is written between quotes,
# with a quote in it escaped, and the leaf is taken as matched only if it holds neither a
# backslash nor a raw control character: then no value held a quote, a backslash or a
# control character, and quotes alone are JSON's quoting of every other string (a leaf with
# an escape in it, which canonical JSON writes only for such characters, is compared the
# slow way). An integer column is written in decimal; the three JSON columns are written as
# stored, which is sound only if each is one JSON value (`_one_json_value`). On SQLite, which
# keeps whatever type it is given, only rows whose columns have their declared types are
# compared this way. Every other entry (a changed column, a leaf that is not JSON, a leaf
# with keys no column holds) goes to `_entry_problems`, which parses the leaf and names what
# differs.

# Problems found per leaf are reported in index order, and for one index in this order.
_GAP, _LEAF_HASH, _LEAF_NODE, _BODY = range(4)

#: The leaf's keys in canonical (sorted) order, with the column each comes from.
_LEAF_KEYS = sorted([*_SCALAR_COLUMNS, *_JSON_COLUMNS, ("subjects", "")])
_JSON_COLUMN_NAMES = {column for _key, column in _JSON_COLUMNS}
_INTEGER_COLUMNS = {
    column
    for _key, column in _SCALAR_COLUMNS
    if isinstance(AuditEntry.__table__.c[column].type, sa.Integer)
}
#: What a leaf taken as matched may not hold beyond its prefix (see above).
_ESCAPES = bytes(range(0x20)) + b"\\"
_PREFIX_ESCAPES = len(LEAF_PREFIX) - len(LEAF_PREFIX.translate(None, _ESCAPES))


def _quoted(value: str) -> str:
    """SQL for a string between quotes, a quote in it escaped (see above)."""
    return f"""'"' || replace({value}, '"', '\\"') || '"'"""


def _expected_leaf(subjects: str, dialect: str) -> str:
    """SQL for the leaf's JSON text as the columns and `subjects` (a JSON array, or NULL)
    say it should be: keys sorted, no whitespace, absent values left out."""
    pieces = []
    for key, column in _LEAF_KEYS:
        if key == "subjects":
            written = subjects
        elif column in _JSON_COLUMN_NAMES:
            written = f"e.{column}"
        elif column in _INTEGER_COLUMNS:
            written = f"CAST(e.{column} AS TEXT)"
        else:
            written = _quoted(f"e.{column}")
        pieces.append((key, written))
    # The first key (`action`) is never absent, so the others each follow a comma, and a
    # piece is NULL, and left out, when its value is. Were the first absent, the whole text
    # would be NULL and match nothing. (Cutting a leading comma off instead costs the
    # database a walk over the characters of every leaf.)
    (first_key, first), rest = pieces[0], pieces[1:]
    others = [f"""',"{key}":' || {written}""" for key, written in rest]
    if dialect == "postgresql":
        joined = f"concat({', '.join(others)})"
    else:  # SQLite 3.40 has no concat()
        joined = " || ".join(f"COALESCE({piece}, '')" for piece in others)
    return f"""'{{"{first_key}":' || {first} || {joined} || '}}'"""


def _leaf_query(dialect: str) -> str:
    """The leaves in [start, end) whose entries' seq is in [low, high], in seq order: index,
    seq, leaf, leaf hash, whether the columns and subjects match the leaf, the JSON columns."""
    json_columns = ", ".join(f"e.{column}" for _key, column in _JSON_COLUMNS)
    if dialect == "postgresql":
        # C collation: the byte order of UTF-8, which is the code point order Python sorts by.
        subjects = (
            "LEFT JOIN (SELECT entry_seq, '[' || string_agg("
            + _quoted("pseudonym")
            + ", ',' ORDER BY pseudonym COLLATE \"C\") || ']' AS subjects "
            "FROM audit_entry_subjects WHERE entry_seq BETWEEN %(low)s AND %(high)s "
            "GROUP BY entry_seq) s ON s.entry_seq = e.seq"
        )
        expected = _expected_leaf("s.subjects", dialect)
        matches = f"e.leaf = %(prefix)s || convert_to({expected}, 'UTF8')"
        placeholder = "%({})s"
    else:
        subjects = ""
        # SQLite 3.40 has no ORDER BY inside an aggregate; as a window function it has.
        array = (
            "(SELECT json_group_array(g.pseudonym) OVER (ORDER BY g.pseudonym "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) "
            "FROM audit_entry_subjects g WHERE g.entry_seq = e.seq LIMIT 1)"
        )
        typed = " AND ".join(
            f"typeof(e.{column}) IN "
            + ("('integer', 'null')" if column in _INTEGER_COLUMNS else "('text', 'null')")
            for _key, column in _SCALAR_COLUMNS
        )
        matches = (
            f"CASE WHEN {typed} AND NOT EXISTS (SELECT 1 FROM audit_entry_subjects g "  # noqa: S608
            "WHERE g.entry_seq = e.seq AND typeof(g.pseudonym) <> 'text') "
            f"THEN e.leaf = CAST(:prefix || {_expected_leaf(array, dialect)} AS BLOB) END"
        )
        placeholder = ":{}"
    low, high, start, end = (placeholder.format(n) for n in ("low", "high", "start", "end"))
    # Column and table names are constants of this module, not input.
    return (
        f"SELECT l.idx, e.seq, e.leaf, e.leaf_hash, {matches}, {json_columns} "  # noqa: S608
        f"FROM audit_entries e JOIN audit_leaves l ON l.entry_seq = e.seq {subjects} "
        f"WHERE e.seq BETWEEN {low} AND {high} AND l.entry_seq BETWEEN {low} AND {high} "
        f"AND l.idx >= {start} AND l.idx < {end} "
        "ORDER BY e.seq"
    )


_SEQ_BOUNDS = "SELECT min(entry_seq), max(entry_seq) FROM audit_leaves WHERE idx >= {} AND idx < {}"


def _range_chunks(raw: Any, dialect: str, start: int, end: int, name: str) -> Iterator[list]:
    """The rows of `_leaf_query` for the leaves in [start, end), in chunks, on a driver
    connection (a server-side cursor on PostgreSQL: a million rows are never all held)."""
    postgresql = dialect == "postgresql"
    bounds = raw.cursor()
    try:
        bounds.execute(
            _SEQ_BOUNDS.format(*(("%s", "%s") if postgresql else ("?", "?"))), (start, end)
        )
        low, high = bounds.fetchone()
    finally:
        bounds.close()
    if low is None:
        return
    cursor = raw.cursor(name=name, binary=True) if postgresql else raw.cursor()
    prefix = LEAF_PREFIX if postgresql else LEAF_PREFIX.decode()
    try:
        cursor.execute(
            _leaf_query(dialect),
            {"low": low, "high": high, "start": start, "end": end, "prefix": prefix},
        )
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk
    finally:
        cursor.close()


def _leaf_chunks(session: Session, size: int, streams: int) -> Iterator[list]:
    """Every leaf below `size` as rows of `_leaf_query`, in chunks, from `streams` contiguous
    ranges of indexes read at once (on PostgreSQL; each beyond the first on a connection of
    its own, so it sees only what is committed)."""
    raw = session.connection().connection.driver_connection
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        yield from _range_chunks(raw, dialect, 0, size, "")
        return
    ranges = [(n * size // streams, (n + 1) * size // streams) for n in range(streams)]
    # Each range is fetched in a thread (the driver lets go of the GIL while the server
    # works), so the server's work on every range overlaps the checking of chunks here.
    chunks: queue.Queue[list | BaseException | None] = queue.Queue(maxsize=2 * streams)
    stop = threading.Event()

    def fetch(connection: Any, start: int, end: int, number: int) -> None:
        try:
            for chunk in _range_chunks(connection, dialect, start, end, f"hub_verify_{number}"):
                if stop.is_set():
                    break
                chunks.put(chunk)
            chunks.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            chunks.put(exc)

    fetchers: list[threading.Thread] = []
    with contextlib.ExitStack() as connections:
        engine = session.get_bind().engine
        raws = [raw] + [
            connections.enter_context(engine.connect()).connection.driver_connection
            for _ in ranges[1:]
        ]
        try:
            for number, (connection, (start, end)) in enumerate(zip(raws, ranges, strict=True)):
                fetchers.append(
                    threading.Thread(
                        target=fetch,
                        args=(connection, start, end, number),
                        name=f"audit-verify-{number}",
                        daemon=True,
                    )
                )
                fetchers[-1].start()
            running = len(fetchers)
            while running:
                item = chunks.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()
            while any(fetcher.is_alive() for fetcher in fetchers):
                with contextlib.suppress(queue.Empty):
                    chunks.get(timeout=0.1)
            for fetcher in fetchers:
                fetcher.join()


def _one_json_value(text: Any) -> bool:
    """Whether a JSON column's text is exactly one JSON value, and one the writer would keep
    (not empty), so it can stand for itself in the leaf the columns say."""
    if type(text) is not str:
        return False
    if _plain_list(text):  # the usual case, told more quickly
        return True
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return False
    return end == len(text) and bool(value)


_scan_json = json.JSONDecoder().scan_once
# A non-empty list of strings that need no escapes: one JSON value.
_plain_list = re.compile(r'\[(?:"[^"\\\x00-\x1f]*"(?:,"[^"\\\x00-\x1f]*")*)\]').fullmatch


@dataclass
class _Leaves:
    """What the pass over the leaves found."""

    tree_size: int
    digests: bytearray  # the recomputed leaf hashes, 32 bytes at 32 * index (zeros if missing)
    seen: bytearray  # 1 at each index that has a leaf
    problems: list[tuple[int, int, str]]  # (index, rank, message)
    unmatched: list[tuple[int, int]]  # (index, seq) of entries to compare the slow way


def _check_leaves(session: Session, size: int, streams: int) -> _Leaves:
    """Hash every leaf below `size` and note those whose entry does not match at once."""
    digests = bytearray(32 * size)
    seen = bytearray(size)
    problems: list[tuple[int, int, str]] = []
    unmatched: list[tuple[int, int]] = []
    sha256 = _sha256
    one_json_value = _one_json_value
    escapes, prefix_escapes = _ESCAPES, _PREFIX_ESCAPES
    for chunk in _leaf_chunks(session, size, streams):
        for index, seq, leaf, leaf_hash, matches, resource_ids, fields, details in chunk:
            digest = sha256(b"\x00" + leaf).digest()
            digests[32 * index : 32 * index + 32] = digest
            seen[index] = 1
            if digest != leaf_hash:
                message = f"index {index}: the entry's leaf hash does not match its leaf bytes"
                problems.append((index, _LEAF_HASH, message))
            if not (
                matches
                and len(leaf) - len(leaf.translate(None, escapes)) == prefix_escapes
                and (resource_ids is None or one_json_value(resource_ids))
                and (fields is None or one_json_value(fields))
                and (details is None or one_json_value(details))
            ):
                unmatched.append((index, seq))
    tree_size = seen.rfind(1) + 1
    del digests[32 * tree_size :], seen[tree_size:]
    # Gaps: a run of missing indexes is reported once, where it starts.
    missing = seen.find(0)
    while missing != -1:
        present = seen.find(1, missing)
        message = f"indexes jump from {missing - 1} to {present}: entries are missing"
        problems.append((missing, _GAP, message))
        missing = seen.find(0, present)
    return _Leaves(tree_size, digests, seen, problems, unmatched)


def _entry_problems(leaf: Any, columns: Sequence[Any], subjects: list[str]) -> list[str]:
    """Every way an entry's queryable columns (`_SCALAR_COLUMNS` then `_JSON_COLUMNS`) and
    subjects differ from its leaf."""
    body = None
    if isinstance(leaf, bytes) and leaf.startswith(LEAF_PREFIX):
        try:
            body = json.loads(leaf[len(LEAF_PREFIX) :])
        except ValueError:
            body = None
    if not isinstance(body, dict):
        return ["the leaf is not a hub-audit/v1 JSON entry"]
    problems = []
    scalars, json_texts = columns[: len(_SCALAR_COLUMNS)], columns[len(_SCALAR_COLUMNS) :]
    for (key, column), value in zip(_SCALAR_COLUMNS, scalars, strict=True):
        if body.get(key) != value:
            problems.append(f"column {column} does not match the leaf")
    for (key, column), text in zip(_JSON_COLUMNS, json_texts, strict=True):
        try:
            value = json.loads(text) if text else None
        except (TypeError, ValueError):
            value = _UNREADABLE
        if value != (body.get(key) or None):
            problems.append(f"column {column} does not match the leaf")
    if sorted(subjects) != sorted(body.get("subjects", [])):
        problems.append("subject pseudonyms do not match the leaf")
    return problems


_UNREADABLE = object()  # a JSON column that is not JSON: equal to no leaf's value
_COLUMN_NAMES = [column for _key, column in _SCALAR_COLUMNS + _JSON_COLUMNS]


def _unmatched_problems(
    session: Session, unmatched: list[tuple[int, int]]
) -> Iterator[tuple[int, int, str]]:
    """The problems of the entries the leaf pass could not match at once, read again whole."""
    columns = ", ".join(_COLUMN_NAMES)
    # Column and table names are constants of this module, not input.
    entries = sa.text(
        f"SELECT seq, leaf, {columns} FROM audit_entries WHERE seq IN :seqs"  # noqa: S608
    ).bindparams(sa.bindparam("seqs", expanding=True))
    subjects = sa.text(
        "SELECT entry_seq, pseudonym FROM audit_entry_subjects WHERE entry_seq IN :seqs"
    ).bindparams(sa.bindparam("seqs", expanding=True))
    for start in range(0, len(unmatched), 500):
        batch = unmatched[start : start + 500]
        seqs = [seq for _index, seq in batch]
        rows = {row[0]: row for row in session.execute(entries, {"seqs": seqs})}
        pseudonyms: dict[int, list[str]] = {}
        for seq, pseudonym in session.execute(subjects, {"seqs": seqs}):
            pseudonyms.setdefault(seq, []).append(pseudonym)
        for index, seq in batch:
            row = rows[seq]
            for problem in _entry_problems(row[1], row[2:], pseudonyms.get(seq, [])):
                yield index, _BODY, f"index {index}: {problem}"


# --- the tree -----------------------------------------------------------------------------


def _stored_level(
    raw: Any, postgresql: bool, level: int, start: int, end: int
) -> Iterator[list[tuple[int, bytes]]]:
    """The stored subtrees (idx, hash) of `level` with idx in [start, end), in index order,
    in chunks, on a driver connection (a server-side cursor on PostgreSQL)."""
    cursor = (
        raw.cursor(name=f"hub_verify_level_{level}", binary=True) if postgresql else raw.cursor()
    )
    mark = "%s" if postgresql else "?"
    try:
        cursor.execute(
            f"SELECT idx, hash FROM audit_tree_nodes WHERE level = {mark} "  # noqa: S608
            f"AND idx >= {mark} AND idx < {mark} ORDER BY idx",
            (level, start, end),
        )
        while chunk := cursor.fetchmany(CHUNK * 5):
            yield chunk
    finally:
        cursor.close()


#: Subtrees compared per statement in bulk (a value the database sorts in memory).
BULK = 1 << 16

_BULK_LEVEL = (
    "SELECT string_agg(hash, '' ORDER BY idx), count(*), min(length(hash)), max(length(hash)) "
    "FROM audit_tree_nodes WHERE level = %s AND idx >= %s AND idx < %s"
)


def _differences(
    raw: Any, postgresql: bool, level: int, computed: bytes | bytearray
) -> Iterator[tuple[int, bytes | None]]:
    """(idx, stored hash) of every subtree of `level` within `computed` (its hashes, 32 bytes
    each in index order) that is not stored as computed: None where none is stored."""
    within = len(computed) // 32
    position = 0  # every subtree before this one has been compared
    if postgresql:
        # A range whose subtrees are all stored, each a hash, is the level itself in index
        # order: the database joins it into one value, compared at once. From the first
        # range that is not, each subtree is compared.
        while position < within:
            end = min(position + BULK, within)
            joined, count, shortest, longest = raw.execute(
                _BULK_LEVEL, (level, position, end), binary=True
            ).fetchone()
            whole = count == end - position and shortest == longest == merkle.HASH_SIZE
            if not (whole and joined == computed[32 * position : 32 * end]):
                break
            position = end
        if position == within:
            return
    for chunk in _stored_level(raw, postgresql, level, position, within):
        last = chunk[-1][0]
        # The usual case, a run of stored subtrees all as computed, is one comparison.
        if (
            chunk[0][0] == position
            and last == position + len(chunk) - 1
            and all(len(stored) == merkle.HASH_SIZE for _idx, stored in chunk)
            and b"".join([stored for _idx, stored in chunk])
            == computed[32 * position : 32 * last + 32]
        ):
            position = last + 1
            continue
        for idx, stored in chunk:
            for absent in range(position, idx):
                yield absent, None
            if stored != computed[32 * idx : 32 * idx + 32]:
                yield idx, stored
            position = idx + 1
    for absent in range(position, within):
        yield absent, None


def _level_counts(session: Session, size: int) -> dict[int, int]:
    """How many subtrees each level stores that are complete within `size` leaves."""
    # A node (level, idx) is complete within the size when idx < size >> level.
    complete = AuditTreeNode.idx < sa.case(
        {level: size >> level for level in range(64)}, value=AuditTreeNode.level, else_=0
    )
    return dict(
        session.execute(
            sa.select(AuditTreeNode.level, sa.func.count())
            .where(complete)
            .group_by(AuditTreeNode.level)
        ).all()
    )


def _check_level_counts(report: Report, counts: dict[int, int]) -> None:
    """Each level holds exactly the complete subtrees of the tree verified (those within its
    size): no more, no fewer."""
    top = report.tree_size.bit_length() - 1
    for level in range(0, max([top, *counts]) + 1 if counts else 0):
        want = report.tree_size >> level if level <= top else 0
        if counts.get(level, 0) != want:
            report.add(
                f"level {level} of the tree stores {counts.get(level, 0)} subtrees, not {want}"
            )


def _level_differences(
    raw: Any, postgresql: bool, level: int, hashes: bytes | bytearray
) -> list[tuple[int, bytes | None]]:
    """What `_differences` finds in a level: every difference among the leaf nodes; above
    them, the first 20 stored subtrees that differ (a damaged tree is not listed whole)."""
    found = _differences(raw, postgresql, level, hashes)
    if level == 0:
        return list(found)
    return list(itertools.islice(((i, s) for i, s in found if s is not None), 20))


def _check_tree(
    session: Session,
    leaves: _Leaves,
    frontier: set[merkle.NodeId],
    counts: dict[int, int] | None,
    connections: int,
) -> tuple[dict[merkle.NodeId, bytes], list[Problem]]:
    """Walk up the tree from the leaf hashes, level by level (about 64 bytes per entry in
    memory), picking out the `frontier` subtrees for the signed roots, and compare the stored
    tree with it: the leaf nodes always (a difference is added to the leaves' problems, at
    its leaf), the subtrees above them unless `counts` is None, which is then filled with the
    number of subtrees each level stores (`_level_counts`). On PostgreSQL the stored tree is
    read in threads while this one hashes: the leaf nodes on a connection of their own if
    `connections` allows two.

    The subtrees are checked against the leaf nodes as stored, so that a leaf that differs
    from its node is not also the fault of every subtree above it; the walk is then made
    again from those nodes."""
    wanted: dict[int, list[int]] = {}
    for level, idx in frontier:
        wanted.setdefault(level, []).append(idx)
    found: dict[merkle.NodeId, bytes] = {}
    differences: dict[int, list[tuple[int, bytes | None]]] = {}
    failures: list[BaseException] = []
    raw = session.connection().connection.driver_connection
    postgresql = session.get_bind().dialect.name == "postgresql"
    # Jobs for the comparer on the session's connection, and for the leaf nodes' own.
    jobs: list[queue.Queue[tuple[int, bytes | bytearray] | None]] = [queue.Queue()]

    def compare(connection: Any, queued: queue.Queue, first: bool) -> None:
        try:
            if first and counts is not None:
                counts.update(_level_counts(session, leaves.tree_size))
            while (job := queued.get()) is not None:
                differences[job[0]] = _level_differences(connection, postgresql, *job)
        except BaseException as exc:  # re-raised once the walk is done
            failures.append(exc)

    with contextlib.ExitStack() as stack:
        raws = [raw]
        if postgresql and connections > 1:
            other = stack.enter_context(session.get_bind().engine.connect())
            raws.append(other.connection.driver_connection)
            jobs.append(queue.Queue())
        comparers = [
            threading.Thread(
                target=compare, args=(c, q, n == 0), name="audit-verify-tree", daemon=True
            )
            for n, (c, q) in enumerate(zip(raws, jobs, strict=True))
        ]
        try:
            if postgresql:
                for comparer in comparers:
                    comparer.start()
            for level, hashes in enumerate(
                itertools.chain([leaves.digests], merkle.levels_above(leaves.digests))
            ):
                for idx in wanted.get(level, ()):
                    found[(level, idx)] = bytes(hashes[32 * idx : 32 * idx + 32])
                if level == 0 or counts is not None:
                    jobs[-1 if level == 0 else 0].put((level, hashes))
        finally:
            for queued in jobs:
                queued.put(None)
            if postgresql:
                for comparer in comparers:
                    comparer.join()
            else:
                compare(raw, jobs[0], True)
    if failures:
        raise failures[0]

    leaf_nodes = leaves.digests
    for idx, stored in differences[0]:
        if leaves.seen[idx]:
            message = f"index {idx}: the tree's leaf node does not match the entry"
            leaves.problems.append((idx, _LEAF_NODE, message))
        if stored is not None and len(stored) == merkle.HASH_SIZE:
            if leaf_nodes is leaves.digests:
                leaf_nodes = bytearray(leaves.digests)
            leaf_nodes[32 * idx : 32 * idx + 32] = stored
    if counts is not None and leaf_nodes is not leaves.digests:
        for level, computed in enumerate(merkle.levels_above(leaf_nodes), start=1):
            differences[level] = _level_differences(raw, postgresql, level, computed)
    problems = [
        Problem(f"tree node ({level}, {idx}) is not the hash of the entries below it", idx << level)
        for level in sorted(differences)
        if level
        for idx, _stored in differences[level]
    ]
    return found, problems


# --- the whole log ------------------------------------------------------------------------


def _streams(session: Session, size: int, asked: int | None) -> int:
    """How many connections read the log (`asked`, or by default): on PostgreSQL only (an
    SQLite file has one writer and one reader here), and one for a small log or when this
    transaction wrote something that other connections cannot see yet (tests, mostly)."""
    if session.get_bind().dialect.name != "postgresql":
        return 1
    if asked:
        return asked
    return 1 if size < PARALLEL_FROM or wrote(session) else STREAMS


def verify(
    session: Session,
    verifier_key: str,
    *,
    external_checkpoint: str | None = None,
    check_nodes: bool = True,
    streams: int | None = None,
) -> Report:
    """Recompute and cross-check everything the log stores; see the module docstring.

    `streams` (PostgreSQL): how many connections read the leaves at once, each but the
    session's own seeing only committed data; by default several for a large log."""
    report = Report()
    verifier = notes.parse_verifier_key(verifier_key)
    # The view is fixed here: the checkpoints first, then the size (each checkpoint read was
    # signed over a tree no larger than the size read after it).
    checkpoints = list(session.scalars(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
    size = _size_now(session)
    report.checkpoints = len(checkpoints)
    wanted_sizes: dict[int, list[AuditCheckpoint]] = {}
    previous_size = 0
    for checkpoint in checkpoints:
        try:
            text, _ = notes.open_note(checkpoint.note, [verifier])
            parsed = notes.parse_checkpoint(text)
        except notes.NoteError as exc:
            report.add(
                f"checkpoint {checkpoint.id}: signature or format does not verify "
                f"against the hub's key ({exc})"
            )
            continue
        if parsed.size != checkpoint.size or parsed.root != checkpoint.root:
            report.add(f"checkpoint {checkpoint.id}: stored size or root differs from the note")
        if parsed.size < previous_size:
            report.add(
                f"checkpoint {checkpoint.id}: size {parsed.size} is smaller than the "
                f"checkpoint before it ({previous_size})"
            )
        previous_size = max(previous_size, parsed.size)
        wanted_sizes.setdefault(parsed.size, []).append(checkpoint)

    external: notes.Checkpoint | None = None
    if external_checkpoint is not None:
        try:
            text, _ = notes.open_note(external_checkpoint, [verifier])
            external = notes.parse_checkpoint(text)
            report.external_checked = True
            report.external_size = external.size
        except notes.NoteError as exc:
            report.add(f"the checkpoint file does not verify against the hub's key ({exc})")

    streams = _streams(session, size, streams)
    leaves = _check_leaves(session, size, streams)
    report.tree_size = leaves.tree_size
    leaves.problems.extend(_unmatched_problems(session, leaves.unmatched))
    # The signed roots are recomputed from the leaf hashes, and the stored tree checked, in
    # one walk up the tree.
    signed = {*wanted_sizes, *([external.size] if external else [])}
    signed = {s for s in signed if 0 < s <= report.tree_size}
    frontier = {node for s in signed for node in merkle.frontier_nodes(s)}
    counts: dict[int, int] | None = {} if check_nodes else None
    # With connections to spare, entries that are nowhere are looked for meanwhile.
    with ThreadPoolExecutor(max_workers=1) as aside:
        orphans = aside.submit(_orphans_apart, session.get_bind().engine) if streams > 1 else None
        found, subtree_problems = _check_tree(session, leaves, frontier, counts, streams)
    orphan_seqs = orphans.result() if orphans else _orphans(session)
    for index, _rank, message in sorted(leaves.problems, key=lambda p: p[:2]):
        report.add(message, index)

    roots = {0: merkle.EMPTY_ROOT}
    for s in signed:
        roots[s] = merkle.CompactRange.load(s, lambda level, idx: found[(level, idx)]).root()
    for size, group in sorted(wanted_sizes.items()):
        for checkpoint in group:
            if size > report.tree_size:
                report.add(
                    f"checkpoint {checkpoint.id} signed {size} entries but the log holds "
                    f"only {report.tree_size}: entries were removed",
                    report.tree_size,
                )
            elif roots[size] != checkpoint.root:
                report.add(
                    f"checkpoint {checkpoint.id} (size {size}): the entries no longer "
                    f"hash to its signed root"
                )
    if external is not None:
        if external.size > report.tree_size:
            report.add(
                f"the checkpoint file signed {external.size} entries but the log holds "
                f"only {report.tree_size}: entries were removed",
                report.tree_size,
            )
        elif roots.get(external.size) != external.root:
            report.add(
                f"the entries no longer hash to the root of the checkpoint file "
                f"(size {external.size})"
            )

    for seq in orphan_seqs:
        report.add(f"entry seq {seq} is neither in the tree nor waiting to be integrated")
    if counts is not None:
        _check_level_counts(report, counts)
        report.problems.extend(subtree_problems)
    return report


def _orphans(session: Session) -> list[int]:
    """Up to ten entries that are neither in the tree nor waiting to be integrated."""
    return list(
        session.scalars(
            sa.select(AuditEntry.seq)
            .where(
                ~sa.exists().where(AuditLeaf.entry_seq == AuditEntry.seq),
                ~sa.exists().where(AuditPending.entry_seq == AuditEntry.seq),
            )
            .limit(10)
        )
    )


def _orphans_apart(engine: sa.Engine) -> list[int]:
    """`_orphans`, on a connection of its own."""
    with engine.connect() as connection, Session(bind=connection) as session:
        return _orphans(session)


def _size_now(session: Session) -> int:
    top = session.scalar(sa.select(sa.func.max(AuditLeaf.idx)))
    return 0 if top is None else top + 1


def record_verification(
    session: Session, report: Report, started: Any, triggered_by: str
) -> AuditVerification:
    """Keep the outcome, for the DPO page's "last verified" panel."""
    row = AuditVerification(
        started_at=started,
        finished_at=utcnow(),
        ok=report.ok,
        tree_size=report.tree_size,
        checkpoints=report.checkpoints,
        first_bad_index=report.first_bad_index,
        summary=report.summary(),
        triggered_by=triggered_by,
    )
    session.add(row)
    session.flush()
    return row
