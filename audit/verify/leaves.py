"""The leaves of the log, each checked against its entry (`check`).

Each leaf is checked in one pass over the entries in `seq` order (so the entries, their
leaves and their subjects are read by merge joins, not a lookup per row):

- its SHA-256 leaf hash is recomputed here, from the leaf bytes, and compared with the
  entry's stored leaf hash; the leaf hashes then rebuild the tree (`audit.verify.tree`);
- its queryable columns and subjects are compared with its leaf by the database: the query
  writes the canonical JSON that the columns say the leaf holds and compares it with the
  leaf's bytes. Parsing each leaf here cost more than all the rest of `verify` together; the
  database's side of the work runs on its own processes, several at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.models import AuditEntry
from audit.services import LEAF_PREFIX

CHUNK = 20_000
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
_GAP, _LEAF_HASH, LEAF_NODE, _BODY = range(4)

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
class Leaves:
    """What the pass over the leaves found."""

    tree_size: int
    digests: bytearray  # the recomputed leaf hashes, 32 bytes at 32 * index (zeros if missing)
    seen: bytearray  # 1 at each index that has a leaf
    problems: list[tuple[int, int, str]]  # (index, rank, message)
    unmatched: list[tuple[int, int]]  # (index, seq) of entries to compare the slow way


def check(session: Session, size: int, streams: int) -> Leaves:
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
    return Leaves(tree_size, digests, seen, problems, unmatched)


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


def unmatched_problems(
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
