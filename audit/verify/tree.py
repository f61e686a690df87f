"""The stored tree, compared level by level with the tree the leaf hashes make (`check`)."""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import merkle
from audit.models import AuditTreeNode
from audit.verify.leaves import LEAF_NODE, Leaves
from audit.verify.report import Problem

#: Subtrees fetched at a time when they are compared one by one.
CHUNK = 100_000


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
        while chunk := cursor.fetchmany(CHUNK):
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


def level_counts(session: Session, size: int) -> dict[int, int]:
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


def check_level_counts(size: int, counts: dict[int, int]) -> list[str]:
    """That each level holds exactly the complete subtrees of a tree of `size` leaves (those
    within its size), no more, no fewer: what differs."""
    top = size.bit_length() - 1
    problems = []
    for level in range(0, max([top, *counts]) + 1 if counts else 0):
        want = size >> level if level <= top else 0
        if counts.get(level, 0) != want:
            problems.append(
                f"level {level} of the tree stores {counts.get(level, 0)} subtrees, not {want}"
            )
    return problems


def _level_differences(
    raw: Any, postgresql: bool, level: int, hashes: bytes | bytearray
) -> list[tuple[int, bytes | None]]:
    """What `_differences` finds in a level: every difference among the leaf nodes; above
    them, the first 20 stored subtrees that differ (a damaged tree is not listed whole)."""
    found = _differences(raw, postgresql, level, hashes)
    if level == 0:
        return list(found)
    return list(itertools.islice(((i, s) for i, s in found if s is not None), 20))


def check(
    session: Session,
    leaves: Leaves,
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
                counts.update(level_counts(session, leaves.tree_size))
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
            leaves.problems.append((idx, LEAF_NODE, message))
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
