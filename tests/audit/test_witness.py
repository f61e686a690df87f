"""A witness over real HTTP: it cosigns a growing log and refuses a forked one, loudly."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from werkzeug.serving import make_server

from audit import log, notes
from audit import services as audit
from audit import witness as witnesses
from audit.models import (
    APPEND_ONLY_TABLES,
    AuditCosignature,
    AuditEntry,
    AuditLeaf,
    AuditWitness,
)
from core.db import db
from core.security import Actor
from tests.conftest import app_config, close_app, dispose_database, fresh_database_url


@pytest.fixture
def live_hub(database_server, tmp_path) -> Iterator:
    """A hub with its own committed database, served on loopback."""
    from core import migrations
    from hub.app import create_app

    url = fresh_database_url(database_server, tmp_path, "witness")
    app = create_app(app_config(url, tmp_path / "instance"))
    with app.app_context():
        migrations.upgrade(url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)

        with app.app_context():
            db.session.remove()
        close_app(app)
        dispose_database(database_server, url)


def _append(app, n: int) -> int:
    with app.app_context():
        for i in range(n):
            audit.record(Actor.system("test"), "test.witnessed", "granted", resource_ids=[str(i)])
        db.session.commit()
        head = log.integrate(db.session(), force_checkpoint=True)
        db.session.commit()
        return head.size


def _register(app, tmp_path):
    from partners import services

    key_path = tmp_path / "witness.key"
    key_path.write_text(notes.make_cosigner_key("witness.ravensmoor.example") + "\n")
    with app.app_context():
        org = services.create_organisation(
            Actor.system("test"),
            {
                "name": "Ravensmoor Test",
                "slug": "ravensmoor-test",
                "kind": "university",
                "region": "Testshire",
                "dp_contact_name": "R",
                "dp_contact_email": "r@r.example",
            },
        )
        db.session.flush()
        witnesses.register_witness(
            db.session(),
            Actor.system("test"),
            str(org.id),
            notes.verifier_key_from_signer(key_path.read_text().strip()),
        )
        db.session.commit()
    return key_path


def _fork_history(app) -> None:
    """An insider with the signing key rewrites entry 0 and re-signs a fresh tree."""
    with app.app_context():
        session = db.session()
        if db.dialect == "postgresql":
            # Take the integrator's lock before the tables' locks, in the order the hub's own
            # integrator takes them: the live server's background integrator may be mid-round.
            session.execute(sa.text(f"SELECT id FROM {log.LOCK_TABLE} WHERE id = 1 FOR UPDATE"))
            for table in APPEND_ONLY_TABLES:
                session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for name in session.scalars(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all():
                session.execute(sa.text(f'DROP TRIGGER "{name}"'))
        first = session.scalar(
            sa.select(AuditEntry)
            .join(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
            .where(AuditLeaf.idx == 0)
        )
        forged = first.leaf.replace(b'"granted"', b'"denied"')
        assert forged != first.leaf
        session.execute(
            sa.update(AuditEntry)
            .where(AuditEntry.seq == first.seq)
            .values(leaf=forged, leaf_hash=log.merkle.leaf_hash(forged))
        )
        seqs = session.scalars(sa.select(AuditLeaf.entry_seq).order_by(AuditLeaf.idx)).all()
        for table in (
            "audit_cosignatures",
            "audit_checkpoints",
            "audit_tree_nodes",
            "audit_leaves",
        ):
            session.execute(sa.text(f"DELETE FROM {table}"))
        session.execute(sa.insert(log.AuditPending), [{"entry_seq": s} for s in seqs])
        log.integrate(session, force_checkpoint=True)
        session.commit()


def test_witness_cosigns_a_growing_log_and_refuses_a_fork(live_hub, tmp_path):
    app, url = live_hub
    key_path = _register(app, tmp_path)
    state = tmp_path / "state.json"
    size = _append(app, 5)
    assert witnesses.run_witness(url, state, key_path).endswith(f"at size {size}")
    size = _append(app, 4)
    assert witnesses.run_witness(url, state, key_path).endswith(f"at size {size}")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditCosignature)) == 2
        assert witnesses.latest_cosignatures(db.session())[0]["size"] == size
    saved = state.read_text()

    _fork_history(app)
    _append(app, 2)
    result = FlaskCliRunner(app).invoke(
        args=["audit", "witness", "--hub", url, "--state", str(state), "--key", str(key_path)]
    )
    assert result.exit_code == 3
    assert "REFUSED" in result.output and "not consistent" in result.output
    assert state.read_text() == saved  # the witness keeps what it knew


def test_witness_refuses_a_checkpoint_signed_by_another_key(live_hub, tmp_path):
    app, url = live_hub
    key_path = _register(app, tmp_path)
    _append(app, 2)
    impostor = notes.verifier_key_from_signer(notes.make_signer_key("impostor.example/audit"))
    with pytest.raises(witnesses.WitnessRefusal, match="does not verify"):
        witnesses.run_witness(url, tmp_path / "s.json", key_path, log_key=impostor)


# --- who may manage a witness key ------------------------------------------------------------

#: (whose person, role) -> may they register, repoint and revoke the partner's witness key.
WITNESS_MATRIX = [
    ("partner", "org_admin", True),
    ("partner", "dpo", False),
    ("partner", "auditor", False),
    ("other", "org_admin", False),
    ("hub", "org_admin", True),
    ("hub", "dpo", False),
]


@pytest.mark.parametrize(("whose", "role", "allowed"), WITNESS_MATRIX)
def test_who_may_register_repoint_and_revoke_a_witness_key(
    app, make_org, make_person, system, whose, role, allowed
):
    """One rule (audit.permissions.can_manage_witness) for all three steps; each refusal
    carries what the edge audits."""
    from audit import witness_submission
    from audit.actions import AUDIT_WITNESS_REGISTER as REGISTER
    from audit.actions import AUDIT_WITNESS_REVOKE as REVOKE
    from core.errors import PermissionDenied
    from tests.conftest import actor_of

    orgs = {"partner": make_org(), "other": make_org(), "hub": make_org(kind="hub")}
    actor = actor_of(make_person(orgs[whose], [role]))
    partner = str(orgs["partner"].id)
    name = "witness.fellwater.example"
    vkey = notes.verifier_key_from_signer(notes.make_cosigner_key(name))
    steps = [
        (REGISTER, lambda: witnesses.register_witness(db.session(), actor, partner, vkey)),
        (
            REGISTER,
            lambda: witness_submission.set_submission_prefix(
                db.session(), actor, name, "https://witness.example/fell"
            ),
        ),
        (REVOKE, lambda: witnesses.revoke_witness(db.session(), actor, name)),
    ]
    for number, (action, step) in enumerate(steps):
        if allowed:
            step()
            continue
        if number == 1:  # the key exists, so that the next refusals are about who asks
            witnesses.register_witness(db.session(), system, partner, vkey)
        with pytest.raises(PermissionDenied) as refused:
            step()
        assert refused.value.audit["action"] == action
    witness = db.session.scalar(sa.select(AuditWitness).where(AuditWitness.name == name))
    assert witness is not None
    assert (witness.revoked_at is not None) == allowed
    assert (witness.submission_prefix is not None) == allowed
