"""The verifiable log: integrating entries into the Merkle tree, signed checkpoints, proofs."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from audit import merkle, notes
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditLeaf,
    AuditPending,
    AuditTreeNode,
)
from core import background
from core.db import SQLITE_BUSY_MS, db, is_unavailable, utcnow
from core.keys import instance_secret

log = logging.getLogger(__name__)

LOCK_TABLE = "audit_integrator_lock"
DEFAULT_BATCH = 5000
CHECKPOINT_INTERVAL = timedelta(seconds=2)


class AuditIntegrityError(RuntimeError):
    """The stored tree contradicts itself or an earlier checkpoint: nothing more is signed."""


@dataclass(frozen=True)
class TreeHead:
    """The tree as integrated: its size and root."""

    size: int
    root: bytes


# --- keys -------------------------------------------------------------------------------


def load_signer_key(instance_path: Path, origin: str) -> str:
    """The log's Ed25519 signer key (signed-note format): `HUB_AUDIT_SIGNING_KEY`, else a key
    generated into instance/audit-log.signer on first start, named after the log's origin."""
    return instance_secret(
        instance_path,
        "audit-log.signer",
        "HUB_AUDIT_SIGNING_KEY",
        lambda: notes.make_signer_key(origin),
        notes.parse_signer_key,
    )


def signer() -> notes.Signer:
    """The current app's checkpoint signer."""
    return notes.parse_signer_key(current_app.config["HUB_AUDIT_SIGNER_KEY"])


def verifier_key() -> str:
    """The published verifier key (`<name>+<key id>+<base64 key>`) partners pin."""
    return notes.verifier_key_from_signer(current_app.config["HUB_AUDIT_SIGNER_KEY"])


def origin() -> str:
    """The checkpoint origin line: the signer key's name."""
    return signer().name


# --- reading the tree -------------------------------------------------------------------


# One statement text whatever the number of nodes asked for: the driver prepares it once per
# connection (psycopg does after a few uses) and the server plans it once, which is most of the
# cost of a proof. SQLite plans in-process, so a JSON array of (level, idx) pairs does there.
_NODES = {
    "postgresql": "SELECT n.level, n.idx, n.hash "
    "FROM unnest(%s::smallint[], %s::bigint[]) AS w(level, idx) "
    "JOIN audit_tree_nodes n ON n.level = w.level AND n.idx = w.idx",
    "sqlite": "SELECT n.level, n.idx, n.hash FROM json_each(?) AS w "
    "JOIN audit_tree_nodes n "
    "ON n.level = json_extract(w.value, '$[0]') AND n.idx = json_extract(w.value, '$[1]')",
}


def fetch_nodes(session: Session, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Load stored subtree hashes by (level, idx), in one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Array literals: the driver adapts a list of ints more slowly than the query runs.
        levels = "{" + ",".join(str(level) for level, _ in wanted) + "}"
        indexes = "{" + ",".join(str(idx) for _, idx in wanted) + "}"
        parameters: tuple = (levels, indexes)
    else:
        parameters = (json.dumps(wanted),)
    rows = connection.exec_driver_sql(_NODES[connection.dialect.name], parameters).all()
    found = {(level, idx): digest for level, idx, digest in rows}
    if len(found) != len(wanted):
        missing = [node for node in wanted if node not in found]
        raise AuditIntegrityError(f"tree nodes missing from the store: {missing[:5]}")
    return found


def _getter(found: dict[tuple[int, int], bytes]) -> merkle.GetNode:
    return lambda level, idx: found[(level, idx)]


def tree_size(session: Session) -> int:
    """How many entries the tree holds (indexes 0 .. size-1)."""
    # A plain statement: the ORM's compile and result machinery cost more than the query.
    top = session.connection().exec_driver_sql("SELECT max(idx) FROM audit_leaves").scalar()
    return 0 if top is None else top + 1


def tree_head(session: Session, size: int | None = None) -> TreeHead:
    """The root of the tree at `size` (default: its current size)."""
    size = tree_size(session) if size is None else size
    if size == 0:
        return TreeHead(0, merkle.EMPTY_ROOT)
    found = fetch_nodes(session, merkle.frontier_nodes(size))
    return TreeHead(size, merkle.CompactRange.load(size, _getter(found)).root())


def inclusion_proof(session: Session, index: int, size: int) -> tuple[bytes, list[bytes]]:
    """The leaf hash at `index` and its inclusion proof in the tree of `size` entries."""
    plan = merkle.inclusion_proof_nodes(index, size)
    found = fetch_nodes(session, [(0, index), *(n for group in plan for n in group)])
    get = _getter(found)
    return found[(0, index)], [merkle.hash_nodes(group, get) for group in plan]


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """The proof that the tree of `new` entries extends the tree of `old` entries."""
    if old == new:
        return []
    plan = merkle.consistency_proof_nodes(old, new)
    found = fetch_nodes(session, (n for group in plan for n in group))
    get = _getter(found)
    return [merkle.hash_nodes(group, get) for group in plan]


# --- integration ------------------------------------------------------------------------


def _acquire(session: Session, wait: bool) -> bool:
    """Take the integrator's lock for this transaction (one integrator at a time)."""
    if session.get_bind().dialect.name == "postgresql":
        query = f"SELECT id FROM {LOCK_TABLE} WHERE id = 1 FOR UPDATE"  # noqa: S608
        row = session.execute(sa.text(query if wait else query + " SKIP LOCKED")).first()
        return row is not None
    # SQLite: writing the lock row takes the database's single write lock.
    try:
        session.execute(
            sa.text(f"UPDATE {LOCK_TABLE} SET taken_at = :now WHERE id = 1"),  # noqa: S608
            {"now": int(time.time() * 1000)},
        )
    except sa.exc.OperationalError as exc:
        if wait or "locked" not in str(exc):
            raise
        return False
    return True


def integrate(
    session: Session,
    *,
    wait: bool = True,
    batch_size: int = DEFAULT_BATCH,
    checkpoint: bool = True,
    force_checkpoint: bool = False,
) -> TreeHead | None:
    """Give pending entries their indexes, store the subtrees they complete, and sign a
    checkpoint if the tree grew. Runs in the caller's transaction; the caller commits.

    Returns the new tree head, or None if another integrator holds the lock (`wait=False`).
    """
    if not _acquire(session, wait):
        return None
    size = tree_size(session)
    found = fetch_nodes(session, merkle.frontier_nodes(size))
    compact = merkle.CompactRange.load(size, _getter(found))
    while True:
        rows = session.execute(
            sa.select(AuditPending.entry_seq, AuditEntry.leaf_hash)
            .join(AuditEntry, AuditEntry.seq == AuditPending.entry_seq)
            .order_by(AuditPending.entry_seq)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        nodes = compact.append_batch(row.leaf_hash for row in rows)
        session.execute(
            sa.insert(AuditLeaf),
            [{"idx": size + i, "entry_seq": row.entry_seq} for i, row in enumerate(rows)],
        )
        session.execute(
            sa.insert(AuditTreeNode),
            [{"level": level, "idx": idx, "hash": digest} for level, idx, digest in nodes],
        )
        session.execute(
            sa.delete(AuditPending).where(
                AuditPending.entry_seq.in_([row.entry_seq for row in rows])
            )
        )
        size += len(rows)
        if len(rows) < batch_size:
            break
    head = TreeHead(size, compact.root())
    if checkpoint:
        sign_checkpoint(session, head, force=force_checkpoint)
    return head


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The newest signed checkpoint."""
    return session.scalar(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def sign_checkpoint(
    session: Session, head: TreeHead, *, force: bool = False
) -> AuditCheckpoint | None:
    """Sign and keep a checkpoint for `head` if the tree grew (at most every few seconds,
    unless `force`). Refuses if `head` is not consistent with the last checkpoint."""
    last = latest_checkpoint(session)
    if last is not None and last.size == head.size:
        if last.root != head.root:
            raise AuditIntegrityError(
                f"the tree of size {head.size} no longer has the root of checkpoint {last.id}"
            )
        return last
    if head.size == 0 and last is None and not force:
        return None
    if last is not None and not force and utcnow() - last.created_at < CHECKPOINT_INTERVAL:
        return last
    if last is not None:
        if head.size < last.size:
            raise AuditIntegrityError(
                f"the tree shrank from {last.size} to {head.size} entries: refusing to sign"
            )
        try:
            merkle.verify_consistency(
                last.size,
                head.size,
                last.root,
                head.root,
                consistency_proof(session, last.size, head.size),
            )
        except merkle.ProofError as exc:
            raise AuditIntegrityError(
                f"the tree of size {head.size} is not consistent with checkpoint {last.id} "
                f"(size {last.size}): refusing to sign"
            ) from exc
    note = notes.sign_note(notes.format_checkpoint(origin(), head.size, head.root), signer())
    checkpoint = AuditCheckpoint(size=head.size, root=head.root, note=note, created_at=utcnow())
    session.add(checkpoint)
    session.flush()
    return checkpoint


def integrate_now(*, force_checkpoint: bool = False) -> TreeHead | None:
    """Integrate and checkpoint in the request's session, waiting for the lock (on demand)."""
    head = integrate(db.session(), wait=True, force_checkpoint=force_checkpoint)
    db.session.commit()
    return head


# --- integrating after commit -----------------------------------------------------------


def _integrate_round(app: Flask) -> bool:
    with app.app_context():
        integrate_opportunistically(app.extensions["hub_db_engine"])
    return False


#: Integrating committed entries, in each web process (`core.background`): woken after a
#: commit that wrote entries, and every HUB_AUDIT_INTEGRATE_INTERVAL_SECONDS, so that entries a
#: crash left pending (committed, not yet integrated) never wait for the next commit.
INTEGRATOR = background.Kind(
    name="audit-integrator",
    round=_integrate_round,
    after_commit=lambda app: app.config["HUB_SETTINGS"].audit_integrate_after_commit,
    interval=lambda app: app.config["HUB_SETTINGS"].audit_integrate_interval_seconds,
)


def mark_written(session: Session) -> None:
    """Note that this transaction wrote audit entries (they are integrated after commit)."""
    background.wake_after_commit(session, INTEGRATOR)


def start_integrating(app: Flask) -> None:
    """Integrate what is pending now, then after commits and on the timer, in this process and
    in every process forked from it (gunicorn workers)."""
    background.start(app, INTEGRATOR)


def stop_integrating(app: Flask) -> None:
    """Stop this process's background integrator for `app` (before its engine is disposed)."""
    background.stop(app, INTEGRATOR)


def integrate_opportunistically(engine: sa.Engine) -> TreeHead | None:
    """Try to integrate with a connection of its own; give way at once if another holds the
    lock (it will pick these entries up) or the database is busy."""
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            if sqlite:
                # Wait a little for the write lock (this runs in a background thread, off any
                # request's path), then give way: the next commit pokes the integrator again.
                raw.execute("PRAGMA busy_timeout = 2000")
            try:
                with Session(bind=connection) as session:
                    head = integrate(session, wait=False)
                    session.commit()
            finally:
                if sqlite:
                    raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
            return head
    except sa.exc.OperationalError as exc:
        log.info("audit integration deferred: %s", exc.orig)
        return None
    except Exception:  # the request succeeded; a later integration will catch up
        log.exception("audit integration failed after commit")
        return None


#: The longest pause between attempts while the database is away.
MAX_BACKOFF = 60.0


#: The advisory lock the dedicated integrators of one database elect their leader with.
LEADER_LOCK = 0x6875_625F_6175_6474  # "hub_audt"


class Leadership:
    """Which of several dedicated integrators (one per host, say) integrates: on PostgreSQL
    the one holding a session-level advisory lock on a connection of its own. The server
    releases it when that process or its connection dies, and a standby takes over at its
    next round. On SQLite there is one host, and it leads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.connection: sa.Connection | None = None

    def held(self) -> bool:
        """Lead if no one else does; True while this process leads."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self.connection is not None:
            try:
                self.connection.exec_driver_sql("SELECT 1")
                self.connection.commit()
                return True
            except sa.exc.DBAPIError:
                self.release()
                raise
        connection = self.engine.connect()
        try:
            taken = connection.scalar(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK)))
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self.connection = connection
        log.info("audit integration: this integrator leads")
        return True

    def release(self) -> None:
        """Give up the lead (closing the connection frees the lock, even on a broken one)."""
        if self.connection is None:
            return
        connection, self.connection = self.connection, None
        try:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({LEADER_LOCK})")
            connection.commit()
        except sa.exc.DBAPIError:
            connection.invalidate()
        finally:
            connection.close()


def follow(interval: float, *, stop: threading.Event | None = None) -> None:
    """The dedicated integrator's loop: integrate every `interval` seconds until `stop` is set
    (never, from the command line), while it leads (`Leadership`: with one dedicated
    integrator per host, one integrates and the others stand by). A transient database error
    is logged and retried with exponential backoff; it never ends the loop.
    `AuditIntegrityError` does: nothing more may be signed over a damaged tree."""
    stop = stop or threading.Event()
    pause = interval
    leadership = Leadership(db.engine)
    standing_by = False
    try:
        while not stop.is_set():
            try:
                if leadership.held():
                    integrate_now()
                    standing_by = False
                elif not standing_by:
                    log.info("audit integration: another integrator leads; standing by")
                    standing_by = True
                pause = interval
            except AuditIntegrityError:
                raise
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                _discard_session()
                pause = min(MAX_BACKOFF, max(pause * 2, 0.5))
                log.warning(
                    "audit integration failed (%s); retrying in %.1f s",
                    type(exc).__name__,
                    pause,
                )
            stop.wait(pause)
    finally:
        leadership.release()


def _discard_session() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: a new session gets a new one
        db.session.remove()
