"""The database: declarative Base, engine, one session per request, UTC timestamps."""

from __future__ import annotations

import enum
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask.globals import app_ctx
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

# Stable constraint names, so migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC timestamp on every engine (SQLite stores no offset of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the hub stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model: naming convention and the type map for annotations."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: sa.Uuid()}


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """An enum column as a short string with a CHECK constraint: portable, readable in SQL and
    stable in migrations (the members' values are stored, never their names)."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the one clock services use)."""
    return datetime.now(UTC)


#: How long an SQLite connection waits for a lock another connection holds.
SQLITE_BUSY_MS = 10_000


def _enter_wal(cursor: Any) -> None:
    """Put the database in WAL mode. On a new file, connections that arrive together all try to
    switch it at once and SQLite answers all but one "database is locked" at once, without
    waiting (its busy handler is not asked for this lock): try again until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and transactions the hub controls itself."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN unpredictably; take it over so
        # that a writer can ask for BEGIN IMMEDIATE (see `begin` below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        _enter_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE by default: a transaction that reads and then writes would otherwise fail
        # at once (not wait) if another connection wrote in between (SQLITE_BUSY_SNAPSHOT under
        # WAL). Transactions then queue for the write lock within the busy timeout; SQLite is
        # the embedded single-host engine, PostgreSQL the one for concurrency.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


log = logging.getLogger(__name__)

#: How a statement that changes data starts (a CTE may hold one: counted as a write).
_WRITES = ("INSERT", "UPDATE", "DELETE", "WITH", "MERGE", "REPLACE")


def _is_write(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(_WRITES)


def _track_writes(engine: Engine) -> None:
    """Mark a connection's transaction once it runs a statement that changes data, so that the
    edge commits only transactions that wrote (a read-only request just ends its own)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if _is_write(statement):
            conn.info["hub_wrote"] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _clear(conn: sa.Connection) -> None:
        # A connection lost mid-transaction is rolled back as it is thrown away: its `info`
        # would ask SQLAlchemy to reconnect first, and closing the session would fail.
        if not conn.invalidated:
            conn.info.pop("hub_wrote", None)


def wrote(session: Session) -> bool:
    """Whether the session's transaction has changed anything (pending objects, a flush, a
    statement that writes, or one deferred to be sent before the commit: `defer`)."""
    if any(_is_write(sql) for sql, *_ in session.info.get(_DEFERRED, ())):
        return True
    if not session.in_transaction():
        return False
    if session.new or session.dirty or session.deleted:
        return True
    return bool(session.connection().info.get("hub_wrote"))


@dataclass(frozen=True)
class Deadlines:
    """How long the hub waits on its database, in seconds (see the HUB_DB_* settings)."""

    connect: float = 5.0
    statement: float = 30.0
    pool: float = 5.0
    ping: float = 2.0


#: Execution option: this statement's own deadline in seconds (e.g. /readyz's, shorter).
DEADLINE_OPTION = "hub_deadline"


class Watchdog:
    """A deadline inside the hub for every PostgreSQL statement.

    The server's statement timeout cancels a slow query, and TCP keepalives notice a silent
    network; neither fires when the server (or a proxy in front of it) accepts and
    acknowledges bytes but never answers. Then a worker would wait for ever. The watchdog arms
    a deadline before each statement and, once it passes, shuts the connection's socket down:
    the driver's wait ends with an OperationalError, the connection is thrown away, and the
    request is answered (503) instead of hanging.
    """

    #: How long past its own timeout a statement may still answer before the socket is cut.
    GRACE = 2.0
    TICK = 0.25

    def __init__(self) -> None:
        self._armed: dict[int, tuple[float, Any]] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self.cut = 0  # how many connections were cut (for tests and logs)

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        with self._guard:
            self._armed[id(dbapi_connection)] = (time.monotonic() + seconds, dbapi_connection)
            if self._thread is None or not self._thread.is_alive():  # none yet, or forked
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._guard:
            self._armed.pop(id(dbapi_connection), None)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._guard:
                expired = [(key, conn) for key, (when, conn) in self._armed.items() if when <= now]
                for key, _conn in expired:
                    self._armed.pop(key, None)
            for _key, conn in expired:
                self._cut(conn)

    def _cut(self, dbapi_connection: Any) -> None:
        try:
            descriptor = os.dup(dbapi_connection.fileno())
        except Exception:  # already closed: nothing waits on it
            return
        try:
            with socket.socket(fileno=descriptor) as sock:
                sock.shutdown(socket.SHUT_RDWR)
            self.cut += 1
            log.warning("database statement passed its deadline: connection closed")
        except OSError:
            pass


watchdog = Watchdog()


def read_first(session: Session, statement: str) -> Any:
    """The first column of the first row of `statement` (constant SQL, no parameters), read in
    `session`'s transaction, or None if it has no row.

    Made for the read every transaction begins with (the policy generation): on PostgreSQL,
    when no transaction is open yet on the connection, the statement goes with its BEGIN in
    one round trip (psycopg's pipeline mode) instead of two (`driver_rows`)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":  # SQLite: no round trips to save
        return connection.exec_driver_sql(statement).scalar()
    rows = driver_rows(session, statement)
    return rows[0][0] if rows else None


def driver_rows(
    session: Session, statement: str, parameters: dict[str, Any] | None = None
) -> list[tuple]:
    """The rows of one PostgreSQL statement (psycopg's `%(name)s` placeholders), run in
    `session`'s transaction through the driver's own cursor rather than SQLAlchemy's execution,
    whose compile, parameter and result machinery cost more than the round trip for a hot
    statement (the policy generation read; the audit write). When no transaction is open yet on
    the connection, the statement goes with its BEGIN in one round trip (psycopg's pipeline
    mode) instead of two. Statements deferred in this attempt (`defer`) go in the same round
    trip, before it, and their checks are run once its rows are in.

    The engine's cursor events still see it (the watchdog arms its deadline, a write marks the
    transaction, tests count it); a failure is raised as SQLAlchemy raises it, a lost connection
    invalidated, so that the edge answers 503 as for any other statement. Unlike
    `session.execute`, it does not flush the session's pending objects first: the statement
    must not read what they would write."""
    return _send_after_deferred(session, [(statement, parameters)])[0]


def _send_after_deferred(
    session: Session, statements: list[tuple[str, dict[str, Any] | None]]
) -> list[list]:
    """Send what this attempt deferred (`defer`), then `statements`, in one round trip; run the
    deferred statements' checks once their rows are in; return the rows of `statements`."""
    deferred = session.info.pop(_DEFERRED, [])
    found = _send(session, [*((sql, params) for sql, params, _check in deferred), *statements])
    for (_sql, _params, check), rows in zip(deferred, found, strict=False):
        check(rows)
    return found[len(deferred) :]


def _send(session: Session, statements: list[tuple[str, dict[str, Any] | None]]) -> list[list]:
    """The rows of each of `statements`, sent in one round trip (`driver_rows`)."""
    import psycopg  # the PostgreSQL driver, imported where it is used

    connection = session.connection()
    raw = connection.connection.driver_connection
    events = connection.dispatch
    cursors = [raw.cursor() for _ in statements]
    for cursor, (statement, parameters) in zip(cursors, statements, strict=True):
        events.before_cursor_execute(connection, cursor, statement, parameters, None, False)
    try:
        if len(statements) > 1 or raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            with raw.pipeline():
                for cursor, (statement, parameters) in zip(cursors, statements, strict=True):
                    cursor.execute(statement, parameters)
        else:
            cursors[0].execute(*statements[0])
        found = [cursor.fetchall() if cursor.description is not None else [] for cursor in cursors]
    except psycopg.Error as exc:
        watchdog.disarm(raw)
        lost = connection.dialect.is_disconnect(exc, raw, cursors[-1])
        if lost:
            connection.invalidate(exc)
        statement, parameters = statements[-1]
        raise sa.exc.DBAPIError.instance(
            statement, parameters, exc, psycopg.Error, connection_invalidated=lost
        ) from exc
    finally:
        for cursor in cursors:
            cursor.close()
    for cursor, (statement, parameters) in zip(cursors, statements, strict=True):
        events.after_cursor_execute(connection, cursor, statement, parameters, None, False)
    return found


class Retry(BaseException):
    """What an attempt at a request assumed was not so (a deferred check failed): the edge
    throws the attempt away (its transaction and what it built) and makes it again, this time
    assuming nothing. A BaseException, so that no error handler on the way turns it into an
    answer."""


#: session.info keys: whether this attempt may be retried (so may defer statements), and the
#: statements it deferred with their checks.
_RETRYABLE = "hub_retryable"
_DEFERRED = "hub_deferred"


def allow_retry(session: Session) -> None:
    """Let this session's work be retried by the edge until it first commits (PostgreSQL only:
    on SQLite a statement costs no round trip, and nothing is deferred)."""
    if session.get_bind().dialect.name == "postgresql":
        session.info[_RETRYABLE] = {}


def forbid_retry(session: Session) -> None:
    """End what `allow_retry` allowed: what is still deferred is dropped (the attempt is over,
    and was answered or thrown away)."""
    session.info.pop(_RETRYABLE, None)
    session.info.pop(_DEFERRED, None)


def retryable(session: Session) -> bool:
    """Whether a failed deferred check can still be met by retrying (nothing committed yet)."""
    return _RETRYABLE in session.info


def attempt_notes(session: Session) -> dict[str, Any] | None:
    """Notes kept for the length of this retryable attempt (None outside one): what it assumed
    once is noted here, and forgotten with it."""
    return session.info.get(_RETRYABLE)


def defer(
    session: Session,
    statement: str,
    parameters: dict[str, Any] | None,
    check: Callable[[list[tuple]], None],
) -> None:
    """Run `statement` (as `driver_rows` would) and `check(rows)` before this attempt commits
    or answers, in the round trip of its next statement through the driver if it has one
    (`driver_rows`), else on its own (`settle`). `check` raises `Retry` if the attempt assumed
    something the rows deny. Outside a retryable attempt both happen now.

    A deferred statement outlives a rollback (a refusal rolls back, then answers on what was
    decided before it) and goes with the next transaction's statements."""
    if not retryable(session):
        check(driver_rows(session, statement, parameters))
        return
    session.info.setdefault(_DEFERRED, []).append((statement, parameters, check))


def settle(session: Session) -> None:
    """Run what this attempt deferred, and its checks, now (before it commits or answers)."""
    if session.info.get(_DEFERRED):
        _send_after_deferred(session, [])


@event.listens_for(Session, "before_commit")
def _settle_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        settle(session)


@event.listens_for(Session, "after_commit")
def _committed_is_final(session: Session) -> None:
    # What was committed cannot be thrown away: nothing after it may be retried.
    if not session.in_nested_transaction():
        session.info.pop(_RETRYABLE, None)


#: Seconds a pooled connection may have been idle and still be used without a ping first.
PING_AFTER_IDLE = 1.0
_RETURNED_AT = "hub_returned_at"


def _configure_postgresql(engine: Engine, deadlines: Deadlines) -> None:
    """Arm the watchdog around every statement, and ping pooled connections under it."""

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: sa.Connection, *_args: Any) -> None:
        seconds = conn.get_execution_options().get(DEADLINE_OPTION, deadlines.statement)
        watchdog.arm(conn.connection.dbapi_connection, seconds + Watchdog.GRACE)

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn: sa.Connection, *_args: Any) -> None:
        watchdog.disarm(conn.connection.dbapi_connection)

    @event.listens_for(engine, "handle_error")
    def _disarm_on_error(context: Any) -> None:
        try:
            watchdog.disarm(context.connection.connection.dbapi_connection)
        except Exception:  # no connection, or already invalidated: nothing is armed
            return

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A connection back from a request a moment ago is taken as it is: a ping per
        # request would be a round trip more on every one (PgBouncer's server_check_delay
        # rule, shorter). One idle longer is pinged first.
        if time.monotonic() - record.info.get(_RETURNED_AT, float("-inf")) < PING_AFTER_IDLE:
            return
        # SQLAlchemy's pre-ping would wait without a deadline; this one has the watchdog's.
        watchdog.arm(dbapi_connection, deadlines.ping)
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool throws this connection away and opens another
            raise sa.exc.DisconnectionError("pooled connection did not answer") from exc
        finally:
            watchdog.disarm(dbapi_connection)


def make_engine(url: str, deadlines: Deadlines | None = None, **kwargs: Any) -> Engine:
    """Create an engine for `url` with the per-dialect settings the hub relies on, and
    deadlines on everything that waits for the database."""
    deadlines = deadlines or Deadlines()
    if "poolclass" not in kwargs and ":memory:" not in url:  # a queue pool: bound its wait
        kwargs.setdefault("pool_timeout", deadlines.pool)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        _track_writes(engine)
        return engine
    statement_ms = int(deadlines.statement * 1000)
    connect_args = {
        "connect_timeout": max(1, round(deadlines.connect)),
        # The server cancels a statement past its timeout, and ends a session left idle inside
        # a transaction (a client that died holding locks).
        "options": f"-c statement_timeout={statement_ms} "
        f"-c idle_in_transaction_session_timeout={max(statement_ms * 2, 60_000)}",
        # A silent network is noticed within about half a minute.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": int((deadlines.statement + Watchdog.GRACE) * 1000),
    }
    connect_args.update(kwargs.pop("connect_args", {}))
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    _configure_postgresql(engine, deadlines)
    _track_writes(engine)
    return engine


def _session_scope() -> int:
    # One session per app context (as Flask-SQLAlchemy does), so that a request made inside a
    # test, or a nested context, gets its own session; outside any context, one per thread.
    try:
        return id(app_ctx._get_current_object())
    except RuntimeError:
        return threading.get_ident()


class Database:
    """Each app's engine, and a session per app context bound to the current app's engine."""

    def __init__(self) -> None:
        self._last_engine: Engine | None = None
        self._override: tuple[sa.Connection, dict[str, Any]] | None = None
        self.session: scoped_session[Session] = scoped_session(
            self._new_session, scopefunc=_session_scope
        )

    def init_app(self, app: Any, url: str, deadlines: Deadlines | None = None) -> None:
        """Create the engine for `url` and end each request's session at teardown."""
        engine = make_engine(url, deadlines)
        app.extensions["hub_db_engine"] = engine
        self._last_engine = engine
        app.teardown_appcontext(self._remove)

    @property
    def engine(self) -> Engine | None:
        """The current app's engine (outside an app: the one created last)."""
        try:
            return current_app.extensions["hub_db_engine"]
        except RuntimeError:
            return self._last_engine

    def _new_session(self) -> Session:
        if self._override is not None:
            connection, options = self._override
            return Session(bind=connection, expire_on_commit=False, **options)
        return Session(bind=self.engine, expire_on_commit=False)

    def _remove(self, _exc: BaseException | None = None) -> None:
        self.session.remove()

    def bind(self, connection: sa.Connection | None, **options: Any) -> None:
        """Bind every new session to `connection` (tests: one rolled-back transaction each);
        `None` returns to the app's engine."""
        self.session.remove()
        self._override = (connection, options) if connection is not None else None

    @property
    def dialect(self) -> str:
        assert self.engine is not None, "database used before init_app"
        return self.engine.dialect.name


db = Database()


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit the current session on success and roll it back on error (the edge's one commit)."""
    session = db.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def read_only(session: Session) -> Session:
    """Begin `session`'s next transaction as a reader. On SQLite that is a deferred BEGIN, which
    takes no write lock, so writers go on while a long read (verifying the whole audit log)
    reads its one snapshot; PostgreSQL's transactions are readers until they write anyway.
    Only for a transaction that writes nothing: on SQLite a reader that then wrote would fail
    at once if another connection had written since it began."""
    session.connection(execution_options={"sqlite_begin": "DEFERRED"})
    return session


#: Errors that mean the database is away or not answering in time (not a bug in the hub): a
#: refused or dropped connection, a statement past its deadline, no pooled connection free.
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database cannot be reached now."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, UNAVAILABLE):
            return True
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sa.exc.PendingRollbackError):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False
