"""Policy that is cheap to ask and exact to change.

What every request asks before it may read anything (the agreements in force, whether a client
and its organisation are active, which tokens are revoked, the keys tokens are signed with)
changes rarely and must be obeyed at once when it does. It is served from a per-process cache
keyed by the *policy generation*: one row whose token the database itself replaces, by trigger,
in every statement that writes a policy table (the tables are listed in `POLICY_TABLES`; the
triggers are made by the migration that made the row). So:

- a committed change is seen by the next request on every worker and host: each transaction
  reads the token once (one primary-key read, sent with the transaction's BEGIN:
  `core.db.read_first`) before it uses anything cached. A request the edge may retry (the API,
  the authorization server) assumes the token its process last saw and reads it in the round
  trip of its next statement instead; if the token has changed, the request is thrown away
  before it commits or answers and made again, reading first (`generation`);
- a change that is rolled back, or not yet committed, is never served to anyone else: its token
  is random and rolls back with it, so nothing cached under it can be asked for again;
- a transaction that changes policy itself sees its own change: a flush or statement that
  writes a policy table forgets the token it read, and the next use reads the new one.

What is cached must be plain, immutable data (never a session's ORM objects)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, Retry, attempt_notes, db, defer, read_first, settle

T = TypeVar("T")

#: Tables whose rows are policy: a write to any of them replaces the generation's token (by
#: trigger, in the database) and forgets the token a transaction read (here).
POLICY_TABLES = frozenset(
    {
        "organisations",
        "oauth_clients",
        "revoked_tokens",
        "token_signing_keys",
        "agreements",
        "agreement_parties",
        "agreement_purposes",
        "agreement_keys",
    }
)
_READ_GENERATION = "SELECT token FROM policy_generation WHERE id = 1"
_TOKEN = "hub_policy_token"  # noqa: S105 (a session.info key: the token this transaction read)
_ASSUMED = "policy_assumed"  # noted once an attempt assumed a token (`core.db.attempt_notes`)
_EXTENSION = "hub_policy_cache"


class PolicyGeneration(Base):
    """The one row whose token names the current version of policy."""

    __tablename__ = "policy_generation"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(sa.String(32))


class PolicyCache:
    """One process's cached answers, all of one generation (a new token empties it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._values: dict[Hashable, Any] = {}
        self.hits = 0
        self.loads = 0

    @property
    def token(self) -> str | None:
        """The generation the cached answers are of (None before the first)."""
        return self._token

    def get(self, token: str, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if token != self._token or key not in self._values:
                return False, None
            self.hits += 1
            return True, self._values[key]

    def put(self, token: str, key: Hashable, value: Any) -> None:
        with self._lock:
            self.loads += 1
            if token != self._token:
                self._token, self._values = token, {}
            self._values[key] = value


def init_app(app: Any) -> None:
    app.extensions[_EXTENSION] = PolicyCache()


def cache() -> PolicyCache:
    """This application's cache (tests read its counters)."""
    return current_app.extensions[_EXTENSION]


def generation(session: Session | None = None) -> str | None:
    """The policy token this transaction works under (read once per transaction; None on a
    database without the row, where nothing is cached).

    In an attempt the edge may retry (`core.db.allow_retry`), the first transaction assumes the
    token this process's cache holds and defers the read that confirms it to its next round
    trip (`core.db.defer`): a request costs no round trip of its own for its policy, and one
    that assumed a token the database no longer has is thrown away before it commits or
    answers, and made again."""
    session = session if session is not None else db.session()
    token = session.info.get(_TOKEN)
    if token is None:
        assumed = cache().token if _may_assume(session) else None
        if assumed is not None:
            session.info[_TOKEN] = assumed
            defer(session, _READ_GENERATION, None, functools.partial(_confirm, assumed))
            return assumed
        token = read_first(session, _READ_GENERATION)
        if token is not None:
            session.info[_TOKEN] = token
    return token


def _may_assume(session: Session) -> bool:
    """Once per attempt: a transaction after the first (a refusal's, after a rollback) reads."""
    notes = attempt_notes(session)
    if notes is None or notes.get(_ASSUMED):
        return False
    notes[_ASSUMED] = True
    return True


def _confirm(assumed: str, rows: list[tuple]) -> None:
    if not rows or rows[0][0] != assumed:
        raise Retry("the policy generation changed")


def cached(name: str, key: Hashable, load: Callable[[], T]) -> T:
    """`load()`'s answer, computed once per process and policy generation. `load` reads in
    this transaction's session and must return immutable data."""
    token = generation()
    if token is None:
        return load()
    store = cache()
    found, value = store.get(token, (name, key))
    if found:
        return value
    value = load()
    store.put(token, (name, key), value)
    return value


def _writes_policy(rows: Any) -> bool:
    return any(getattr(type(row), "__tablename__", None) in POLICY_TABLES for row in rows)


# A write to policy replaces the generation's token in this transaction: a token assumed
# before it is confirmed first (`settle`), or the confirmation would read the new token.


@event.listens_for(Session, "before_flush")
def _confirm_before_policy_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _writes_policy((*session.new, *session.dirty, *session.deleted)):
        settle(session)


@event.listens_for(Session, "after_flush")
def _forget_after_policy_flush(session: Session, _context: Any) -> None:
    if _writes_policy((*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_TOKEN, None)


@event.listens_for(Session, "do_orm_execute")
def _forget_after_policy_statement(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in POLICY_TABLES:
            settle(state.session)
            state.session.info.pop(_TOKEN, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session: Session, _transaction: Any) -> None:
    # Savepoints too: one rolled back takes its policy changes, and their token, with it.
    session.info.pop(_TOKEN, None)
