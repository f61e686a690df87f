"""Audit tables refuse UPDATE, DELETE, TRUNCATE and overwriting inserts, on both engines."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit import services as audit
from audit.models import APPEND_ONLY_TABLES
from core.db import db


@pytest.fixture
def entry(app, system):
    return audit.record(system, "test.append_only", "granted", subjects=[("speaker", "s-1")])


def _refused(statement: str, **params) -> str:
    with pytest.raises(sa.exc.DatabaseError) as excinfo, db.session.begin_nested():
        db.session.execute(sa.text(statement), params)
    return str(excinfo.value.orig)


def test_update_of_an_entry_is_refused(entry):
    message = _refused(
        "UPDATE audit_entries SET action = 'rewritten' WHERE seq = :seq", seq=entry.seq
    )
    assert "append-only" in message


def test_delete_of_an_entry_is_refused(entry):
    assert "append-only" in _refused("DELETE FROM audit_entries WHERE seq = :seq", seq=entry.seq)


def test_delete_of_a_subject_row_is_refused(entry):
    assert "append-only" in _refused(
        "DELETE FROM audit_entry_subjects WHERE entry_seq = :seq", seq=entry.seq
    )


def test_entry_survives_refused_changes(entry):
    _refused("UPDATE audit_entries SET outcome = 'denied' WHERE seq = :seq", seq=entry.seq)
    row = db.session.execute(
        sa.text("SELECT outcome, leaf FROM audit_entries WHERE seq = :seq"), {"seq": entry.seq}
    ).one()
    assert row.outcome == "granted" and row.leaf == entry.leaf


def test_sqlite_insert_or_replace_cannot_overwrite(entry):
    if db.dialect != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    message = _refused(
        "INSERT OR REPLACE INTO audit_entries (seq, uuid, time_ms, actor, action, outcome, leaf, "
        "leaf_hash) VALUES (:seq, 'x', 0, 'a', 'forged', 'granted', x'00', x'00')",
        seq=entry.seq,
    )
    assert "append-only" in message
    assert (
        db.session.execute(
            sa.text("SELECT action FROM audit_entries WHERE seq = :seq"), {"seq": entry.seq}
        ).scalar()
        == "test.append_only"
    )


def test_sqlite_upsert_cannot_overwrite(entry):
    if db.dialect != "sqlite":
        pytest.skip("checked here for SQLite; PostgreSQL's ON CONFLICT UPDATE hits the row trigger")
    message = _refused(
        "INSERT INTO audit_entries (seq, uuid, time_ms, actor, action, outcome, leaf, leaf_hash) "
        "VALUES (:seq, 'y', 0, 'a', 'forged', 'granted', x'00', x'00') "
        "ON CONFLICT (seq) DO UPDATE SET action = 'forged'",
        seq=entry.seq,
    )
    assert "append-only" in message


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_postgresql_truncate_is_refused(entry, table):
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE trigger covers it)")
    assert "append-only" in _refused(f"TRUNCATE {table} CASCADE")


def test_postgresql_upsert_cannot_overwrite(entry):
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL's ON CONFLICT")
    message = _refused(
        "INSERT INTO audit_entries (seq, uuid, time_ms, actor, action, outcome, leaf, leaf_hash) "
        "VALUES (:seq, 'y', 0, 'a', 'forged', 'granted', '\\x00', '\\x00') "
        "ON CONFLICT (seq) DO UPDATE SET action = 'forged'",
        seq=entry.seq,
    )
    assert "append-only" in message


def test_postgresql_triggers_fire_even_in_replica_mode(entry):
    if db.dialect != "postgresql":
        pytest.skip("session_replication_role is PostgreSQL's")
    db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    assert "append-only" in _refused("DELETE FROM audit_entries WHERE seq = :seq", seq=entry.seq)
