"""Advisory requests: ask, route, decline, answer, withdraw; due dates; what each party sees."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.db import db
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.records.advisory import services as advisory
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    AdvisoryStatus,
    Rating,
)
from hub.records.speakers import services as speakers
from hub.records.working_days import add_working_days, is_working_day
from tests.conftest import actor_of, audit_entries
from tests.records.worlds import (
    ALIAS,
    EVENT_SYNOPSIS,
    SPEAKER_NAME,
    AdvisoryWorld,
    advisory_event,
    answer,
    route,
    submit,
)


@pytest.fixture
def world(advisory_world) -> AdvisoryWorld:
    return advisory_world


# --- the journey --------------------------------------------------------------------------


def test_submit_finds_the_regions_coordinator_and_sets_the_due_date(world):
    request = submit(world)
    assert request.coordinator_org_id == world.orgs["coordinator"].id
    assert request.status == AdvisoryStatus.SUBMITTED
    assert request.due_on == add_working_days(advisory.local_today(), 10)
    assert is_working_day(request.due_on)
    [entry] = audit_entries("advisory.submit")
    assert entry.resource_org == str(world.orgs["uni"].id)
    assert json.loads(entry.resource_ids) == [str(request.id)]
    assert SPEAKER_NAME not in entry.leaf.decode()
    assert "anything we should know" not in entry.leaf.decode()


def test_route_then_answer_creates_a_rating_owned_by_the_police(world):
    request = route(world, submit(world))
    assert request.status == AdvisoryStatus.ROUTED
    assert request.police_org_id == world.orgs["police"].id
    answer(world, request, rating="red")
    assert request.status == AdvisoryStatus.ANSWERED
    rating = db.session.get(AdvisoryRating, request.rating_id)
    assert rating.owner_org_id == world.orgs["police"].id
    assert rating.speaker_id == world.speaker.id
    assert rating.rating == Rating.RED
    assert rating.issued_on == advisory.local_today()
    for action in ("advisory.submit", "advisory.route", "advisory.answer"):
        assert len(audit_entries(action)) == 1, action
    assert json.loads(audit_entries("advisory.answer")[0].resource_ids) == sorted(
        [str(request.id), str(rating.id)]
    )


def test_decline_records_the_reason_the_institution_sees(world):
    request = advisory.decline_request(
        world.actor("coordinator"), submit(world), {"decline_reason": "Ask your own police."}
    )
    assert request.status == AdvisoryStatus.DECLINED
    view = advisory.describe(world.actor("requester"), request)
    assert view.decline_reason == "Ask your own police."
    assert len(audit_entries("advisory.decline")) == 1


def test_withdraw_before_the_answer_and_not_after(world):
    request = route(world, submit(world))
    advisory.withdraw_request(world.actor("requester"), request)
    assert request.status == AdvisoryStatus.WITHDRAWN
    with pytest.raises(Conflict, match="withdrawn"):
        answer(world, request)
    second = route(world, submit(world))
    answer(world, second)
    with pytest.raises(Conflict, match="answered"):
        advisory.withdraw_request(world.actor("requester"), second)


# --- bad input ----------------------------------------------------------------------------


def test_a_region_without_a_coordinator_is_a_clear_error(make_org, make_person):
    uni = make_org(kind="university", region="Nowhereshire")
    person = make_person(uni, ["events_officer"])
    speaker = speakers.create_speaker(
        actor_of(person), {"display_name": "Professor Tobias Wrenfield"}
    )
    with pytest.raises(ValidationFailed, match="no regional Prevent coordinator for the Nowhere"):
        advisory.submit_request(
            actor_of(person), {"speaker_id": str(speaker.id), "question": "Anything?"}
        )


def test_a_suspended_coordinator_is_not_sent_requests(world, system):
    from partners import services

    services.set_organisation_status(system, world.orgs["coordinator"], "suspended")
    with pytest.raises(ValidationFailed, match="no regional Prevent coordinator"):
        submit(world)


def test_another_organisations_speaker_is_not_found_and_the_refusal_is_audited(world):
    other = speakers.create_speaker(world.actor("other_uni"), {"display_name": "Mx Wren Ashdown"})
    with pytest.raises(NotFound) as caught:
        submit(world, speaker_id=str(other.id))
    assert caught.value.audit["resource_ids"] == [str(other.id)]
    with pytest.raises(NotFound) as missing:
        submit(world, speaker_id=str(uuid.uuid4()))
    assert missing.value.detail == caught.value.detail
    assert missing.value.audit is None


def test_another_organisations_event_is_not_found(world):
    theirs = advisory_event(world.actor("other_uni"))
    with pytest.raises(NotFound, match="no such event") as caught:
        submit(world, event_id=str(theirs.id))
    assert caught.value.audit["action"] == "event.read"


def test_a_second_open_request_about_the_same_speaker_is_refused(world):
    submit(world)
    with pytest.raises(ValidationFailed) as caught:
        submit(world)
    assert "already has an open advisory request" in caught.value.errors["speaker_id"][0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("question", "", "Enter your question."),
        ("question", "x" * 2001, "2,000 characters or fewer"),
        ("speaker_id", "", "Choose the speaker the question is about."),
    ],
)
def test_submission_fields_are_checked(world, field, value, message):
    with pytest.raises(ValidationFailed) as caught:
        submit(world, **{field: value})
    assert any(message in m for m in caught.value.errors[field])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdvisoryRequest)) == 0


def test_routing_only_to_a_listed_police_team(world):
    request = submit(world)
    with pytest.raises(ValidationFailed) as caught:
        advisory.route_request(
            world.actor("coordinator"),
            request,
            {"police_org_id": str(world.orgs["other_uni"].id), "routing_note": "x"},
        )
    assert caught.value.errors["police_org_id"] == [
        "Choose one of the police Prevent teams listed."
    ]
    with pytest.raises(ValidationFailed, match="Enter a note"):
        advisory.route_request(
            world.actor("coordinator"), request, {"police_org_id": str(world.orgs["police"].id)}
        )
    assert request.status == AdvisoryStatus.SUBMITTED


def test_police_teams_of_the_coordinators_region_are_listed_first(world, make_org):
    make_org(kind="police_prevent", region="Farshire", name="Aardvark Police Prevent")
    teams = advisory.police_options(submit(world))
    assert teams[0].id == world.orgs["police"].id
    assert {t.region for t in teams[1:]} == {"Farshire"}


def test_routing_twice_is_a_conflict(world):
    request = route(world, submit(world))
    with pytest.raises(Conflict, match="with police"):
        route(world, request)


@pytest.mark.parametrize(
    ("expires_on", "message"),
    [
        (lambda today: today, "must be in the future"),
        (lambda today: today + timedelta(days=2 * 366 + 1), "at most 2 years"),
        (lambda today: "2027-02-30", "must be a real date"),
    ],
)
def test_rating_expiry_is_checked(world, expires_on, message):
    request = route(world, submit(world))
    value = expires_on(advisory.local_today())
    with pytest.raises(ValidationFailed) as caught:
        answer(world, request, expires_on=value if isinstance(value, str) else value.isoformat())
    assert message in caught.value.errors["expires_on"][0]
    assert request.status == AdvisoryStatus.ROUTED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdvisoryRating)) == 0


def test_rating_must_be_red_amber_or_green(world):
    request = route(world, submit(world))
    with pytest.raises(ValidationFailed) as caught:
        answer(world, request, rating="purple")
    assert caught.value.errors["rating"] == ["Choose a rating from: red, amber, green."]


def test_the_coordinator_cannot_answer_and_police_cannot_route(world):
    request = submit(world)
    with pytest.raises(PermissionDenied):
        advisory.withdraw_request(world.actor("dpo"), request)
    routed = route(world, request)
    with pytest.raises(PermissionDenied):
        advisory.answer_request(
            world.actor("coordinator"), routed, {"rating": "green", "rationale": "x"}
        )


# --- due dates and dashboards -------------------------------------------------------------


def _make_overdue(request: AdvisoryRequest) -> None:
    request.submitted_at = datetime.now(UTC) - timedelta(days=30)
    request.due_on = advisory.local_today() - timedelta(days=1)
    db.session.flush()


def test_overdue_requests_are_flagged_for_requester_coordinator_and_routed_police(world):
    waiting = submit(world)
    _make_overdue(waiting)
    assert advisory.overdue_for(world.actor("requester")) == [waiting]
    assert advisory.overdue_for(world.actor("coordinator")) == [waiting]
    assert advisory.overdue_for(world.actor("police")) == []
    route(world, waiting)
    assert advisory.overdue_for(world.actor("police")) == [waiting]
    for outsider in ("other_uni", "other_coordinator", "other_police", "auditor"):
        assert advisory.overdue_for(world.actor(outsider)) == [], outsider
        assert advisory.open_for(world.actor(outsider)) == [], outsider
    answer(world, waiting)
    assert advisory.overdue_for(world.actor("requester")) == []
    assert advisory.open_for(world.actor("requester")) == []


def test_a_request_due_today_is_open_but_not_overdue(world):
    request = submit(world)
    request.due_on = advisory.local_today()
    assert advisory.open_for(world.actor("coordinator")) == [request]
    assert advisory.overdue_for(world.actor("coordinator")) == []


# --- what each side sees ------------------------------------------------------------------


def test_the_routing_note_is_hidden_from_the_requester_and_ids_from_the_others(world):
    request = route(world, submit(world))
    mine = advisory.describe(world.actor("requester"), request)
    assert mine.routing_note is None
    assert mine.speaker_id == str(world.speaker.id)
    for side in ("coordinator", "police"):
        theirs = advisory.describe(world.actor(side), request)
        assert theirs.routing_note == "Please advise on the speaker."
        assert theirs.speaker_id is None and theirs.event_id is None
        assert theirs.speaker_name == SPEAKER_NAME
        assert theirs.speaker_aliases == [ALIAS]
        assert theirs.event_title == "Lanterns and Liberty"


def test_coordinator_reads_are_audited_as_disclosures_with_field_names(world):
    request = submit(world)
    advisory.get_request(world.actor("coordinator"), request.id)
    [entry] = audit_entries("advisory.read")
    assert entry.actor == f"person:{world.people['coordinator'].id}"
    assert entry.resource_org == str(world.orgs["uni"].id)
    assert "speaker.display_name" in json.loads(entry.fields)
    assert "event.title" in json.loads(entry.fields)
    assert SPEAKER_NAME not in entry.leaf.decode()
    advisory.get_request(world.actor("requester"), request.id)
    assert len(audit_entries("advisory.read")) == 1  # the owner's own read is not a disclosure


def test_pages_show_the_coordinator_the_minimum(world, client):
    request = submit(world)
    db.session.flush()
    client.sign_in(world.people["coordinator"])
    page = client.get(f"/advisory/{request.id}").get_data(as_text=True)
    assert SPEAKER_NAME in page and ALIAS in page
    assert "Lanterns and Liberty" in page
    assert EVENT_SYNOPSIS not in page
    assert "Lantern Society" not in page and "Hall 3" not in page
    assert f"/events/{world.event.id}" not in page
    client.sign_out()
    client.sign_in(world.people["requester"])
    page = client.get(f"/advisory/{request.id}").get_data(as_text=True)
    assert f'href="/events/{world.event.id}"' in page


# --- pages and API ------------------------------------------------------------------------


def test_the_whole_journey_through_the_pages(world, new_client):
    requester = new_client()
    requester.sign_in(world.people["requester"])
    response = requester.submit(
        "/advisory/new",
        {"speaker_id": str(world.speaker.id), "event_id": "", "question": "Any concerns?"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    request_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert "due by" in requester.get(response.headers["Location"]).get_data(as_text=True)

    coordinator = new_client()
    coordinator.sign_in(world.people["coordinator"])
    listing = coordinator.get("/advisory/").get_data(as_text=True)
    assert SPEAKER_NAME in listing
    page = coordinator.get(f"/advisory/{request_id}/route").get_data(as_text=True)
    assert page.index(world.orgs["police"].name) < page.index(world.orgs["far_police"].name)
    response = coordinator.submit(
        f"/advisory/{request_id}/route",
        {"police_org_id": str(world.orgs["police"].id), "routing_note": "For your view."},
    )
    assert response.status_code == 302

    police = new_client()
    police.sign_in(world.people["police"])
    expiry = advisory.local_today() + timedelta(days=90)
    response = police.submit(
        f"/advisory/{request_id}/answer",
        {
            "rating": "green",
            "rationale": "Nothing known.",
            "expires_on-day": str(expiry.day),
            "expires_on-month": str(expiry.month),
            "expires_on-year": str(expiry.year),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = requester.get(f"/advisory/{request_id}").get_data(as_text=True)
    # The institution that asked gets the rating, never the police's rationale.
    assert "Green" in page and "Nothing known." not in page
    assert "For your view." not in page


def test_form_errors_are_shown_in_the_error_summary(world, client):
    client.sign_in(world.people["requester"])
    response = client.submit("/advisory/new", {"speaker_id": str(world.speaker.id)})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and "Enter your question." in page


def test_answer_form_errors_keep_the_date_typed(world, client):
    request = route(world, submit(world))
    client.sign_in(world.people["police"])
    response = client.submit(
        f"/advisory/{request.id}/answer",
        {"rating": "amber", "rationale": "", "expires_on-day": "40", "expires_on-month": "1",
         "expires_on-year": "2027"},
    )  # fmt: skip
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter the reasons for the rating." in page
    assert "must be a real date" in page
    assert 'value="40"' in page


def test_a_step_in_the_wrong_state_is_explained_on_the_request_page(world, client):
    request = submit(world)
    advisory.withdraw_request(world.actor("requester"), request)
    client.sign_in(world.people["coordinator"])
    response = client.get(f"/advisory/{request.id}/route")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "This request is withdrawn, so it cannot be routed now." in page


def test_the_api_journey(world, new_client):
    requester = new_client()
    requester.sign_in(world.people["requester"])
    response = requester.api(
        "POST",
        "/api/v1/advisory/requests",
        json={"speaker_id": str(world.speaker.id), "question": "Any concerns?"},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "submitted" and body["side"] == "requester"
    assert body["speaker_id"] == str(world.speaker.id)
    request_id = body["id"]

    coordinator = new_client()
    coordinator.sign_in(world.people["coordinator"])
    body = coordinator.api(
        "POST",
        f"/api/v1/advisory/requests/{request_id}/route",
        json={"police_org_id": str(world.orgs["police"].id), "routing_note": "Over to you."},
    ).get_json()
    assert body["status"] == "routed" and body["speaker_id"] is None

    police = new_client()
    police.sign_in(world.people["police"])
    response = police.api(
        "POST",
        f"/api/v1/advisory/requests/{request_id}/answer",
        json={"rating": "purple", "rationale": "x", "expires_on": "2027-01-01"},
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    expiry = (advisory.local_today() + timedelta(days=30)).isoformat()
    body = police.api(
        "POST",
        f"/api/v1/advisory/requests/{request_id}/answer",
        json={"rating": "amber", "rationale": "Use a chair.", "expires_on": expiry},
    ).get_json()
    assert body["status"] == "answered"
    assert body["rating"] == {
        "rating": "amber",
        "rationale": "Use a chair.",
        "issued_on": advisory.local_today().isoformat(),
        "expires_on": expiry,
        "issuer_name": world.orgs["police"].name,
        "basis": "own",
    }
    # The institution that asked gets the rating and its dates, never the rationale.
    asked = requester.api("GET", f"/api/v1/advisory/requests/{request_id}").get_json()
    assert asked["rating"]["rating"] == "amber" and asked["rating"]["rationale"] is None
    assert asked["rating"]["basis"] == "advisory_answer"
    response = requester.api("POST", f"/api/v1/advisory/requests/{request_id}/withdraw")
    assert response.status_code == 409
    listing = requester.api("GET", "/api/v1/advisory/requests").get_json()
    assert [item["id"] for item in listing] == [request_id]


def test_dashboard_items_put_overdue_first_and_carry_no_speaker(world):
    waiting = submit(world)
    other = speakers.create_speaker(world.actor("requester"), {"display_name": "Ms Ivy Loam"})
    late = submit(world, speaker_id=str(other.id), event_id="")
    _make_overdue(late)
    items = advisory.dashboard_items(world.actor("coordinator"))
    assert [item.id for item in items] == [str(late.id), str(waiting.id)]
    assert [item.overdue for item in items] == [True, False]
    assert items[0].requesting_org == world.orgs["uni"].name
    assert SPEAKER_NAME not in repr(items) and "Ivy Loam" not in repr(items)
    assert advisory.dashboard_items(world.actor("other_coordinator")) == []
