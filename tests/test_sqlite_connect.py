"""The embedded engine's connections wait for one another from their first statement. On a
new database file, connections that open together (the demo being seeded while the app's
integrator thread starts, say) all try to switch it to WAL at once, and SQLite answers all but
one "database is locked" at once, without its busy handler: the hub's connections wait their
turn instead."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy import pool
from sqlalchemy.orm import Session

from core.db import make_engine, read_only

ROUNDS = 60  # fresh files; before the fix about one in eight failed
TOGETHER = 6  # engines (processes) opening each file at the same moment


def _open_together(url: str) -> list[BaseException]:
    engines = [make_engine(url, poolclass=pool.NullPool) for _ in range(TOGETHER)]
    start = threading.Barrier(TOGETHER)
    failures: list[BaseException] = []

    def connect(engine: sa.Engine) -> None:
        start.wait()
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=connect, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    return failures


def test_engines_opening_a_new_file_together_all_connect(tmp_path):
    for round_ in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'hub-{round_}.sqlite3'}"
        assert _open_together(url) == []
        with sa.create_engine(url).connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"


def test_a_read_only_session_leaves_the_write_lock_to_writers(tmp_path):
    """`core.db.read_only`: a long read (`audit verify`) takes no write lock, so a writer is
    not kept waiting behind it, as it is behind a transaction begun the default way (before,
    two writers died after the busy timeout while the verifier read the whole log)."""
    url = f"sqlite:///{tmp_path / 'read.sqlite3'}"
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (n INTEGER)"))

    def write_without_waiting() -> bool:
        with engine.connect() as other:
            other.connection.driver_connection.execute("PRAGMA busy_timeout = 0")
            try:
                other.execute(sa.text("INSERT INTO t VALUES (1)"))
                other.commit()
            except sa.exc.OperationalError:
                other.rollback()
                return False
            return True

    try:
        with Session(bind=engine) as session:
            session.execute(sa.text("SELECT count(*) FROM t"))
            assert not write_without_waiting()  # the default transaction holds the lock
        with Session(bind=engine) as session:
            read_only(session).execute(sa.text("SELECT count(*) FROM t"))
            assert write_without_waiting()
    finally:
        engine.dispose()
