"""Permission matrix for advisory requests and the annual return, pages and API.

A request is seen only by its three parties (the requesting institution, the coordinator it was
sent to, the police team it was routed to). Anyone else gets exactly the answer a missing
request gets (404), a party taking a step that is not theirs gets 403; both are audited.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from hub.records.advisory import services as advisory
from tests.conftest import page_html
from tests.records.worlds import SPEAKER_NAME, route, submit

ACTORS = [
    "requester",
    "coordinator",
    "other_coordinator",
    "police",
    "other_police",
    "other_uni",
    "dpo",
    "auditor",
]
ROUTED_PARTIES = {"requester", "dpo", "coordinator", "police"}
SUBMITTED_PARTIES = {"requester", "dpo", "coordinator"}
INSTITUTIONS = {"requester", "dpo", "other_uni"}
COORDINATORS = {"coordinator", "other_coordinator"}
LISTERS = set(ACTORS) - {"auditor"}


@pytest.fixture
def world(advisory_world, make_speaker):
    world = advisory_world
    world.submitted = submit(world)
    requester = world.people["requester"]
    second = make_speaker(by=requester, name="Professor Tobias Wrenfield")
    world.second_speaker = second
    world.routed = route(world, submit(world, speaker_id=str(second.id), event_id=""))
    world.third_speaker = make_speaker(by=requester, name="Ms Ivy Loam")
    return world


def _expiry() -> dict:
    expiry = advisory.local_today() + timedelta(days=60)
    return {
        "form": {
            "rating": "green",
            "rationale": "Nothing known.",
            "expires_on-day": str(expiry.day),
            "expires_on-month": str(expiry.month),
            "expires_on-year": str(expiry.year),
        },
        "json": {
            "rating": "green",
            "rationale": "Nothing known.",
            "expires_on": expiry.isoformat(),
        },
    }


# (method, path, data, who may, who else gets 403 (the rest get 404; None: all 403), is API)
MATRIX = [
    ("GET", "/advisory/", None, LISTERS, None, False),
    ("GET", "/advisory/new", None, {"requester", "other_uni"}, None, False),
    ("GET", "/advisory/{routed}", None, ROUTED_PARTIES, ROUTED_PARTIES, False),
    ("GET", "/advisory/{submitted}", None, SUBMITTED_PARTIES, SUBMITTED_PARTIES, False),
    ("GET", "/advisory/{submitted}/route", None, {"coordinator"}, SUBMITTED_PARTIES, False),
    (
        "POST",
        "/advisory/{submitted}/route",
        {"police_org_id": "{police}", "routing_note": "Please look."},
        {"coordinator"},
        SUBMITTED_PARTIES,
        False,
    ),
    ("GET", "/advisory/{submitted}/decline", None, {"coordinator"}, SUBMITTED_PARTIES, False),
    (
        "POST",
        "/advisory/{submitted}/decline",
        {"decline_reason": "Not for us."},
        {"coordinator"},
        SUBMITTED_PARTIES,
        False,
    ),
    ("GET", "/advisory/{routed}/answer", None, {"police"}, ROUTED_PARTIES, False),
    ("POST", "/advisory/{routed}/answer", "answer-form", {"police"}, ROUTED_PARTIES, False),
    ("GET", "/advisory/{routed}/withdraw", None, {"requester"}, ROUTED_PARTIES, False),
    ("POST", "/advisory/{routed}/withdraw", {}, {"requester"}, ROUTED_PARTIES, False),
    ("GET", "/returns", None, INSTITUTIONS | COORDINATORS, None, False),
    ("GET", "/returns/annual.csv", None, INSTITUTIONS | COORDINATORS, None, False),
    ("GET", "/api/v1/advisory/requests", None, LISTERS, None, True),
    (
        "POST",
        "/api/v1/advisory/requests",
        {"speaker_id": "{third_speaker}", "question": "Anything?"},
        {"requester"},
        set(ACTORS) - {"other_uni"},  # another university asking about this speaker: 404
        True,
    ),
    ("GET", "/api/v1/advisory/requests/{routed}", None, ROUTED_PARTIES, ROUTED_PARTIES, True),
    (
        "POST",
        "/api/v1/advisory/requests/{submitted}/route",
        {"police_org_id": "{police}", "routing_note": "Please look."},
        {"coordinator"},
        SUBMITTED_PARTIES,
        True,
    ),
    (
        "POST",
        "/api/v1/advisory/requests/{submitted}/decline",
        {"decline_reason": "Not for us."},
        {"coordinator"},
        SUBMITTED_PARTIES,
        True,
    ),
    (
        "POST",
        "/api/v1/advisory/requests/{routed}/answer",
        "answer-json",
        {"police"},
        ROUTED_PARTIES,
        True,
    ),
    (
        "POST",
        "/api/v1/advisory/requests/{routed}/withdraw",
        None,
        {"requester"},
        ROUTED_PARTIES,
        True,
    ),
    ("GET", "/api/v1/advisory/annual-return", None, INSTITUTIONS | COORDINATORS, None, True),
]


def _fill(value, world):
    names = {
        "routed": world.routed.id,
        "submitted": world.submitted.id,
        "police": world.orgs["police"].id,
        "third_speaker": world.third_speaker.id,
    }
    if isinstance(value, str):
        return value.format(**{k: str(v) for k, v in names.items()})
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _expected_refusal(who: str, parties: set[str] | None) -> int:
    if parties is None or who in parties:
        return 403
    return 404


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed", "parties", "api"),
    MATRIX,
    ids=[f"{m} {p}" for m, p, *_ in MATRIX],
)
def test_permission_matrix(client, world, who, method, path, data, allowed, parties, api):
    client.sign_in(world.people[who])
    path = _fill(path, world)
    if data in ("answer-form", "answer-json"):
        data = _expiry()["form" if data == "answer-form" else "json"]
    data = _fill(data, world)
    before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    if api:
        response = client.api(method, path, json=data)
    elif method == "GET":
        response = client.get(path)
    else:
        response = client.submit("/account", data or {}, action=path)
    if who in allowed:
        assert response.status_code in (200, 201, 302), response.get_data(as_text=True)[:800]
        if response.status_code == 302:
            assert "/sign-in" not in response.headers["Location"]
        return
    expected = _expected_refusal(who, parties)
    assert response.status_code == expected, response.get_data(as_text=True)[:800]
    if api:
        assert response.mimetype == "application/problem+json"
    body = response.get_data(as_text=True)
    assert SPEAKER_NAME not in body and "Tobias Wrenfield" not in body
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert denied, "refusal was not audited"
    assert denied[-1].actor == f"person:{world.people[who].id}"


def test_hidden_and_missing_requests_answer_alike(client, world):
    client.sign_in(world.people["other_uni"])
    hidden = client.get(f"/advisory/{world.routed.id}")
    missing = client.get("/advisory/00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == missing.status_code == 404
    assert page_html(hidden) == page_html(missing)
    hidden = client.api("GET", f"/api/v1/advisory/requests/{world.routed.id}").get_json()
    missing = client.api(
        "GET", "/api/v1/advisory/requests/00000000-0000-4000-8000-000000000000"
    ).get_json()
    assert hidden == missing


@pytest.mark.parametrize("who", sorted(LISTERS))
def test_lists_show_only_the_requests_of_the_actors_side(client, world, who):
    client.sign_in(world.people[who])
    page = client.get("/advisory/").get_data(as_text=True)
    listing = client.api("GET", "/api/v1/advisory/requests").get_json()
    ids = {item["id"] for item in listing}
    expected = set()
    if who in SUBMITTED_PARTIES:
        expected.add(str(world.submitted.id))
    if who in ROUTED_PARTIES:
        expected.add(str(world.routed.id))
    assert ids == expected
    assert (SPEAKER_NAME in page) == (who in SUBMITTED_PARTIES)
    assert ("Tobias Wrenfield" in page) == (who in ROUTED_PARTIES)
