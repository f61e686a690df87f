"""Backups taken while the hub writes restore to a log that `audit backup-check` confirms against
a checkpoint saved before the backup; an older backup is reported as rolled back, a damaged one
as damaged (docs/operations.md). PostgreSQL: `pg_dump -Fc` and `pg_restore`; SQLite: the
backup API. Each engine's pass tests its own tools."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.conftest import (
    IsolatedCliRunner,
    app_config,
    close_app,
    dispose_database,
    fresh_database_url,
)

ENTRIES_BEFORE = 30
ENTRIES_PER_ROUND = 5


@dataclass
class BackedUp:
    """A log backed up while a writer was appending to it, and checkpoints either side."""

    server: str | None
    instance: Path
    backup: Path
    before: Path  # the latest checkpoint, saved before the backup was taken
    after: Path  # a newer checkpoint, signed once more entries were written after the backup
    after_size: int


def _libpq_url(url: str) -> str:
    """The URL pg_dump and pg_restore take (no SQLAlchemy driver name)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> str:
    database = sa.make_url(url).database
    assert database
    return database


def take_backup(url: str, target: Path) -> None:
    """What docs/operations.md says to run: a consistent copy of a database in use."""
    if url.startswith("sqlite"):
        # One step (pages=-1) under one read transaction: a snapshot, however busy the writers.
        with (
            contextlib.closing(sqlite3.connect(_sqlite_path(url))) as source,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy, pages=-1)
        return
    subprocess.run(
        ["pg_dump", "--format=custom", "--file", str(target), _libpq_url(url)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def restore(backed_up: BackedUp, url: str) -> None:
    """Restore the backup into the fresh, empty database at `url`."""
    if backed_up.server is None:
        with (
            contextlib.closing(sqlite3.connect(backed_up.backup)) as copy,
            contextlib.closing(sqlite3.connect(_sqlite_path(url))) as restored,
        ):
            copy.backup(restored, pages=-1)
        return
    subprocess.run(
        [
            "pg_restore",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--dbname",
            _libpq_url(url),
            str(backed_up.backup),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def backup_check(url: str, instance: Path, checkpoint: Path) -> Result:
    """Run `flask --app wsgi audit backup-check CHECKPOINT` against the database at `url`."""
    from core.db import db
    from hub.app import create_app

    app = create_app(app_config(url, instance, audit_integrate_after_commit=False))
    try:
        return IsolatedCliRunner(app).invoke(args=["audit", "backup-check", str(checkpoint)])
    finally:
        db.session.remove()
        close_app(app)


def _tree_size(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            top = connection.scalar(sa.text("SELECT max(idx) FROM audit_leaves"))
            return 0 if top is None else top + 1
    finally:
        engine.dispose()


class _Writer(threading.Thread):
    """Appends entries and integrates them (signing checkpoints) until stopped, as the hub does
    under load; `rounds` counts the commits it has made."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        super().__init__(name="backup-test-writer", daemon=True)
        self.app = app
        self.stop = threading.Event()
        self.hold_integration = threading.Event()
        self.rounds = 0
        self.progress = threading.Condition()
        self.error: BaseException | None = None

    def run(self) -> None:
        from audit import log
        from audit import services as audit
        from core.db import db
        from core.security import Actor

        try:
            while not self.stop.is_set():
                with self.app.app_context():
                    for i in range(ENTRIES_PER_ROUND):
                        audit.record(
                            Actor.system("backup-test"),
                            "test.backup",
                            "granted",
                            resource_ids=[f"{self.rounds}-{i}"],
                            subjects=[("speaker", f"s-{self.rounds}-{i}")],
                        )
                    db.session.commit()
                    if not self.hold_integration.is_set():
                        log.integrate_now(force_checkpoint=True)
                with self.progress:
                    self.rounds += 1
                    self.progress.notify_all()
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc
            with self.progress:
                self.progress.notify_all()

    def wait_for_rounds(self, count: int) -> None:
        with self.progress:
            assert self.progress.wait_for(
                lambda: self.rounds >= count or self.error is not None, timeout=60
            ), "the writer stalled"
        if self.error is not None:
            raise self.error


@pytest.fixture(scope="module")
def backed_up(database_server, tmp_path_factory) -> Iterator[BackedUp]:
    from audit import log, notes
    from audit import services as audit
    from core import migrations
    from core.db import db
    from core.security import Actor
    from hub.app import create_app

    base = tmp_path_factory.mktemp("backup")
    url = fresh_database_url(database_server, base, "backup_source")
    instance = base / "instance"
    app = create_app(app_config(url, instance, audit_integrate_after_commit=False))
    writer = _Writer(app)
    try:
        with app.app_context():
            migrations.upgrade(url)
            for i in range(ENTRIES_BEFORE):
                audit.record(
                    Actor.system("backup-test"), "test.backup", "granted", resource_ids=[str(i)]
                )
            db.session.commit()
            log.integrate_now(force_checkpoint=True)
            before = base / "checkpoint-before.txt"
            before.write_text(log.latest_checkpoint(db.session()).note)
        writer.start()
        writer.wait_for_rounds(2)
        # As under load, some entries are committed but not yet integrated when the backup
        # starts; the writer goes on committing while it runs.
        writer.hold_integration.set()
        writer.wait_for_rounds(writer.rounds + 2)
        backup = base / ("hub.sqlite3" if database_server is None else "hub.dump")
        take_backup(url, backup)
        writer.hold_integration.clear()
        writer.wait_for_rounds(writer.rounds + 2)  # it went on writing after the backup
        writer.stop.set()
        writer.join(timeout=60)
        assert writer.error is None, writer.error
        with app.app_context():
            log.integrate_now(force_checkpoint=True)
            latest = log.latest_checkpoint(db.session())
            after = base / "checkpoint-after.txt"
            after.write_text(latest.note)
            after_size = notes.parse_checkpoint(notes.split_note(latest.note)[0]).size
        yield BackedUp(database_server, instance, backup, before, after, after_size)
    finally:
        writer.stop.set()
        writer.join(timeout=60)
        db.session.remove()
        close_app(app)
        dispose_database(database_server, url)


@pytest.fixture
def restored(backed_up: BackedUp, tmp_path: Path) -> Iterator[str]:
    url = fresh_database_url(backed_up.server, tmp_path, "restored")
    restore(backed_up, url)
    yield url
    dispose_database(backed_up.server, url)


def test_a_backup_taken_under_load_restores_complete(backed_up, restored):
    size = _tree_size(restored)
    assert size > ENTRIES_BEFORE, "the backup holds the entries written while it was taken"
    assert size < backed_up.after_size
    result = backup_check(restored, backed_up.instance, backed_up.before)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("COMPLETE:")
    assert f"holds all {ENTRIES_BEFORE} entries the checkpoint signed ({size} in all)" in (
        result.output
    )
    assert "more entries were written but not yet integrated" in result.output


def test_an_older_backup_against_a_newer_checkpoint_is_rolled_back(backed_up, restored):
    missing = backed_up.after_size - _tree_size(restored)
    result = backup_check(restored, backed_up.instance, backed_up.after)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("ROLLED BACK:")
    assert f"older than the checkpoint and {missing} entries are missing" in result.output


def test_a_restore_with_an_edited_entry_is_damaged(backed_up, restored):
    _edit_leaf(restored, index=3)
    result = backup_check(restored, backed_up.instance, backed_up.before)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("DAMAGED:")
    assert "First bad index: 3." in result.output


def test_a_restore_checked_without_the_hubs_signing_key_cannot_be_confirmed(
    backed_up, restored, tmp_path
):
    other_instance = tmp_path / "instance-without-the-keys"  # a new signing key is made there
    result = backup_check(restored, other_instance, backed_up.before)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("CANNOT CHECK:")
    assert "Restore the hub's signing key" in result.output


def test_a_file_that_is_not_a_checkpoint_cannot_be_confirmed(backed_up, restored, tmp_path):
    not_a_checkpoint = tmp_path / "notes.txt"
    not_a_checkpoint.write_text("a shopping list\n")
    result = backup_check(restored, backed_up.instance, not_a_checkpoint)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("CANNOT CHECK:")


def _edit_leaf(url: str, index: int) -> None:
    """Change one entry's body past the append-only triggers, as someone with the database's
    files or superuser rights could."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
            else:
                for name in connection.scalars(
                    sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).all():
                    connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
            seq, leaf = connection.execute(
                sa.text(
                    "SELECT e.seq, e.leaf FROM audit_entries e "
                    "JOIN audit_leaves l ON l.entry_seq = e.seq WHERE l.idx = :idx"
                ),
                {"idx": index},
            ).one()
            forged = bytes(leaf).replace(b"test.backup", b"test.forged")
            assert forged != bytes(leaf)
            connection.execute(
                sa.text("UPDATE audit_entries SET leaf = :leaf WHERE seq = :seq"),
                {"leaf": forged, "seq": seq},
            )
    finally:
        engine.dispose()
