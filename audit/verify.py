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
import json
import queue
import threading
from collections.abc import Iterator
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
from core.db import utcnow

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


# Row layout of `_rows`: index, seq, level-0 node hash, leaf, leaf hash, then the columns.
_COLUMN_NAMES = [column for _key, column in _SCALAR_COLUMNS + _JSON_COLUMNS]
_FIRST_COLUMN = 5


def _entry_problems(row: tuple, body: dict[str, Any], stored: list[str]) -> list[str]:
    """Differences between an entry's leaf and its queryable columns."""
    problems = []
    position = _FIRST_COLUMN
    for key, column in _SCALAR_COLUMNS:
        if body.get(key) != row[position]:
            problems.append(f"column {column} does not match the leaf")
        position += 1
    for key, column in _JSON_COLUMNS:
        value = row[position]
        if (json.loads(value) if value else None) != (body.get(key) or None):
            problems.append(f"column {column} does not match the leaf")
        position += 1
    if sorted(stored) != sorted(body.get("subjects", [])):
        problems.append("subject pseudonyms do not match the leaf")
    return problems


_SCALAR_KEYS = tuple(key for key, _column in _SCALAR_COLUMNS)
_JSON_KEYS = tuple(key for key, _column in _JSON_COLUMNS)
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _columns_match(row: tuple, body: dict[str, Any]) -> bool:
    """True if every queryable column holds what the leaf says (the fast path)."""
    get = body.get
    if tuple(map(get, _SCALAR_KEYS)) != row[_FIRST_COLUMN : _FIRST_COLUMN + len(_SCALAR_KEYS)]:
        return False
    position = _FIRST_COLUMN + len(_SCALAR_KEYS)
    for key in _JSON_KEYS:
        value = get(key)
        stored = row[position]
        if (stored is not None) if not value else (stored != _encode(value)):
            return False
        position += 1
    return True


def _rows(session: Session, size: int) -> Iterator[list[tuple]]:
    """Every leaf below `size` in index order with its entry, level-0 node and subjects,
    streamed."""
    columns = ", ".join(f"e.{name}" for name in _COLUMN_NAMES)
    dialect = session.get_bind().dialect.name
    aggregate = (
        "string_agg(pseudonym, ',')" if dialect == "postgresql" else "group_concat(pseudonym)"
    )
    # Column and table names are constants of this module, not input.
    query = (
        f"SELECT l.idx, e.seq, n.hash, e.leaf, e.leaf_hash, {columns}, "  # noqa: S608
        f"(SELECT {aggregate} FROM audit_entry_subjects s WHERE s.entry_seq = e.seq) "
        "FROM audit_leaves l JOIN audit_entries e ON e.seq = l.entry_seq "
        "LEFT JOIN audit_tree_nodes n ON n.level = 0 AND n.idx = l.idx "
        f"WHERE l.idx < {int(size)} ORDER BY l.idx"
    )
    raw = session.connection().connection.driver_connection
    # A server-side cursor on PostgreSQL streams a million rows without holding them all.
    cursor = raw.cursor(name="hub_audit_verify") if dialect == "postgresql" else raw.cursor()
    if dialect != "postgresql":
        try:
            cursor.execute(query)
            while chunk := cursor.fetchmany(CHUNK):
                yield chunk
        finally:
            cursor.close()
        return
    # PostgreSQL: fetch the next chunk in a thread while this one is checked (the driver
    # releases the GIL while it waits on the server), so the two costs overlap.
    chunks: queue.Queue[list[tuple] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            cursor.execute(query)
            while not stop.is_set() and (chunk := cursor.fetchmany(CHUNK)):
                chunks.put(chunk)
            chunks.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            chunks.put(exc)

    fetcher = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
    fetcher.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while fetcher.is_alive():
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        fetcher.join()
        cursor.close()


def verify(
    session: Session,
    verifier_key: str,
    *,
    external_checkpoint: str | None = None,
    check_nodes: bool = True,
) -> Report:
    """Recompute and cross-check everything the log stores; see the module docstring."""
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

    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    compact = merkle.CompactRange()
    level_zero = bytearray()  # every leaf hash in order, for checking the stored subtrees
    expected = 0
    prefix_length = len(LEAF_PREFIX)
    loads = json.loads
    for chunk in _rows(session, size):
        digests = []
        stored_nodes = []
        for row in chunk:
            index, _seq, node_hash, leaf, leaf_hash = row[:_FIRST_COLUMN]
            leaf = bytes(leaf)
            if index != expected:
                report.add(
                    f"indexes jump from {expected - 1} to {index}: entries are missing", expected
                )
                expected = index
            digest = _sha256(b"\x00" + leaf).digest()
            if digest != leaf_hash:
                report.add(
                    f"index {index}: the entry's leaf hash does not match its leaf bytes", index
                )
            if node_hash != digest:
                report.add(f"index {index}: the tree's leaf node does not match the entry", index)
            body = None
            if leaf.startswith(LEAF_PREFIX):
                try:
                    body = loads(leaf[prefix_length:])
                except ValueError:
                    body = None
            subjects = row[-1].split(",") if row[-1] else []
            if not isinstance(body, dict):
                report.add(f"index {index}: the leaf is not a hub-audit/v1 JSON entry", index)
            elif not _columns_match(row, body) or sorted(subjects) != body.get("subjects", []):
                for problem in _entry_problems(row, body, subjects):
                    report.add(f"index {index}: {problem}", index)
            # Subtrees are checked against the stored leaf nodes: a leaf that differs from its
            # node is reported above, by its own index, not as a fault of every ancestor.
            stored_nodes.append(bytes(node_hash) if node_hash is not None else digest)
            digests.append(digest)
            expected += 1
            if expected in wanted_sizes or (external and external.size == expected):
                compact.extend(digests)
                digests = []
                roots[expected] = compact.root()
        compact.extend(digests)
        level_zero.extend(b"".join(stored_nodes))
    report.tree_size = expected

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

    orphans = session.scalars(
        sa.select(AuditEntry.seq)
        .where(
            ~sa.exists().where(AuditLeaf.entry_seq == AuditEntry.seq),
            ~sa.exists().where(AuditPending.entry_seq == AuditEntry.seq),
        )
        .limit(10)
    ).all()
    for seq in orphans:
        report.add(f"entry seq {seq} is neither in the tree nor waiting to be integrated")
    if check_nodes:
        _check_internal_nodes(session, report, level_zero)
    return report


def _size_now(session: Session) -> int:
    top = session.scalar(sa.select(sa.func.max(AuditLeaf.idx)))
    return 0 if top is None else top + 1


def _check_internal_nodes(session: Session, report: Report, level_zero: bytearray) -> None:
    """Each level holds exactly the complete subtrees of the tree verified (those within its
    size), and each stored subtree hash equals the hash recomputed from the leaves (level by
    level, from the leaf hashes in memory: about 64 bytes per entry)."""
    top = report.tree_size.bit_length() - 1
    # A node (level, idx) is complete within the size when idx < size >> level.
    complete = AuditTreeNode.idx < sa.case(
        {level: report.tree_size >> level for level in range(64)},
        value=AuditTreeNode.level,
        else_=0,
    )
    counts = dict(
        session.execute(
            sa.select(AuditTreeNode.level, sa.func.count())
            .where(complete)
            .group_by(AuditTreeNode.level)
        ).all()
    )
    for level in range(0, max([top, *counts]) + 1 if counts else 0):
        want = report.tree_size >> level if level <= top else 0
        if counts.get(level, 0) != want:
            report.add(
                f"level {level} of the tree stores {counts.get(level, 0)} subtrees, not {want}"
            )
    below = level_zero
    raw = session.connection().connection.driver_connection
    postgresql = session.get_bind().dialect.name == "postgresql"
    sha256 = _sha256
    for level in range(1, top + 1):
        computed = bytearray()
        for offset in range(0, len(below) - 63, 64):
            computed += sha256(b"\x01" + below[offset : offset + 64]).digest()
        cursor = raw.cursor(name=f"hub_audit_level_{level}") if postgresql else raw.cursor()
        within = report.tree_size >> level  # the subtrees complete within the verified size
        try:
            cursor.execute(
                "SELECT idx, hash FROM audit_tree_nodes WHERE level = %s AND idx < %s ORDER BY idx"
                if postgresql
                else "SELECT idx, hash FROM audit_tree_nodes WHERE level = ? AND idx < ? "
                "ORDER BY idx",
                (level, within),
            )
            reported = 0
            while chunk := cursor.fetchmany(CHUNK):
                for idx, stored in chunk:
                    start = idx * 32
                    if computed[start : start + 32] != stored and reported < 20:
                        reported += 1
                        report.add(
                            f"tree node ({level}, {idx}) is not the hash of the entries below it",
                            idx << level,
                        )
        finally:
            cursor.close()
        below = computed


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
