"""The latest *cosigned* checkpoint, published beside the latest signed one: it appears only when
the witness policy is met, stays served while the log grows, stops counting a revoked witness,
verifies with independent code, and the DPO's integrity page shows its age and the policy."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tlog_scales.signing import Vkey, VkeySet
from tlog_scales.tlog import Checkpoint as OutsideCheckpoint

from audit import log, notes
from audit import services as audit
from audit import witness as witnesses
from audit.models import AuditCheckpoint, AuditCosignature, AuditWitness
from core.config import ConfigurationError, Settings
from core.db import db, utcnow
from tests.conftest import audit_entries

VERIFIER = Path(__file__).resolve().parents[2] / "examples" / "verify_receipt.py"
WITNESSED = "/api/v1/audit/checkpoint/witnessed"


@pytest.fixture
def filled(system):
    for i in range(5):
        audit.record(system, "test.fill", "granted", resource_ids=[str(i)])
    db.session.flush()
    return log.integrate(db.session(), force_checkpoint=True)


@pytest.fixture
def witness(make_org, system):
    """Register a witness: witness(name) returns its signer key."""

    def factory(name: str) -> str:
        key = notes.make_cosigner_key(name)
        witnesses.register_witness(
            db.session(), system, str(make_org().id), notes.verifier_key_from_signer(key)
        )
        return key

    return factory


@pytest.fixture
def policy(app, monkeypatch):
    """Set the witness policy: policy(quorum=2, names=("a",), max_age_hours=1)."""

    def setter(quorum: int = 1, names: tuple[str, ...] = (), max_age_hours: float = 24.0):
        settings = app.config["HUB_SETTINGS"]
        monkeypatch.setattr(settings, "audit_witness_quorum", quorum)
        monkeypatch.setattr(settings, "audit_witnesses", ",".join(names))
        monkeypatch.setattr(settings, "audit_witnessed_max_age_hours", max_age_hours)

    return setter


def _cosign(client, key: str, timestamp: int = 1_700_000_000) -> str:
    """What a witness does: fetch the newest checkpoint, cosign it, post the cosignature."""
    note = client.get("/api/v1/audit/checkpoint").get_data(as_text=True)
    line = notes.cosign_checkpoint(notes.split_note(note)[0], key, timestamp)
    response = client.post(
        "/api/v1/audit/cosignatures", data=note + line, content_type="text/plain"
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return note


def _grow(system, n: int = 3) -> int:
    for i in range(n):
        audit.record(system, "test.grow", "granted", resource_ids=[str(i)])
    db.session.flush()
    return log.integrate(db.session(), force_checkpoint=True).size


def _vkey(key: str) -> str:
    return notes.verifier_key_from_signer(key)


def _size(note: str) -> int:
    return notes.parse_checkpoint(notes.split_note(note)[0]).size


def _verify_offline(tmp_path, note: str, *args: str) -> subprocess.CompletedProcess:
    """Run the standalone example verifier, isolated from the hub's code (python -I)."""
    path = tmp_path / "checkpoint.note"
    path.write_text(note, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(path), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )


# --- when a checkpoint is witnessed -------------------------------------------------------


def test_without_witnesses_no_checkpoint_is_witnessed_and_the_problem_says_so(client, filled):
    response = client.get(WITNESSED)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "not independently witnessed" in response.json["detail"]
    policy = client.get("/api/v1/audit/witness-policy").json
    assert policy["witnesses"] == [] and policy["quorum"] == 1
    assert policy["satisfiable"] is False
    assert policy["log_verifier_key"] == log.verifier_key()


def test_the_witnessed_checkpoint_appears_only_when_the_policy_is_met(
    client, filled, witness, policy, tmp_path
):
    policy(quorum=2)
    # Registered in the opposite order to their names: the note's lines go by name.
    second = witness("witness-b.example")
    first = witness("witness-a.example")
    note = _cosign(client, second)
    response = client.get(WITNESSED)
    assert response.status_code == 404
    assert "none has been cosigned by 2 of the 2 witnesses" in response.json["detail"]

    response = client.post(
        "/api/v1/audit/cosignatures",
        data=note + notes.cosign_checkpoint(notes.split_note(note)[0], first, 1_700_000_001),
        content_type="text/plain",
    )
    assert response.status_code == 201
    response = client.get(WITNESSED)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    served = response.get_data(as_text=True)
    assert served.startswith(note)  # the log's own note, then the cosignatures
    lines = served[len(note) :].splitlines()
    assert [notes.parse_signature_line(line)[0] for line in lines] == [
        "witness-a.example",
        "witness-b.example",
    ]
    checkpoint, signatures = notes.open_checkpoint(
        served, log.verifier_key(), witnesses=[_vkey(first), _vkey(second)], quorum=2
    )
    assert checkpoint.size == _size(note)
    assert sorted(s.timestamp for s in signatures if s.timestamp) == [1_700_000_000, 1_700_000_001]
    # Served the same way each time (a stable URL, a deterministic note).
    assert client.get(WITNESSED).get_data(as_text=True) == served

    # An outside implementation (tlog-scales, from PyPI) agrees, and so does the example script.
    outside = OutsideCheckpoint.from_text(served)
    outside.verify(Vkey.from_string(log.verifier_key()))
    valid = VkeySet(Vkey.from_string(_vkey(first)), Vkey.from_string(_vkey(second))).verify(
        outside.signatures, outside
    )
    assert sorted(v.name for v, _ in valid) == ["witness-a.example", "witness-b.example"]
    result = _verify_offline(
        tmp_path,
        served,
        "--log-key",
        log.verifier_key(),
        "--witness",
        _vkey(first),
        "--witness",
        _vkey(second),
        "--quorum",
        "2",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cosigned by witness-a.example, witness-b.example" in result.stdout


def test_the_witnessed_checkpoint_stays_served_while_the_log_grows(client, filled, witness, system):
    key = witness("witness.grows.example")
    cosigned = _cosign(client, key)
    newer = _grow(system)
    assert _size(client.get("/api/v1/audit/checkpoint").get_data(as_text=True)) >= newer
    served = client.get(WITNESSED).get_data(as_text=True)
    assert _size(served) == _size(cosigned) < newer
    notes.open_checkpoint(served, log.verifier_key(), witnesses=[_vkey(key)], quorum=1)

    # Cosigning a newer checkpoint moves the witnessed one forward.
    again = _cosign(client, key, timestamp=1_700_000_500)
    assert _size(client.get(WITNESSED).get_data(as_text=True)) == _size(again) >= newer


def test_a_revoked_witness_stops_counting(client, filled, witness, system):
    kept = witness("witness.kept.example")
    revoked = witness("witness.revoked.example")
    older = _cosign(client, kept)
    _grow(system)
    newer = _cosign(client, revoked)
    assert _size(newer) > _size(older)
    assert _size(client.get(WITNESSED).get_data(as_text=True)) == _size(newer)

    witnesses.revoke_witness(db.session(), system, "witness.revoked.example")
    served = client.get(WITNESSED).get_data(as_text=True)
    assert _size(served) == _size(older)
    assert "witness.revoked.example" not in served
    policy = client.get("/api/v1/audit/witness-policy").json
    assert [w["name"] for w in policy["witnesses"]] == ["witness.kept.example"]
    (entry,) = audit_entries("audit.witness.revoke")
    assert entry.outcome == "granted"

    witnesses.revoke_witness(db.session(), system, "witness.kept.example")
    response = client.get(WITNESSED)
    assert response.status_code == 404
    assert "not independently witnessed" in response.json["detail"]


def test_only_the_witnesses_the_policy_names_count(client, filled, witness, policy):
    named = witness("witness.named.example")
    other = witness("witness.other.example")
    policy(names=("witness.named.example",))
    _cosign(client, other)
    assert client.get(WITNESSED).status_code == 404
    body = client.get("/api/v1/audit/witness-policy").json
    assert body["named_only"] is True
    assert body["witnesses"] == [{"name": "witness.named.example", "verifier_key": _vkey(named)}]

    note = _cosign(client, named)
    served = client.get(WITNESSED).get_data(as_text=True)
    assert _size(served) == _size(note)
    assert "witness.other.example" not in served


def test_a_stored_cosignature_that_no_longer_verifies_is_not_published(
    client, filled, witness, system
):
    key = witness("witness.tampered.example")
    honest = _cosign(client, key)
    _grow(system)
    # A row written behind the hub's back (the table is append-only, so an insert): a
    # cosignature over another checkpoint's text, stored against the newest checkpoint.
    newest = log.latest_checkpoint(db.session())
    line = notes.cosign_checkpoint(notes.split_note(honest)[0], key, 1_700_000_900)
    db.session.add(
        AuditCosignature(
            checkpoint_id=newest.id,
            witness_id=db.session.scalar(sa.select(AuditWitness.id)),
            timestamp=1_700_000_900,
            signature_line=line.rstrip("\n"),
            received_at=utcnow(),
        )
    )
    db.session.flush()
    served = client.get(WITNESSED).get_data(as_text=True)
    assert _size(served) == _size(honest) < newest.size


# --- the integrity page -------------------------------------------------------------------


@pytest.fixture
def reader(make_org, make_person):
    return make_person(make_org(kind="hub"), ["dpo"])


def _backdated_cosignature(key: str, hours: int) -> AuditCheckpoint:
    """A cosignature of the newest checkpoint that reached the hub `hours` ago."""
    checkpoint = log.latest_checkpoint(db.session())
    received = utcnow() - timedelta(hours=hours)
    timestamp = int(received.timestamp())
    line = notes.cosign_checkpoint(notes.split_note(checkpoint.note)[0], key, timestamp)
    witness_id = db.session.scalar(
        sa.select(AuditWitness.id).where(AuditWitness.verifier_key == _vkey(key))
    )
    db.session.add(
        AuditCosignature(
            checkpoint_id=checkpoint.id,
            witness_id=witness_id,
            timestamp=timestamp,
            signature_line=line.rstrip("\n"),
            received_at=received,
        )
    )
    db.session.flush()
    return checkpoint


def test_the_integrity_page_says_plainly_when_the_log_is_not_witnessed(client, filled, reader):
    client.sign_in(reader)
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'id="not-witnessed"' in html
    assert "The log is not independently witnessed." in html


def test_the_integrity_page_shows_the_witnessed_checkpoints_age_and_policy(
    client, filled, witness, policy, reader, system
):
    key = witness("witness.page.example")
    witness("witness.idle.example")
    checkpoint = _backdated_cosignature(key, hours=3)
    _grow(system, 4)
    client.sign_in(reader)
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'id="witnessed-checkpoint"' in html
    assert "3 hours ago" in html
    assert "cosigned by 1 of the 2 witnesses that count; 1 needed" in html
    assert f'<dd class="govuk-summary-list__value">{checkpoint.size:,}</dd>' in html
    assert "<code>witness.page.example</code> at" in html
    assert 'id="witnessed-stale"' not in html

    policy(max_age_hours=2)
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'id="witnessed-stale"' in html
    assert "witnessed 3 hours ago, longer ago than the 2 hours allowed" in html

    policy(quorum=2)
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert 'id="witness-policy-unmet"' in html
    assert "none has been cosigned by 2 of the 2 witnesses that count" in html


# --- the setting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"HUB_AUDIT_WITNESS_QUORUM": "0"}, "at least 1"),
        ({"HUB_AUDIT_WITNESS_QUORUM": "3", "HUB_AUDIT_WITNESSES": "a.example,b.example"}, "only 2"),
        ({"HUB_AUDIT_WITNESSES": "a.example b.example"}, "not a witness name"),
        ({"HUB_AUDIT_WITNESSES": "a.example,a.example"}, "twice"),
        ({"HUB_AUDIT_WITNESSED_MAX_AGE_HOURS": "0"}, "more than 0"),
        ({"HUB_AUDIT_WITNESS_QUORUM": "two"}, "HUB_AUDIT_WITNESS_QUORUM"),
    ],
)
def test_a_witness_policy_that_cannot_work_is_refused_at_start(tmp_path, environ, message):
    with pytest.raises(ConfigurationError, match=message):
        _start({"HUB_INSTANCE_PATH": str(tmp_path), **environ})


def _start(environ: dict[str, str]) -> Settings:
    """Read and check settings as the hub does when it starts."""
    settings = Settings.from_environ(environ)
    settings.finalise()
    return settings


def test_the_witness_policy_is_read_from_the_environment(tmp_path):
    settings = _start(
        {
            "HUB_INSTANCE_PATH": str(tmp_path),
            "HUB_AUDIT_WITNESS_QUORUM": "2",
            "HUB_AUDIT_WITNESSES": " a.example, b.example ,c.example",
            "HUB_AUDIT_WITNESSED_MAX_AGE_HOURS": "6.5",
        }
    )
    assert settings.audit_witness_quorum == 2
    assert settings.audit_witness_names == ("a.example", "b.example", "c.example")
    assert settings.audit_witnessed_max_age_hours == 6.5
