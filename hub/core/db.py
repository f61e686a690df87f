"""The database: declarative Base, engine, one session per request, UTC timestamps."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the one clock services use)."""
    return datetime.now(UTC)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and transactions the hub controls itself."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN unpredictably; take it over so
        # that a writer can ask for BEGIN IMMEDIATE (see `begin` below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE by default: a transaction that reads and then writes would otherwise fail
        # at once (not wait) if another connection wrote in between (SQLITE_BUSY_SNAPSHOT under
        # WAL). Transactions then queue for the write lock within the busy timeout; SQLite is
        # the embedded single-host engine, PostgreSQL the one for concurrency.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url` with the per-dialect settings the hub relies on."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


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

    def init_app(self, app: Any, url: str) -> None:
        """Create the engine for `url` and end each request's session at teardown."""
        engine = make_engine(url)
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
