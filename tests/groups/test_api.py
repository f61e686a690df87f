"""The working groups API: the same services as the pages, problem details on refusal, case
items disclosed at the caller's level, and partner systems refused (no scope covers groups)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db, utcnow
from hub.groups import actions
from partners.oauth import clients
from tests.conftest import actor_of
from tests.groups.conftest import PURPOSE, SPEAKER_NAME
from tests.oauth_helpers import jwks_of, new_key, token_form

REQUEST_ID = "5d0c3a52-8a8e-4c53-9a57-2f0d6a8e7b01"


@pytest.fixture
def signed_in(world, new_client):
    """A client per person, signed in once."""
    cache = {}

    def get(who):
        if who not in cache:
            cache[who] = new_client()
            cache[who].sign_in(world.people[who])
        return cache[who]

    return get


def test_the_whole_cycle_over_the_api(world, signed_in):
    coord = signed_in("coord")
    made = coord.api(
        "POST",
        "/api/v1/groups",
        json={
            "name": "Testshire Prevent working group",
            "region": "Testshire",
            "terms_of_reference": "Review cases together.",
            "cadence": "quarterly",
            "agreement_id": str(world.agreement.id),
        },
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    group = made.json["id"]
    assert made.json["coverage"]["covered"] is True
    for org, admin in (("uni_a", "a_admin"), ("uni_b", "b_admin"), ("police", "police_admin")):
        invited = coord.api(
            "POST",
            f"/api/v1/groups/{group}/invitations",
            json={"organisation_id": str(world.orgs[org].id)},
        )
        assert invited.status_code == 201 and invited.json["status"] == "invited"
        answered = signed_in(admin).api(
            "POST", f"/api/v1/groups/{group}/membership", json={"answer": "accept"}
        )
        assert answered.status_code == 200 and answered.json["status"] == "accepted"
    for who in ("b_lead", "police_lead"):
        named = coord.api(
            "POST",
            f"/api/v1/groups/{group}/attendees",
            json={"person_id": str(world.people[who].id)},
        )
        assert named.status_code == 201
    start = utcnow() - timedelta(hours=3)
    meeting = coord.api(
        "POST",
        f"/api/v1/groups/{group}/meetings",
        json={
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "online_link": "https://meet.example/testshire",
        },
    )
    assert meeting.status_code == 201, meeting.get_data(as_text=True)
    meeting_id = meeting.json["id"]
    item = coord.api(
        "POST",
        f"/api/v1/meetings/{meeting_id}/agenda",
        json={"title": "A case", "case": f"speaker:{world.speaker.id}"},
    )
    assert item.status_code == 201
    assert item.json["agenda"][0]["case"]["record"]["display_name"] == SPEAKER_NAME

    # The same case item, as another member's attendee sees it.
    seen = signed_in("b_lead").api("GET", f"/api/v1/meetings/{meeting_id}")
    assert seen.status_code == 200
    [agenda_item] = seen.json["agenda"]
    assert agenda_item["case"]["state"] == "shared"
    assert agenda_item["case"]["record"]["display_name"] == "D••• E••• Q•••"
    assert agenda_item["case"]["record"]["disclosed_under"]["reference"] == "TEST-WG-1"
    assert {row["name"] for row in seen.json["attendance"]} >= {world.people["b_lead"].name}

    attendance = coord.api(
        "PUT",
        f"/api/v1/meetings/{meeting_id}/attendance",
        json={"attendance": {str(world.people["b_lead"].id): "attended"}},
    )
    assert attendance.status_code == 200
    decision = coord.api(
        "POST", f"/api/v1/meetings/{meeting_id}/decisions", json={"text": "Share plans."}
    )
    assert decision.status_code == 201
    due = (actions.local_today() + timedelta(days=7)).isoformat()
    action = coord.api(
        "POST",
        f"/api/v1/meetings/{meeting_id}/actions",
        json={"title": "Brief", "owner_person_id": str(world.people["b_lead"].id), "due_on": due},
    )
    assert action.status_code == 201 and action.json["overdue"] is False
    minutes = f"/api/v1/meetings/{meeting_id}/minutes"
    assert coord.api("PUT", minutes, json={"minutes": "Met."}).status_code == 200
    assert coord.api("POST", minutes, json={"step": "circulate"}).json["minutes_status"] == (
        "circulated"
    )
    assert coord.api("POST", minutes, json={"step": "approve"}).json["minutes_status"] == (
        "approved"
    )
    edit = coord.api(
        "PUT", minutes, json={"minutes": "Rewritten."}, headers={"X-Request-Id": REQUEST_ID}
    )
    assert edit.status_code == 409 and edit.mimetype == "application/problem+json"
    assert "record an amendment" in edit.json["detail"]
    # Every refusal is audited at the edge, even one its service gave no audit details for:
    # by the route's template, never the raw path.
    [refused] = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.request_id == REQUEST_ID)
    ).all()
    assert refused.outcome == "denied" and refused.action == "request.refused"
    details = json.loads(refused.details)
    assert details["route"] == "/api/v1/meetings/<meeting_id>/minutes"
    assert details["method"] == "PUT" and details["status"] == 409
    amended = coord.api(
        "POST", minutes + "/amendments", json={"text": "Met twice.", "reason": "A typo."}
    )
    assert amended.status_code == 201
    assert coord.api("POST", f"/api/v1/meetings/{meeting_id}/feedback").status_code == 202
    digest = signed_in("b_lead").api("GET", f"/api/v1/meetings/{meeting_id}/feedback")
    assert [d["text"] for d in digest.json["decisions"]] == ["Share plans."]
    assert [a["title"] for a in digest.json["actions"]] == ["Brief"]
    progress = signed_in("b_lead").api(
        "POST", f"/api/v1/actions/{action.json['id']}/updates", json={"status": "done"}
    )
    assert progress.status_code == 201 and progress.json["status"] == "done"
    left = signed_in("b_admin").api("DELETE", f"/api/v1/groups/{group}/membership")
    assert left.status_code == 200 and left.json["status"] == "left"
    gone = signed_in("b_lead").api("GET", f"/api/v1/meetings/{meeting_id}")
    assert gone.status_code == 404 and gone.mimetype == "application/problem+json"


def test_invalid_fields_answer_problem_details(world, signed_in):
    response = signed_in("coord").api("POST", "/api/v1/groups", json={"name": "X"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "terms_of_reference" in response.json["errors"]


def test_the_regional_dashboard_over_the_api(world, signed_in):
    world.event.designated = True
    db.session.flush()
    board = signed_in("coord").api(
        "GET", f"/api/v1/region/dashboard?basis=calendar&purpose={PURPOSE}"
    )
    assert board.status_code == 200
    assert board.json["purpose"] == PURPOSE
    assert [e["title"] for e in board.json["designated_events"]] == ["Lanterns and Liberty"]
    assert board.json["agreements"][0]["reference"] == "TEST-WG-1"
    assert len(board.json["annual_return"]["months"]) == 12
    refused = signed_in("coord").api("GET", "/api/v1/region/dashboard?purpose=nosy")
    assert refused.status_code == 422


def test_partner_systems_are_refused_with_a_clear_403(world, client):
    admin = world.people["a_admin"]
    key = new_key()
    oauth_client, _ = clients.register_client(
        actor_of(admin),
        world.orgs["uni_a"],
        {"name": "Events system", "jwks": jwks_of(key), "scopes": ["speakers:read"]},
    )
    db.session.flush()
    token = client.post("/oauth/token", data=token_form(oauth_client.client_id, key)).json
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "Hub-Purpose": PURPOSE,
    }
    for path in ("/api/v1/groups", "/api/v1/region/dashboard"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403, (path, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        assert "no token scope covers it" in response.json["detail"]
        assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


def test_every_endpoint_is_in_the_openapi_document_with_a_summary(app, client):
    document = client.get("/api/openapi.json").json
    paths = {p: ops for p, ops in document["paths"].items() if "/groups" in p or "/meetings" in p}
    assert "/api/v1/groups/{group_id}" in paths and "/api/v1/meetings/{meeting_id}" in paths
    assert "/api/v1/region/dashboard" in document["paths"]
    for operations in paths.values():
        for method, operation in operations.items():
            if method in {"get", "post", "put", "delete"}:
                assert operation.get("summary"), operation
