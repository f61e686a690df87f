"""The audit log over HTTP and the command line."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa

from audit import log, merkle, notes
from audit import services as audit
from audit.models import AuditCosignature, AuditEntry, AuditLeaf
from core.db import db
from tests.conftest import actor_of
from tests.oauth_helpers import bearer_token, register_partner


@pytest.fixture
def filled(system):
    for i in range(5):
        audit.record(system, "test.fill", "granted", resource_ids=[str(i)])
    db.session.flush()
    return log.integrate(db.session(), force_checkpoint=True)


@pytest.fixture
def reader(make_org, make_person):
    return make_person(make_org(kind="hub"), ["auditor"])


def test_checkpoint_and_verifier_key_are_public_text(client, filled):
    note = client.get("/api/v1/audit/checkpoint")
    assert note.status_code == 200 and note.mimetype == "text/plain"
    key = client.get("/api/v1/audit/verifier-key").get_data(as_text=True).strip()
    text, _ = notes.open_note(note.get_data(as_text=True), [key])
    assert notes.parse_checkpoint(text).size >= filled.size


def test_consistency_proof_over_http_verifies(client, filled):
    old_root = log.tree_head(db.session(), 2).root
    response = client.get(f"/api/v1/audit/proof/consistency?old=2&new={filled.size}")
    body = response.json
    merkle.verify_consistency(
        2, filled.size, old_root, filled.root, [base64.b64decode(h) for h in body["hashes"]]
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("old=5&new=2", "old"),
        ("old=0&new=2", "old"),
        ("old=x&new=2", "old"),
        ("new=2", "old"),
    ],
)
def test_bad_proof_arguments_are_problems(client, filled, query, field):
    response = client.get(f"/api/v1/audit/proof/consistency?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]


def test_proof_beyond_the_tree_is_404(client, filled):
    response = client.get(f"/api/v1/audit/proof/consistency?old=1&new={filled.size + 100}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_inclusion_proof_needs_a_reader(client, new_client, filled, reader, make_org, make_person):
    assert client.get("/api/v1/audit/proof/inclusion?index=0&size=1").status_code == 401
    events = make_person(make_org(), ["events_officer"])
    client.sign_in(events)
    denied = client.get("/api/v1/audit/proof/inclusion?index=0&size=1")
    assert denied.status_code == 403
    audited = db.session.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.action == "audit.proof", AuditEntry.outcome == "denied"
        )
    )
    assert audited is not None
    other = new_client()
    other.sign_in(reader)
    body = other.get(f"/api/v1/audit/proof/inclusion?index=1&size={filled.size}").json
    merkle.verify_inclusion(
        1,
        filled.size,
        base64.b64decode(body["leaf_hash"]),
        [base64.b64decode(h) for h in body["hashes"]],
        filled.root,
    )


def test_entries_return_exact_leaf_bytes_and_the_read_is_audited(client, filled, reader):
    client.sign_in(reader)
    body = client.get("/api/v1/audit/entries?start=0&end=3").json
    assert [e["index"] for e in body["entries"]] == [0, 1, 2]
    for item in body["entries"]:
        leaf = base64.b64decode(item["leaf"])
        assert audit.parse_leaf(leaf) == item["entry"]
        assert leaf.startswith(b"hub-audit/v1\n")
    reads = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "audit.read"))
    assert any(json.loads(e.details)["range_end"] == 3 for e in reads)


def test_organisation_reviewer_sees_only_their_organisations_entries(
    client, make_org, make_person, system
):
    mine, theirs = make_org(), make_org()
    dpo = make_person(mine, ["dpo"])
    other = make_person(theirs, ["events_officer"])
    from tests.conftest import actor_of

    audit.record(actor_of(other), "test.theirs", "granted")
    audit.record(system, "test.about_mine", "granted", resource_org=str(mine.id))
    db.session.flush()
    head = log.integrate(db.session(), force_checkpoint=True)
    client.sign_in(dpo)
    body = client.get(f"/api/v1/audit/entries?start=0&end={head.size + 10}").json
    actions = {e["entry"]["action"] for e in body["entries"]}
    assert "test.about_mine" in actions
    assert "test.theirs" not in actions


def test_entries_range_is_bounded(client, reader):
    client.sign_in(reader)
    response = client.get("/api/v1/audit/entries?start=0&end=5000")
    assert response.status_code == 422 and "end" in response.json["errors"]


def test_receipt_is_a_tlog_proof_that_verifies_offline(client, filled, reader):
    client.sign_in(reader)
    response = client.get("/api/v1/audit/entries/2/receipt")
    assert response.status_code == 200
    leaf = db.session.scalar(
        sa.select(AuditEntry.leaf_hash)
        .join(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(AuditLeaf.idx == 2)
    )
    proof, _checkpoint, _signatures = notes.verify_tlog_proof(
        response.get_data(as_text=True), leaf, log.verifier_key()
    )
    assert proof.index == 2


def test_witness_cosignature_is_verified_and_stored(client, filled, make_org, system, tmp_path):
    from audit import witness

    org = make_org()
    key = notes.make_cosigner_key("witness.test-org.example")
    witness.register_witness(db.session(), system, str(org.id), notes.verifier_key_from_signer(key))
    note = client.get("/api/v1/audit/checkpoint").get_data(as_text=True)
    text = notes.split_note(note)[0]
    line = notes.cosign_checkpoint(text, key, 1_700_000_000)
    response = client.post(
        "/api/v1/audit/cosignatures", data=note + line, content_type="text/plain"
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditCosignature)) == 1
    # A cosignature over a checkpoint the hub never signed is refused.
    forged_text = notes.format_checkpoint(log.origin(), 999, b"\x00" * 32)
    forged = notes.sign_note(forged_text, notes.make_signer_key(log.origin()))
    response = client.post(
        "/api/v1/audit/cosignatures",
        data=forged + notes.cosign_checkpoint(forged_text, key, 1),
        content_type="text/plain",
    )
    assert response.status_code == 404


def test_cosignature_by_an_unregistered_key_is_refused(client, filled):
    note = client.get("/api/v1/audit/checkpoint").get_data(as_text=True)
    text = notes.split_note(note)[0]
    line = notes.cosign_checkpoint(text, notes.make_cosigner_key("stranger"), 1)
    response = client.post(
        "/api/v1/audit/cosignatures", data=note + line, content_type="text/plain"
    )
    assert response.status_code == 403


def test_cli_integrate_checkpoint_proofs_and_verify(cli, filled):
    result = cli.invoke(args=["audit", "integrate"])
    assert result.exit_code == 0
    size = json.loads(result.output)["size"]
    note = cli.invoke(args=["audit", "checkpoint"]).output
    key = cli.invoke(args=["audit", "verifier-key"]).output.strip()
    assert notes.parse_checkpoint(notes.open_note(note, [key])[0]).size == size
    proof = json.loads(
        cli.invoke(args=["audit", "proof", "inclusion", "--index", "0", "--size", str(size)]).output
    )
    assert proof["index"] == 0
    lines = cli.invoke(args=["audit", "entries", "--start", "0", "--end", "2"]).output
    assert len(lines.strip().splitlines()) == 2
    result = cli.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")


def test_cli_proof_arguments_are_checked(cli, filled):
    result = cli.invoke(args=["audit", "proof", "inclusion", "--index", "5", "--size", "5"])
    assert result.exit_code == 2
    result = cli.invoke(args=["audit", "proof", "consistency", "--old", "1", "--new", "99999"])
    assert result.exit_code == 2 and "holds" in result.output


# --- who reads the whole log ------------------------------------------------------------------

# Readers of `/api/v1/audit/entries`, and whose entries each sees: the operator's (hub-kind
# organisation's) DPOs and auditors see every organisation's; anyone else (a peer hub's client,
# even the operator's own client) only their own organisation's.
ENTRY_READERS = {
    "operator_dpo": {"operator", "peer", "university"},
    "operator_auditor": {"operator", "peer", "university"},
    "operator_client": {"operator"},
    "peer_client": {"peer"},
    "university_client": {"university"},
    "university_dpo": {"university"},
}


@pytest.fixture
def three_organisations(make_org, make_person):
    """The hub's operator, a peer hub and a university, each with an entry of its own, and the
    people and audit:read clients of the matrix."""
    orgs = {
        "operator": make_org(kind="hub"),
        "peer": make_org(kind="hub"),
        "university": make_org(kind="university"),
    }
    for name, org in orgs.items():
        audit.record(actor_of(make_person(org, ["org_admin"])), f"test.{name}", "granted")
    readers = {
        "operator_dpo": make_person(orgs["operator"], ["dpo"]),
        "operator_auditor": make_person(orgs["operator"], ["auditor"]),
        "university_dpo": make_person(orgs["university"], ["dpo"]),
    }
    for name in ("operator", "peer", "university"):
        admin = make_person(orgs[name], ["org_admin"])
        readers[f"{name}_client"] = register_partner(orgs[name], admin, "audit:read audit:verify")
    db.session.flush()
    head = log.integrate(db.session(), force_checkpoint=True)
    return readers, head


@pytest.mark.parametrize("who", sorted(ENTRY_READERS))
def test_only_the_operators_dpos_and_auditors_read_every_organisations_entries(
    client, three_organisations, who
):
    readers, head = three_organisations
    reader = readers[who]
    headers = {}
    if isinstance(reader, tuple):  # a partner system: a token from the real token endpoint
        oauth_client, key = reader
        token = bearer_token(client, oauth_client.client_id, key, "audit:read")
        headers = {"Authorization": f"Bearer {token}"}
    else:
        client.sign_in(reader)
    response = client.get(f"/api/v1/audit/entries?start=0&end={head.size}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    seen = {
        e["entry"]["action"].removeprefix("test.")
        for e in response.json["entries"]
        if e["entry"]["action"].startswith("test.")
    }
    assert seen == ENTRY_READERS[who]


def test_a_peer_hubs_verifier_gets_proofs_of_its_own_entries_only(client, three_organisations):
    readers, head = three_organisations
    oauth_client, key = readers["peer_client"]
    token = bearer_token(client, oauth_client.client_id, key, "audit:verify")
    headers = {"Authorization": f"Bearer {token}"}
    entries = db.session.execute(
        sa.select(AuditEntry.action, AuditLeaf.idx)
        .join(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(AuditEntry.action.in_(["test.peer", "test.university"]))
    ).all()
    index = {action: idx for action, idx in entries}
    own = client.get(
        f"/api/v1/audit/proof/inclusion?index={index['test.peer']}&size={head.size}",
        headers=headers,
    )
    assert own.status_code == 200, own.get_data(as_text=True)
    other = client.get(
        f"/api/v1/audit/proof/inclusion?index={index['test.university']}&size={head.size}",
        headers=headers,
    )
    assert other.status_code == 404
