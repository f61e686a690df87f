"""The audit write keeps only indexes a reader needs: each one is used by a page or query of the
log, and the migration that dropped the rest keeps every entry (and the log append-only) both
ways. What each index costs: bench/audit_index_bench.py."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic import command

from agreements import register
from audit import actions, activity, explain, queries, review
from audit import services as audit
from audit.models import AuditEntry, AuditEntryResource, AuditEntrySubject
from core import migrations
from core.db import db, make_engine
from core.security import Actor, ActorKind
from tests.conftest import dispose_database, fresh_database_url
from tests.sql import statements_run

#: The migration that set the audit write's indexes, and the one before it.
REVISION = "d2b4f6a8c0e1"
PARENT = "c1a3e5f7b9d1"
#: The tables each audited request writes, with indexes beside their keys.
WRITE_TABLES = (AuditEntry.__table__, AuditEntrySubject.__table__, AuditEntryResource.__table__)


def _reviewer(org: str, org_kind: str) -> Actor:
    return Actor(
        ActorKind.PERSON,
        id=str(uuid.uuid4()),
        org_id=org,
        org_kind=org_kind,
        roles=frozenset({"dpo"}),
    )


@pytest.fixture
def written(app):
    """A partner's disclosures of an owner's speaker under an agreement, a refusal, a failed
    sign-in and the owner's own read: what every reader below asks about."""
    owner, partner = str(uuid.uuid4()), str(uuid.uuid4())
    speaker = str(uuid.uuid4())
    agreement = audit.AgreementRef(str(uuid.uuid4()), 1, "0" * 64)
    person = Actor(ActorKind.PERSON, id=str(uuid.uuid4()), org_id=partner)
    disclosure = {
        "action": actions.DISCLOSURE,
        "outcome": "granted",
        "resource_type": "speaker",
        "resource_ids": [speaker],
        "resource_org": owner,
        "agreement": agreement,
        "purpose": "speaker_due_diligence",
        "fields": ["display_name"],
        "subjects": [("speaker", speaker)],
    }
    entries = audit.record_many(person, [disclosure, disclosure])
    audit.record(
        person,
        actions.DISCLOSURE,
        "denied",
        reason="no_agreement",
        resource_type="speaker",
        resource_ids=[speaker],
        resource_org=owner,
        subjects=[("speaker", speaker)],
    )
    audit.record(Actor.anonymous(), actions.SIGN_IN_PASSWORD, "failed", reason="bad_password")
    own = Actor(ActorKind.PERSON, id=str(uuid.uuid4()), org_id=owner)
    audit.record(own, actions.SPEAKER_READ, "granted", resource_type="speaker", resource_org=owner)
    return SimpleNamespace(
        owner=owner,
        partner=partner,
        speaker=speaker,
        agreement=agreement,
        person=person,
        seq=entries[0].seq,
    )


def _readers(w: SimpleNamespace) -> list:
    """Every read of the log a page or another package makes (as in the benchmark)."""
    hub = _reviewer(str(uuid.uuid4()), "hub")
    dpo = _reviewer(w.owner, "university")
    today = datetime.now(UTC).date()
    f = review.EntryFilter
    pseudonym = audit.subject_pseudonym("speaker", w.speaker)
    now = datetime.now(UTC)
    agreement = SimpleNamespace(
        id=w.agreement.id,
        content={"data_schedule": [{"provider": w.owner, "recipient": w.partner}]},
        approved_at=now - timedelta(days=1),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        terminated_at=None,
    )
    return [
        lambda: review.list_entries(dpo, f()),
        lambda: review.filter_options(hub),
        lambda: review.list_entries(hub, f(person_id=w.person.id)),
        lambda: review.list_entries(hub, f(organisation_id=w.partner)),
        lambda: review.list_entries(hub, f(agreement_id=w.agreement.id)),
        lambda: review.list_entries(hub, f(action=actions.SPEAKER_READ)),
        lambda: review.list_entries(hub, f(date_from=today - timedelta(days=7), date_to=today)),
        lambda: review.list_entries(dpo, f(pseudonym=pseudonym), oldest_first=True),
        lambda: review.list_entries(hub, f(refusals_only=True)),
        lambda: review.refusal_reasons(dpo, f()),
        lambda: explain.explain(dpo, w.seq),
        lambda: activity.activity(dpo),
        lambda: queries.recipients_of("speaker", [w.speaker]),
        lambda: queries.refusals_naming("speaker", [w.speaker], w.owner),
        lambda: queries.entries_about([pseudonym], w.owner, refusals=False),
        lambda: register.disclosure_statistics(agreement),
    ]


def _used_indexes(statement: str, parameters) -> set[str]:
    """The indexes the engine's plan for `statement` reads (seq scans discouraged on
    PostgreSQL, whose planner prefers them for tables this small)."""
    connection = db.session.connection()
    if db.dialect == "postgresql":
        explained = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + statement, parameters
        ).scalar_one()
        return set(re.findall(r'"Index Name": "(\w+)"', json.dumps(explained)))
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return {m for row in rows for m in re.findall(r"USING (?:COVERING )?INDEX (\w+)", row[-1])}


def test_every_index_on_the_audit_write_is_used_by_a_reader_of_the_log(app, written):
    engine = app.extensions["hub_db_engine"]
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and re.search(
            r"\baudit_(entries|entry_subjects|entry_resources)\b", statement
        ):
            captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with app.test_request_context():
            for read in _readers(written):
                read()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    if db.dialect == "postgresql":
        db.session.connection().exec_driver_sql("SET LOCAL enable_seqscan = off")
    used = set().union(*(_used_indexes(s, p) for s, p in captured))
    declared = {index.name for table in WRITE_TABLES for index in table.indexes}
    assert declared - used == set()


# --- the migration ----------------------------------------------------------------------


@pytest.fixture
def empty_database(database_server, tmp_path):
    url = fresh_database_url(database_server, tmp_path, "entry_indexes")
    yield url
    dispose_database(database_server, url)


ENTRIES = sa.table(
    "audit_entries",
    *(sa.column(n) for n in ("seq", "uuid", "time_ms", "actor", "action", "outcome")),
    *(sa.column(n) for n in ("agreement_id", "request_id", "resource_org")),
    sa.column("leaf", sa.LargeBinary),
    sa.column("leaf_hash", sa.LargeBinary),
)
SUBJECTS = sa.table("audit_entry_subjects", sa.column("entry_seq"), sa.column("pseudonym"))
RESOURCES = sa.table(
    "audit_entry_resources",
    sa.column("entry_seq"),
    sa.column("resource_id"),
    sa.column("resource_type"),
)
LEAVES = sa.table("audit_leaves", sa.column("idx"), sa.column("entry_seq"))
PENDING = sa.table("audit_pending", sa.column("entry_seq"))


def _write(connection: sa.Connection, count: int = 40) -> None:
    """Entries with subjects and records, half of them integrated, half waiting."""
    for seq in range(1, count + 1):
        connection.execute(
            ENTRIES.insert().values(
                seq=seq,
                uuid=str(uuid.uuid4()),
                time_ms=1_800_000_000_000 + seq,
                actor=f"person:{uuid.uuid4()}",
                action=actions.DISCLOSURE,
                outcome="granted",
                agreement_id=str(uuid.uuid4()) if seq % 2 else None,
                request_id=str(uuid.uuid4()),
                resource_org=str(uuid.uuid4()),
                leaf=f"leaf {seq}".encode(),
                leaf_hash=bytes([seq]) * 32,
            )
        )
        connection.execute(SUBJECTS.insert().values(entry_seq=seq, pseudonym=f"{seq:064x}"))
        connection.execute(
            RESOURCES.insert().values(entry_seq=seq, resource_id=str(seq), resource_type="speaker")
        )
        if seq <= count // 2:
            connection.execute(LEAVES.insert().values(idx=seq - 1, entry_seq=seq))
        else:
            connection.execute(PENDING.insert().values(entry_seq=seq))


def _rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.execute(sa.select(table).order_by(*table.columns))
            ]
            for table in (ENTRIES, SUBJECTS, RESOURCES, LEAVES, PENDING)
        }


def _indexes(engine: sa.Engine) -> dict[str, str]:
    """The entries table's indexes and unique constraints by name, each with its predicate."""
    inspector = sa.inspect(engine)
    found = {
        index["name"]: " ".join(str(v) for v in index.get("dialect_options", {}).values())
        for index in inspector.get_indexes("audit_entries")
    }
    found.update({c["name"]: "unique" for c in inspector.get_unique_constraints("audit_entries")})
    return found


def _refused(engine: sa.Engine, statement: str) -> bool:
    with engine.connect() as connection:
        try:
            connection.exec_driver_sql(statement)
        except sa.exc.DatabaseError as exc:
            return "append-only" in str(exc.orig)
        finally:
            connection.rollback()
    return False


def _append_only(engine: sa.Engine) -> bool:
    refused = [
        _refused(engine, "UPDATE audit_entries SET action = 'rewritten' WHERE seq = 1"),
        _refused(engine, "DELETE FROM audit_entries WHERE seq = 1"),
    ]
    if engine.dialect.name == "sqlite":
        refused.append(
            _refused(
                engine,
                "INSERT OR REPLACE INTO audit_entries (seq, uuid, time_ms, actor, action, "
                "outcome, leaf, leaf_hash) VALUES (1, 'x', 0, 'a', 'forged', 'granted', x'00', "
                "x'00')",
            )
        )
        with engine.connect() as connection:
            refused.append(not connection.exec_driver_sql("PRAGMA foreign_key_check").all())
    return all(refused)


def test_the_index_migration_keeps_every_entry_and_the_log_append_only_both_ways(
    app, empty_database
):
    config = migrations.alembic_config(empty_database)
    with app.app_context():
        command.upgrade(config, PARENT)
        engine = make_engine(empty_database)
        try:
            with engine.begin() as connection:
                _write(connection)
            before = _rows(engine)
            assert {"uq_audit_entries_uuid", "ix_audit_entries_request_id"} <= set(_indexes(engine))

            command.upgrade(config, REVISION)
            after = _indexes(engine)
            assert _rows(engine) == before
            assert "uq_audit_entries_uuid" not in after
            assert "ix_audit_entries_request_id" not in after
            assert "agreement_id IS NOT NULL" in after["ix_audit_entries_agreement_id"]
            assert _append_only(engine)

            command.downgrade(config, PARENT)
            restored = _indexes(engine)
            assert _rows(engine) == before
            assert restored["uq_audit_entries_uuid"] == "unique"
            assert "ix_audit_entries_request_id" in restored
            assert "NOT NULL" not in restored["ix_audit_entries_agreement_id"]
            assert _append_only(engine)
        finally:
            engine.dispose()


def test_the_filter_choices_read_the_log_once(app, written):
    """The actions, agreements and purposes a reviewer may filter by come from one pass over
    the visible entries (each was a whole pass of its own: about 0.5 s at a million)."""
    hub = _reviewer(str(uuid.uuid4()), "hub")
    with statements_run(app.extensions["hub_db_engine"]) as statements:
        options = review.filter_options(hub)
    passes = [s for s in statements if "FROM audit_entries" in s]
    assert len(passes) == 1
    assert {actions.DISCLOSURE, actions.SPEAKER_READ} <= set(options.actions)
    assert [i for i, _ in options.agreements] == [str(written.agreement.id)]
    assert "speaker_due_diligence" in dict(options.purposes)
