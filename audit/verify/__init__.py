"""Verifying the whole log: every leaf, every stored column and subtree, every checkpoint.

Detects what the database's triggers cannot prevent (a superuser, a restored backup, an edited
file): a changed entry body or hash, removed or reordered entries, rewritten tree nodes, a
checkpoint signed by another key, and a log that no longer matches a checkpoint held outside it.

The log keeps growing while it is verified (the integrator adds leaves, nodes and checkpoints
in their own transactions, and several statements here each see the newest commit). So the
view is fixed first: the checkpoints signed so far, then the tree's size, and every later read
is bounded by that size (the leaves below it, the subtrees complete within it). What was added
after the start is verified by the next run; a healthy log under load always verifies.

How a million entries are verified in seconds: `leaves` (the leaves, by the database's
comparison of each entry's columns with its leaf, read over several connections) and `tree`
(the stored tree, compared level by level in bulk while the leaf hashes are folded).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import merkle, notes
from audit.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditPending, AuditVerification
from audit.verify import leaves, tree
from audit.verify.report import Problem, Report
from core.db import utcnow, wrote

__all__ = ["Problem", "Report", "record_verification", "verify"]

#: From this many leaves on, PostgreSQL reads the leaves in STREAMS ranges at once (the
#: database's share of the work then runs on as many processes); below it, in one.
PARALLEL_FROM = 100_000
STREAMS = max(2, min(4, os.cpu_count() or 1))


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
    checked = leaves.check(session, size, streams)
    report.tree_size = checked.tree_size
    checked.problems.extend(leaves.unmatched_problems(session, checked.unmatched))
    # The signed roots are recomputed from the leaf hashes, and the stored tree checked, in
    # one walk up the tree.
    signed = {*wanted_sizes, *([external.size] if external else [])}
    signed = {s for s in signed if 0 < s <= report.tree_size}
    frontier = {node for s in signed for node in merkle.frontier_nodes(s)}
    counts: dict[int, int] | None = {} if check_nodes else None
    # With connections to spare, entries that are nowhere are looked for meanwhile.
    with ThreadPoolExecutor(max_workers=1) as aside:
        orphans = aside.submit(_orphans_apart, session.get_bind().engine) if streams > 1 else None
        found, subtree_problems = tree.check(session, checked, frontier, counts, streams)
    orphan_seqs = orphans.result() if orphans else _orphans(session)
    for index, _rank, message in sorted(checked.problems, key=lambda p: p[:2]):
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
        for message in tree.check_level_counts(report.tree_size, counts):
            report.add(message)
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
