"""The integrator, checkpoints and proofs over the real database."""

from __future__ import annotations

import base64
import time

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import log, merkle, notes
from audit import services as audit
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditEntryResource,
    AuditEntrySubject,
    AuditLeaf,
    AuditPending,
)
from core.db import db
from tests.conftest import close_app


def _write(actor, n: int) -> list[AuditEntry]:
    return [audit.record(actor, "test.write", "granted", resource_ids=[str(i)]) for i in range(n)]


def _leaf_hashes_in_order() -> list[bytes]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.leaf_hash)
            .join(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
            .order_by(AuditLeaf.idx)
        )
    )


def test_integration_assigns_contiguous_indexes_from_zero(system):
    db.session.flush()
    start = log.tree_size(db.session())
    entries = _write(system, 7)
    db.session.flush()
    head = log.integrate(db.session())
    assert head.size == start + 7
    indexes = db.session.scalars(sa.select(AuditLeaf.idx).order_by(AuditLeaf.idx)).all()
    assert indexes == list(range(head.size))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditPending)) == 0
    seqs = db.session.scalars(sa.select(AuditLeaf.entry_seq).order_by(AuditLeaf.idx)).all()
    assert seqs[-7:] == [e.seq for e in entries]


def test_integrated_root_is_the_merkle_tree_hash_of_the_leaves(system):
    _write(system, 13)
    db.session.flush()
    head = log.integrate(db.session())
    assert head.root == merkle.root_from_leaf_hashes(_leaf_hashes_in_order())
    assert log.tree_head(db.session()).root == head.root


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=6))
def test_incremental_root_equals_recursive_root_for_any_batches(system, batches):
    nested = db.session.begin_nested()
    try:
        for batch in batches:
            _write(system, batch)
            db.session.flush()
            head = log.integrate(db.session(), checkpoint=False, batch_size=4)
            assert head.root == merkle.root_from_leaf_hashes(_leaf_hashes_in_order())
    finally:
        nested.rollback()


def test_checkpoint_is_a_signed_note_that_verifies_with_the_published_key(system):
    _write(system, 3)
    db.session.flush()
    head = log.integrate(db.session(), force_checkpoint=True)
    checkpoint = log.latest_checkpoint(db.session())
    text, signatures = notes.open_note(checkpoint.note, [log.verifier_key()])
    parsed = notes.parse_checkpoint(text)
    assert (parsed.size, parsed.root, parsed.origin) == (head.size, head.root, log.origin())
    assert signatures[0].name == log.origin()


def test_no_new_checkpoint_while_the_tree_has_not_grown(system):
    _write(system, 2)
    db.session.flush()
    log.integrate(db.session(), force_checkpoint=True)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditCheckpoint))
    log.integrate(db.session(), force_checkpoint=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditCheckpoint)) == count


def test_checkpoints_are_rate_limited_unless_forced(system):
    _write(system, 1)
    db.session.flush()
    log.integrate(db.session(), force_checkpoint=True)
    first = log.latest_checkpoint(db.session())
    _write(system, 1)
    db.session.flush()
    log.integrate(db.session())  # within the interval: no new checkpoint yet
    assert log.latest_checkpoint(db.session()).id == first.id
    log.integrate(db.session(), force_checkpoint=True)
    assert log.latest_checkpoint(db.session()).size == first.size + 1


def test_proofs_from_stored_subtrees_verify(system):
    _write(system, 21)
    db.session.flush()
    head = log.integrate(db.session(), force_checkpoint=True)
    old = max(1, head.size - 9)
    old_root = log.tree_head(db.session(), old).root
    for index in (0, old - 1, head.size - 1):
        leaf_hash, proof = log.inclusion_proof(db.session(), index, head.size)
        merkle.verify_inclusion(index, head.size, leaf_hash, proof, head.root)
    merkle.verify_consistency(
        old, head.size, old_root, head.root, log.consistency_proof(db.session(), old, head.size)
    )


def test_refuses_to_sign_a_tree_inconsistent_with_the_last_checkpoint(system):
    _write(system, 4)
    db.session.flush()
    head = log.integrate(db.session(), force_checkpoint=True)
    forged = log.TreeHead(head.size + 1, b"\x01" * 32)
    with pytest.raises(log.AuditIntegrityError):
        log.sign_checkpoint(db.session(), forged, force=True)
    with pytest.raises(log.AuditIntegrityError):
        log.sign_checkpoint(db.session(), log.TreeHead(head.size, b"\x02" * 32), force=True)


def test_integration_gives_way_when_another_integrator_holds_the_lock(app, database_server, system):
    if database_server is None:
        pytest.skip("the row lock is PostgreSQL's; SQLite integrators queue on the write lock")
    engine = app.extensions["hub_db_engine"]
    with engine.connect() as other:
        other.begin()
        other.exec_driver_sql("SELECT id FROM audit_integrator_lock WHERE id = 1 FOR UPDATE")
        with sa.orm.Session(bind=engine) as session:
            assert log.integrate(session, wait=False) is None
        other.rollback()


def test_leaf_bytes_are_the_prefixed_canonical_json(system):
    entry = audit.record(
        system,
        "test.leaf",
        "denied",
        reason="because",
        subjects=[("speaker", "42")],
        fields=["b", "a"],
    )
    assert entry.leaf.startswith(b"hub-audit/v1\n{")
    body = audit.parse_leaf(entry.leaf)
    assert body["fields"] == ["a", "b"]
    assert body["outcome"] == "denied" and body["reason"] == "because"
    assert len(body["subjects"]) == 1 and body["subjects"][0] != "42"
    assert entry.leaf_hash == merkle.leaf_hash(entry.leaf)
    assert base64.b64encode(entry.leaf)  # bytes, exactly as hashed


def test_entries_written_together_are_the_entries_written_one_by_one(system):
    """`record_many` writes a request's entries in one statement (PostgreSQL): in their order,
    each queued, with its own subjects' pseudonyms and records, leaves as `record` makes them,
    and they integrate into a tree whose root is the leaves' root."""
    db.session.flush()
    asked = [
        {
            "action": "test.many",
            "outcome": "granted",
            "resource_type": "speaker",
            "resource_ids": [f"r-{n}"],
            "subjects": [("speaker", f"s-{n}"), ("speaker", f"t-{n}")][: n % 3],
            "fields": ["display_name"],
            "level": "fields",
        }
        for n in range(5)
    ]
    written = audit.record_many(system, asked)
    alone = audit.record(system, **asked[4])
    db.session.flush()
    seqs = [w.seq for w in written]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5 and alone.seq > seqs[-1]
    for n, entry in enumerate(written):
        body = audit.parse_leaf(entry.leaf)
        assert body["resource_ids"] == [f"r-{n}"] and body["action"] == "test.many"
        assert body.get("details") == {"level": "fields"}
        assert entry.leaf_hash == merkle.leaf_hash(entry.leaf)
        subjects = db.session.scalars(
            sa.select(AuditEntrySubject.pseudonym).where(AuditEntrySubject.entry_seq == entry.seq)
        ).all()
        assert sorted(subjects) == body.get("subjects", [])
        assert len(subjects) == n % 3
        resources = db.session.scalars(
            sa.select(AuditEntryResource.resource_id).where(
                AuditEntryResource.entry_seq == entry.seq
            )
        ).all()
        assert resources == [f"r-{n}"]
    same = {k: v for k, v in audit.parse_leaf(alone.leaf).items() if k not in {"id", "time_ms"}}
    assert same == {
        k: v for k, v in audit.parse_leaf(written[4].leaf).items() if k not in {"id", "time_ms"}
    }
    pending = set(db.session.scalars(sa.select(AuditPending.entry_seq)))
    assert set(seqs) <= pending
    assert audit.record_many(system, []) == []
    head = log.integrate(db.session())
    assert head.root == merkle.root_from_leaf_hashes(_leaf_hashes_in_order())
    assert _leaf_hashes_in_order()[-6:] == [w.leaf_hash for w in written] + [alone.leaf_hash]


@pytest.mark.parametrize("value", [1.5, True, None, object()])
def test_entries_carry_only_integers_and_strings(system, value):
    with pytest.raises(audit.AuditValueError):
        audit.record(system, "test.bad", "granted", extra=[value])


# --- integrated after commit ------------------------------------------------------------


def test_entries_a_request_commits_are_integrated_soon_after_by_the_background_integrator(
    database_server, tmp_path
):
    """With after-commit integration on and no timer, the commit of a request that wrote an
    audit entry wakes the background integrator, which gives the entry its leaf index."""
    from audit.actions import SIGN_IN_PASSWORD
    from core import migrations
    from core.security import Actor
    from hub.app import create_app
    from partners import services as partners
    from partners import signin
    from tests.conftest import (
        TEST_PASSWORD,
        HubClient,
        IsolatedClient,
        app_config,
        dispose_database,
        fresh_database_url,
    )

    url = fresh_database_url(database_server, tmp_path, "after_commit")
    migrations.upgrade(url)
    config = app_config(
        url,
        tmp_path / "instance",
        require_mfa=False,
        audit_integrate_after_commit=True,
        audit_integrate_interval_seconds=0,  # no timer: only a commit wakes the integrator
    )
    app = create_app(config)
    app.test_client_class = IsolatedClient
    try:
        with app.app_context():
            system = Actor.system("test")
            org = partners.create_organisation(
                system,
                {
                    "name": "Fellwater University",
                    "slug": "fellwater",
                    "kind": "university",
                    "region": "Testshire",
                    "dp_contact_name": "Data Protection Desk",
                    "dp_contact_email": "dpo@fellwater.example",
                },
            )
            person = partners.create_person(
                system,
                org,
                {"name": "Ember", "email": "ember@fellwater.example", "roles": ["events_officer"]},
            ).person
            person.password_hash = signin.hash_password(TEST_PASSWORD)
            db.session.commit()
            db.session.expunge(person)
            before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
            db.session.remove()

        HubClient(app.test_client()).sign_in(person)

        def sign_in_entry() -> tuple[int, int | None] | None:
            with app.app_context():
                try:
                    row = db.session.execute(
                        sa.select(AuditEntry.seq, AuditLeaf.idx)
                        .outerjoin(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
                        .where(
                            AuditEntry.seq > before,
                            AuditEntry.action == SIGN_IN_PASSWORD,
                            AuditEntry.outcome == "granted",
                        )
                    ).one_or_none()
                    return None if row is None else (row.seq, row.idx)
                finally:
                    db.session.remove()

        committed = sign_in_entry()
        assert committed is not None, "the sign-in request committed no audit entry"
        deadline = time.monotonic() + 10
        while (found := sign_in_entry())[1] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found[1] is not None, "the committed entry was not integrated within 10 s"
        with app.app_context():
            try:
                pending = db.session.scalar(
                    sa.select(sa.func.count())
                    .select_from(AuditPending)
                    .where(AuditPending.entry_seq == found[0])
                )
                assert pending == 0
                assert log.tree_size(db.session()) > found[1]
            finally:
                db.session.remove()
    finally:
        log.stop_integrating(app)
        close_app(app)
        dispose_database(database_server, url)
