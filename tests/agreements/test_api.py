"""The agreements API: the register, the resource with its data schedule per provider and
recipient, drafting, proposal, suspension, termination and amendment, problem details."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from agreements import lifecycle
from agreements.content import SECTIONS
from agreements.models import Agreement, AgreementStatus
from audit import log
from audit.models import AuditEntry
from core.db import db, utcnow
from tests.agreements.conftest import agreement_data, rule
from tests.conftest import actor_of

SPEAKER_FIELDS = {"display_name": "full", "aliases": "masked", "topics": "pseudonymised"}


@pytest.fixture
def universities(make_org):
    return make_org(name="Northgate University"), make_org(name="Southmoor University")


@pytest.fixture
def active(universities, make_agreement):
    a, b = universities
    return make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", SPEAKER_FIELDS),
            rule(b, a, "speaker", {"display_name": "full"}),
            rule(b, a, "assessment", existence_only=True),
        ],
    )


def _reload(agreement_id) -> Agreement:
    db.session.expire_all()
    return db.session.get(Agreement, uuid.UUID(str(agreement_id)))


def test_list_gives_the_register_with_state_and_parties(client, universities, active):
    agreement, (signatory, _) = active
    client.sign_in(signatory)
    response = client.api("GET", "/api/v1/agreements")
    assert response.status_code == 200
    [item] = response.get_json()
    assert item["id"] == str(agreement.id)
    assert item["state"] == "active" and item["status"] == "approved"
    assert item["purposes"] == ["speaker_due_diligence"]
    assert {p["organisation"] for p in item["parties"]} == {
        "Northgate University",
        "Southmoor University",
    }
    assert item["content_hash"] == agreement.content_hash


def test_resource_gives_the_data_schedule_per_provider_and_recipient(client, universities, active):
    a, b = universities
    agreement, (signatory, _) = active
    client.sign_in(signatory)
    body = client.api("GET", f"/api/v1/agreements/{agreement.id}").get_json()
    assert body["data_schedule"] == {
        str(a.id): {str(b.id): {"speaker": SPEAKER_FIELDS}},
        str(b.id): {
            str(a.id): {"speaker": {"display_name": "full"}, "assessment": "existence_only"}
        },
    }
    for key in SECTIONS:
        assert body[key] == f"Test text for {key}."
    assert body["lawful_basis"]["article_9"].startswith("Art. 9")
    assert all(p["approved"] for p in body["parties"])
    assert body["signed"] is True
    assert body["links"]["signed"] == f"/api/v1/agreements/{agreement.id}/signed"
    assert body["changes"][0]["summary"] == "Drafted."


def test_openapi_documents_the_schedule_shape_and_why_approval_is_not_here(client):
    spec = client.get("/api/openapi.json").get_json()
    schedule = spec["components"]["schemas"]["Agreement"]["properties"]["data_schedule"]
    assert "existence_only" in schedule["description"]
    assert "withheld" in schedule["description"]
    [tag] = [t for t in spec["tags"] if t["name"] == "agreements-api"]
    assert "re-entering their password" in tag["description"]
    assert not any(path.endswith("/approve") for path in spec["paths"])


def test_signed_copy_verifies_offline(client, active):
    agreement, (signatory, _) = active
    client.sign_in(signatory)
    document = client.api("GET", f"/api/v1/agreements/{agreement.id}/signed").get_json()
    assert "OK" in lifecycle.verify_signed_document(document, log.verifier_key())


def test_draft_propose_suspend_terminate_amend_over_the_api(
    client, universities, party, make_person
):
    a, b = universities
    (pa, signatory_a), (pb, signatory_b) = party(a), party(b)
    body = agreement_data(
        [pa, pb],
        [rule(a, b, "speaker", {"display_name": "full"}), rule(b, a, "speaker", SPEAKER_FIELDS)],
        reference="API-DSA-1",
    )
    client.sign_in(signatory_a)
    response = client.api("POST", "/api/v1/agreements", json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["status"] == "draft" and created["content_hash"] is None
    path = f"/api/v1/agreements/{created['id']}"

    changed = {k: v for k, v in body.items() if k != "reference"}
    changed["title"] = "A better title"
    response = client.api("PUT", path, json=changed)
    assert response.status_code == 200 and response.get_json()["title"] == "A better title"

    response = client.api("POST", path + "/propose")
    assert response.status_code == 200
    assert response.get_json()["status"] == "proposed"
    assert client.api("PUT", path, json=changed).status_code == 409  # frozen

    agreement = _reload(created["id"])
    for signatory in (signatory_a, signatory_b):  # approval happens on the page; here directly
        lifecycle.approve(
            actor_of(signatory),
            agreement,
            content_hash=agreement.content_hash,
            reauthenticated_at=utcnow(),
        )
    db.session.flush()

    response = client.api("POST", path + "/suspend", json={"reason": "Under review."})
    assert response.status_code == 200 and response.get_json()["state"] == "suspended"
    response = client.api("POST", path + "/resume")
    assert response.status_code == 200 and response.get_json()["state"] == "active"
    response = client.api("POST", path + "/amend")
    assert response.status_code == 201 and response.get_json()["version"] == 2
    response = client.api("POST", path + "/terminate", json={"reason": "Programme closed."})
    assert response.status_code == 200 and response.get_json()["state"] == "terminated"
    assert _reload(created["id"]).status == AgreementStatus.TERMINATED


def test_invalid_draft_answers_problem_details_naming_each_field(client, universities, party):
    a, b = universities
    (pa, signatory_a), (pb, _) = party(a), party(b)
    body = agreement_data([pa, pb], [rule(a, b, "speaker", {"display_name": "generalised"})])
    body["necessity"] = ""
    client.sign_in(signatory_a)
    response = client.api("POST", "/api/v1/agreements", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"].endswith("/validation-failed")
    assert "necessity" in problem["errors"]
    assert any("cannot be generalised" in m for m in problem["errors"]["data_schedule.0"])


def test_unknown_fields_are_refused_by_the_schema(client, universities, party):
    a, _b = universities
    (_pa, signatory_a) = party(a)
    client.sign_in(signatory_a)
    response = client.api("POST", "/api/v1/agreements", json={"colour": "blue"})
    assert response.status_code == 422
    assert "colour" in response.get_json()["errors"]


def test_suspension_without_a_reason_is_refused(client, universities, active, make_person):
    agreement, _ = active
    client.sign_in(make_person(universities[0], ["dpo"]))
    response = client.api("POST", f"/api/v1/agreements/{agreement.id}/suspend", json={})
    assert response.status_code == 422
    response = client.api(
        "POST", f"/api/v1/agreements/{agreement.id}/suspend", json={"reason": " "}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"reason": ["Give the reason for suspending."]}


def test_a_malformed_id_is_not_found(client, active):
    _agreement, (signatory, _) = active
    client.sign_in(signatory)
    response = client.api("GET", "/api/v1/agreements/not-a-uuid")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_statistics_endpoint(client, active):
    agreement, (signatory, _) = active
    client.sign_in(signatory)
    body = client.api("GET", f"/api/v1/agreements/{agreement.id}/statistics").get_json()
    assert body["total"] == 0 and body["by_recipient"] == [] and body["refusals"] == 0


@pytest.mark.parametrize(
    ("path", "body", "status", "action", "reason"),
    [
        # A step the agreement's state does not allow: 409, named by its service.
        ("/resume", None, 409, "agreement.resume", "wrong_state"),
        # A rule break: 422, audited like any refusal (field names never carry values).
        ("/suspend", {"reason": " "}, 422, "request.refused", "validation_failed"),
    ],
)
def test_every_refusal_is_audited_at_the_edge(
    client, universities, active, make_person, path, body, status, action, reason
):
    agreement, _ = active
    dpo = make_person(universities[0], ["dpo"])
    client.sign_in(dpo)
    request_id = str(uuid.uuid4())
    response = client.api(
        "POST",
        f"/api/v1/agreements/{agreement.id}{path}",
        json=body,
        headers={"X-Request-Id": request_id},
    )
    assert response.status_code == status
    [entry] = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.request_id == request_id)
    ).all()
    assert (entry.action, entry.outcome, entry.reason) == (action, "denied", reason)
    assert entry.actor == f"person:{dpo.id}"
    assert json.loads(entry.details)["status"] == status
