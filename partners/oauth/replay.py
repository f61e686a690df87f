"""Single-use ids: a DPoP proof's `jti` and a client assertion's `jti` are accepted once.

An id is claimed in the request's own transaction (one statement, `INSERT ... ON CONFLICT DO
NOTHING`: on PostgreSQL a concurrent first use holds the row until it commits, and the second
insert then does nothing) and is committed with the request, by the edge's one commit. In a
request the edge may retry, the claim is deferred to the round trip of the request's next
statement (`core.db.defer`: on the token endpoint, the issuance's audit entry); an id found
spent then throws the attempt away, and the request is made again, claiming first, and refused. A
refused request is rolled back, but the ids it spent stay spent: after a rollback the session
claims them again in whatever it commits next, which on every refusal path is the refusal's
own audit entry (`audit.refusals.keep_refusal`, the token endpoint's refusal, the error
handlers). Authentication itself never commits.
"""

from __future__ import annotations

import functools
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import Retry, db, defer, driver_rows, retryable, utcnow
from partners.models import UsedJti

#: The longest id kept (ids are compared as stored).
MAX_ID = 200
_CLAIMED = "hub_single_use_claimed"
_AGAIN = "hub_single_use_again"


class Replayed(Exception):
    """An id used before."""


def claim(kind: str, jti: str, expires_at: datetime) -> None:
    """Spend the single-use id `jti` of `kind` until `expires_at`; raise Replayed if it was
    spent before."""
    session = db.session()
    if secrets.randbelow(200) == 0:  # now and then, forget ids that can no longer be replayed
        session.execute(sa.delete(UsedJti).where(UsedJti.expires_at < utcnow()))
    used = (kind, jti[:MAX_ID], expires_at)
    if retryable(session):
        # Assumed unspent, and claimed in the round trip of the attempt's next statement; if
        # it was spent, the attempt is thrown away and made again, claiming it first.
        parameters = {"kind": used[0], "jti": used[1], "expires_at": used[2]}
        defer(session, _INSERT_ONCE_POSTGRESQL, parameters, functools.partial(_spent, used))
        return
    if not _insert_once(session, *used):
        raise Replayed(f"{kind} {jti[:MAX_ID]!r} was used before")
    session.info.setdefault(_CLAIMED, []).append(used)


def _spent(used: tuple[str, str, datetime], rows: list[tuple]) -> None:
    """The check of a deferred claim: its row was inserted, so the id is this request's."""
    if not rows:
        raise Retry(f"a {used[0]} id was used before")  # (the id is the caller's: not logged)
    db.session().info.setdefault(_CLAIMED, []).append(used)


def _insert_once(session: Session, kind: str, jti: str, expires_at: datetime) -> bool:
    """Insert the id unless it is there; False if it was. On PostgreSQL through the driver's
    cursor (`core.db.driver_rows`: with its BEGIN when it opens the transaction, as it does on
    the token endpoint); elsewhere a Core statement on the session's connection (the ORM's
    bulk insert machinery costs more than the insert here)."""
    used = {"kind": kind, "jti": jti, "expires_at": expires_at}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return bool(driver_rows(session, _INSERT_ONCE_POSTGRESQL, used))
    return connection.execute(_INSERT_ONCE, used).first() is not None


_INSERT_ONCE_POSTGRESQL = (
    "INSERT INTO used_jtis (kind, jti, expires_at) VALUES (%(kind)s, %(jti)s, %(expires_at)s) "
    "ON CONFLICT DO NOTHING RETURNING jti"
)
_INSERT_ONCE = (
    sqlite_insert(UsedJti.__table__)
    .values(
        kind=sa.bindparam("kind"), jti=sa.bindparam("jti"), expires_at=sa.bindparam("expires_at")
    )
    .on_conflict_do_nothing()
    .returning(UsedJti.__table__.c.jti)
)


@event.listens_for(Session, "after_rollback")
def _spent_ids_survive_a_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the request's transaction goes on
    claimed = session.info.pop(_CLAIMED, None)
    if claimed:
        session.info.setdefault(_AGAIN, []).extend(claimed)


@event.listens_for(Session, "before_commit")
def _claim_again(session: Session) -> None:
    again = session.info.pop(_AGAIN, None)
    if again and not session.in_nested_transaction():
        for used in again:
            _insert_once(session, *used)  # already there (another use kept it): nothing to do


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_CLAIMED, None)
