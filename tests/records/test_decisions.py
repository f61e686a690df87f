"""Decisions and appeals: the freedom-of-speech guardrail, who decides, dates, a second
decision, appeals with their deadline and outcome, and the audit of each."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import db
from core.errors import Conflict, PermissionDenied, ValidationFailed
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.models import (
    AppealOutcome,
    Decision,
    EventStatus,
    MitigationConsidered,
    Outcome,
    ReasonCategory,
)
from hub.records.working_days import add_working_days
from tests.conftest import audit_entries, last_seq
from tests.factories import all_no, event_data
from tests.records.worlds import EventWorld, advance


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


def today() -> str:
    return events.local_today().isoformat()


def rejection(**overrides) -> dict:
    data = {
        "outcome": "rejected",
        "rationale": "The venue cannot hold the expected protest safely.",
        "decided_on": today(),
        "lawful_speech_finding": "The speech would be lawful; the safety risk is the issue.",
        "reason_category": "health_and_safety",
        "mitigations_considered": [
            {"type": "stewards_security", "why_insufficient": "No stewards can be found."},
            {"type": "ticketing_id_checks", "why_insufficient": "Open-air venue."},
        ],
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(Decision)),
        db.session.scalar(sa.select(sa.func.count()).select_from(MitigationConsidered)),
    )


# --- the guardrail ----------------------------------------------------------------------


def test_a_complete_rejection_is_saved_with_everything_it_records(world):
    event = advance(world, "under_review")
    decision = decisions.record_decision(world.actor("prevent_lead"), event, rejection())
    assert decision.outcome == Outcome.REJECTED
    assert decision.reason_category == ReasonCategory.HEALTH_AND_SAFETY
    assert decision.lawful_speech_finding.startswith("The speech would be lawful")
    assert sorted((c.type.value, c.why_insufficient) for c in decision.considered) == [
        ("stewards_security", "No stewards can be found."),
        ("ticketing_id_checks", "Open-air venue."),
    ]
    assert event.status == EventStatus.DECIDED and event.outcome == Outcome.REJECTED


GUARDRAIL_MESSAGES = {
    "lawful_speech_finding": (
        "A rejection must record the finding on lawful speech: why the speech would be "
        "unlawful, or why the risk could not be mitigated."
    ),
    "mitigations_considered": (
        "A rejection must record which mitigations were considered and why each was not "
        "enough: choose at least one."
    ),
    "reason_category": (
        "A rejection must record a reason category: health and safety, procedural, Prevent "
        "or other."
    ),
}
PIECES = list(GUARDRAIL_MESSAGES)


@pytest.mark.parametrize(
    "missing",
    [combo for n in range(1, 4) for combo in itertools.combinations(PIECES, n)],
    ids=lambda combo: "+".join(combo),
)
def test_each_missing_piece_of_the_guardrail_is_named_and_nothing_is_saved(world, missing):
    event = advance(world, "under_review")
    before = counts()
    data = rejection(
        **{piece: ([] if piece == "mitigations_considered" else "") for piece in missing}
    )
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(world.actor("prevent_lead"), event, data)
    assert caught.value.errors == {piece: [GUARDRAIL_MESSAGES[piece]] for piece in missing}
    assert counts() == before
    assert event.status == EventStatus.UNDER_REVIEW and event.outcome is None


def test_every_considered_mitigation_needs_its_reason(world):
    event = advance(world, "under_review")
    data = rejection(
        mitigations_considered=[
            {"type": "stewards_security", "why_insufficient": "None available."},
            {"type": "independent_chair", "why_insufficient": "   "},
            {"type": "recording"},
        ]
    )
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(world.actor("prevent_lead"), event, data)
    assert caught.value.errors == {
        "why_independent_chair": ["Say why 'Independent chair' was not enough."],
        "why_recording": ["Say why 'Recording the event' was not enough."],
    }


@pytest.mark.parametrize(
    ("considered", "message"),
    [
        ([{"type": "moat", "why_insufficient": "x"}], "'moat' is not a kind of mitigation"),
        ([{"type": "recording", "why_insufficient": "a"}, {"type": "recording",
          "why_insufficient": "b"}], "'Recording the event' is listed more than once."),
        ("stewards", "Give the mitigations considered as a list."),
        (["recording"], "Give each mitigation considered as its type and why it was not enough."),
    ],
)  # fmt: skip
def test_malformed_mitigations_considered(world, considered, message):
    event = advance(world, "under_review")
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"), event, rejection(mitigations_considered=considered)
        )
    assert caught.value.errors["mitigations_considered"][0].startswith(message)


def test_unknown_reason_category_is_named(world):
    event = advance(world, "under_review")
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"), event, rejection(reason_category="politics")
        )
    assert caught.value.errors["reason_category"] == [
        "Choose the reason category from: health_and_safety, procedural, prevent, other."
    ]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    finding=st.sampled_from(["", "  ", "Lawful, but unsafe."]),
    reasons=st.lists(st.sampled_from(["", " ", "Not enough stewards."]), max_size=3),
    category=st.sampled_from(["", "prevent", "other"]),
)
def test_a_rejection_is_saved_if_and_only_if_the_guardrail_is_complete(
    world, finding, reasons, category
):
    event = advance(world, "under_review")
    kinds = ["stewards_security", "independent_chair", "recording"]
    considered = [
        {"type": kind, "why_insufficient": reason}
        for kind, reason in zip(kinds, reasons, strict=False)
    ]
    complete = bool(finding.strip()) and bool(category) and bool(considered)
    complete = complete and all(item["why_insufficient"].strip() for item in considered)
    before = counts()
    data = rejection(
        lawful_speech_finding=finding, reason_category=category, mitigations_considered=considered
    )
    try:
        decisions.record_decision(world.actor("prevent_lead"), event, data)
    except ValidationFailed:
        assert not complete
        assert counts() == before and event.status == EventStatus.UNDER_REVIEW
    else:
        assert complete
        assert event.status == EventStatus.DECIDED


def test_other_outcomes_do_not_need_the_guardrail(world):
    event = advance(world, "under_review")
    decision = decisions.record_decision(
        world.actor("prevent_lead"),
        event,
        {"outcome": "postponed", "rationale": "The speaker is unwell.", "decided_on": today()},
    )
    assert decision.considered == [] and decision.reason_category is None


def test_approval_with_conditions_needs_the_conditions(world):
    event = advance(world, "under_review")
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"),
            event,
            {"outcome": "approved_with_conditions", "rationale": "R", "decided_on": today()},
        )
    assert caught.value.errors == {"conditions": ["Enter the conditions the event must meet."]}


# --- who and when -----------------------------------------------------------------------


def test_decision_date_cannot_be_in_the_future(world):
    event = advance(world, "under_review")
    tomorrow = (events.local_today() + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": tomorrow},
        )
    assert caught.value.errors == {
        "decided_on": ["The date of the decision cannot be in the future."]
    }


def test_decision_date_cannot_be_before_submission(world):
    event = advance(world, "under_review")
    earlier = events.local_today() - timedelta(days=1)
    with pytest.raises(ValidationFailed) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": earlier.isoformat()},
        )
    submitted = decisions.long_date(events.local_date(event.submitted_at))
    assert caught.value.errors == {
        "decided_on": [
            f"The date of the decision cannot be before the event was submitted on {submitted}."
        ]
    }


def test_a_second_decision_is_refused(world):
    event = advance(world, "under_review")
    approve = {"outcome": "approved", "rationale": "R", "decided_on": today()}
    decisions.record_decision(world.actor("prevent_lead"), event, approve)
    with pytest.raises(Conflict) as caught:
        decisions.record_decision(world.actor("second_lead"), event, approve)
    assert caught.value.detail == (
        "A decision has already been recorded for this event. To change it, lodge an appeal."
    )
    assert caught.value.audit["action"] == "decision.record"
    assert len(event.decisions) == 1


def test_a_decision_cannot_skip_the_review(world):
    event = advance(world, "submitted")
    with pytest.raises(Conflict) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": today()},
        )
    assert caught.value.detail == (
        "An event that is submitted can next be under review or withdrawn; it cannot move "
        "straight to decided."
    )


@pytest.mark.parametrize("who", ["prevent_lead", "second_lead", "events_officer", "org_admin"])
def test_only_the_named_senior_officer_decides_a_designated_event(world, who):
    event = advance(world, "escalated")
    with pytest.raises(PermissionDenied) as caught:
        decisions.record_decision(
            world.actor(who),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": today()},
        )
    assert caught.value.detail == (
        "Only the senior officer named when the event was escalated can decide it."
    )
    decision = decisions.record_decision(
        world.actor("senior_officer"),
        event,
        {"outcome": "approved", "rationale": "R", "decided_on": today()},
    )
    assert str(decision.decided_by_id) == str(world.people["senior_officer"].id)


def test_events_officers_do_not_decide(world):
    event = advance(world, "under_review")
    with pytest.raises(PermissionDenied) as caught:
        decisions.record_decision(
            world.actor("events_officer"),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": today()},
        )
    assert caught.value.detail == "Only a Prevent lead decides events."


def test_decision_is_audited_with_field_names_and_codes_only(world):
    event = advance(world, "under_review")
    before = last_seq()
    decision = decisions.record_decision(world.actor("prevent_lead"), event, rejection())
    [entry] = audit_entries("decision.record", before)
    details = json.loads(entry.details)
    assert details["decision_outcome"] == "rejected"
    assert details["reason_category"] == "health_and_safety"
    assert details["decision_id"] == str(decision.id)
    assert json.loads(entry.fields) == sorted(
        [
            "outcome",
            "rationale",
            "decided_on",
            "lawful_speech_finding",
            "mitigations_considered",
            "reason_category",
        ]
    )
    leaf = entry.leaf.decode()
    for text in ("venue cannot hold", "No stewards", "speech would be lawful"):
        assert text not in leaf


# --- the proportionate path -------------------------------------------------------------


def test_mitigations_in_place_suggest_approval_with_conditions(world):
    event = advance(world, "under_review")
    assert decisions.suggested_outcome(event) is None
    actor = world.actor("events_officer")
    assessments.add_mitigation(
        actor, event, {"type": "recording", "owner_name": "AV team", "status": "proposed"}
    )
    assert decisions.suggested_outcome(event) is None  # only proposed
    assessments.add_mitigation(
        actor,
        event,
        {
            "type": "independent_chair",
            "owner_name": "Dr Chair Person",
            "status": "agreed",
            "description": "Chairs the Q&A.",
        },
    )
    assert decisions.suggested_outcome(event) == Outcome.APPROVED_WITH_CONDITIONS
    assert decisions.conditions_from_mitigations(event) == (
        "Independent chair (Dr Chair Person, agreed): Chairs the Q&A."
    )


# --- appeals ----------------------------------------------------------------------------


def _decided_by_lead(world: EventWorld, **overrides):
    event = advance(world, "under_review")
    data = {"outcome": "approved_with_conditions", "conditions": "A chair.", "rationale": "R"}
    decisions.record_decision(
        world.actor("prevent_lead"), event, {**data, "decided_on": today(), **overrides}
    )
    return event


def test_appeal_deadline_defaults_to_ten_working_days(world):
    event = _decided_by_lead(world)
    before = last_seq()
    appeal = decisions.lodge_appeal(
        world.actor("events_officer"), event, {"grounds": "Too strict."}
    )
    assert appeal.deadline == add_working_days(events.local_today(), 10)
    assert appeal.outcome == AppealOutcome.PENDING
    [entry] = audit_entries("appeal.lodge", before)
    assert "Too strict" not in entry.leaf.decode()


def test_appeal_bad_input(world):
    event = _decided_by_lead(world)
    yesterday = (events.local_today() - timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as caught:
        decisions.lodge_appeal(
            world.actor("events_officer"), event, {"grounds": "", "deadline": yesterday}
        )
    assert caught.value.errors == {
        "grounds": ["Enter the grounds for the appeal."],
        "deadline": ["The deadline for deciding the appeal must be today or later."],
    }


def test_only_a_decided_event_can_be_appealed_once_at_a_time(world):
    undecided = advance(world, "under_review")
    with pytest.raises(Conflict) as caught:
        decisions.lodge_appeal(world.actor("events_officer"), undecided, {"grounds": "G"})
    assert caught.value.detail == "Only a decided event can be appealed."
    event = _decided_by_lead(world)
    decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    with pytest.raises(Conflict) as twice:
        decisions.lodge_appeal(world.actor("prevent_lead"), event, {"grounds": "G again"})
    assert (
        twice.value.detail == "An appeal against this decision is already waiting for its outcome."
    )


def test_upheld_appeal_keeps_the_decision(world):
    event = _decided_by_lead(world)
    appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    before = last_seq()
    decisions.decide_appeal(
        world.actor("second_lead"), event, appeal, {"appeal_outcome": "upheld", "rationale": "R"}
    )
    assert appeal.outcome == AppealOutcome.UPHELD
    assert len(event.decisions) == 1 and not event.decisions[0].superseded_by_appeal
    assert event.outcome == Outcome.APPROVED_WITH_CONDITIONS
    assert [e.action for e in audit_entries("appeal.decide", before)] == ["appeal.decide"]
    with pytest.raises(Conflict) as again:
        decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    assert (
        again.value.detail == "This decision has already been appealed, and the appeal was upheld."
    )


def test_overturned_appeal_records_a_new_decision(world):
    event = _decided_by_lead(world)
    original = event.decisions[0]
    appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    before = last_seq()
    decisions.decide_appeal(
        world.actor("second_lead"),
        event,
        appeal,
        {
            "appeal_outcome": "overturned",
            "rationale": "No chair needed.",
            "new_outcome": "approved",
        },
    )
    assert original.superseded_by_appeal
    current = decisions.current_decision(event)
    assert current is not original and current.outcome == Outcome.APPROVED
    assert current.rationale == "No chair needed."
    assert event.outcome == Outcome.APPROVED and event.status == EventStatus.DECIDED
    [entry] = audit_entries("decision.record", before)
    assert json.loads(entry.details)["via"] == "appeal"


def test_overturning_needs_a_different_outcome_and_a_rejection_the_guardrail(world):
    event = _decided_by_lead(world)
    appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    with pytest.raises(ValidationFailed) as same:
        decisions.decide_appeal(
            world.actor("second_lead"),
            event,
            appeal,
            {
                "appeal_outcome": "overturned",
                "rationale": "R",
                "new_outcome": "approved_with_conditions",
                "conditions": "A chair.",
            },
        )
    assert same.value.errors == {
        "new_outcome": [
            "An overturned decision needs a different outcome from 'Approved with conditions'."
        ]
    }
    with pytest.raises(ValidationFailed) as unguarded:
        decisions.decide_appeal(
            world.actor("second_lead"),
            event,
            appeal,
            {"appeal_outcome": "overturned", "rationale": "R", "new_outcome": "rejected"},
        )
    assert set(unguarded.value.errors) == set(GUARDRAIL_MESSAGES)
    assert appeal.outcome == AppealOutcome.PENDING and len(event.decisions) == 1


def test_varied_appeal_changes_the_conditions(world):
    event = _decided_by_lead(world)
    appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    decisions.decide_appeal(
        world.actor("second_lead"),
        event,
        appeal,
        {
            "appeal_outcome": "varied",
            "rationale": "Stewards instead of a chair.",
            "new_outcome": "approved_with_conditions",
            "conditions": "Two stewards.",
        },
    )
    assert decisions.current_decision(event).conditions == "Two stewards."


def test_the_original_decision_maker_cannot_decide_the_appeal(world):
    event = _decided_by_lead(world)
    appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    with pytest.raises(PermissionDenied) as caught:
        decisions.decide_appeal(
            world.actor("prevent_lead"),
            event,
            appeal,
            {"appeal_outcome": "upheld", "rationale": "R"},
        )
    assert caught.value.detail.startswith("An appeal must be decided by someone other than")
    with pytest.raises(PermissionDenied):
        decisions.decide_appeal(
            world.actor("events_officer"),
            event,
            appeal,
            {"appeal_outcome": "upheld", "rationale": "R"},
        )


def test_appeal_outcome_must_be_a_decided_one(world):
    event = _decided_by_lead(world)
    appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
    with pytest.raises(ValidationFailed) as caught:
        decisions.decide_appeal(
            world.actor("second_lead"),
            event,
            appeal,
            {"appeal_outcome": "pending", "rationale": ""},
        )
    assert caught.value.errors == {
        "appeal_outcome": ["Choose whether the decision is upheld, overturned or varied."],
        "rationale": ["Enter the rationale for the appeal's outcome."],
    }


# --- over the API -----------------------------------------------------------------------


def test_api_rejection_without_the_guardrail_is_a_problem_listing_each_piece(client, world):
    event = advance(world, "under_review")
    client.sign_in(world.people["prevent_lead"])
    response = client.api(
        "POST",
        f"/api/v1/events/{event.id}/decisions",
        json={"outcome": "rejected", "rationale": "R", "decided_on": today()},
    )
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["errors"] == {piece: [GUARDRAIL_MESSAGES[piece]] for piece in PIECES}
    assert problem["type"].endswith("/validation-failed")


def test_api_second_decision_is_a_409_problem(client, world):
    event = advance(world, "decided")
    client.sign_in(world.people["senior_officer"])
    response = client.api(
        "POST",
        f"/api/v1/events/{event.id}/decisions",
        json={"outcome": "approved", "rationale": "R", "decided_on": today()},
    )
    assert response.status_code == 409
    assert response.get_json()["detail"].startswith("A decision has already been recorded")


def test_api_full_workflow(client, world, new_client):
    organiser = new_client()
    organiser.sign_in(world.people["events_officer"])
    body = {
        **event_data(),
        "branded_or_funded": True,
        "expected_size": 80,
        "recorded": False,
        "streamed": False,
        "new_speakers": ["Dr Ember Quillfeather"],
    }
    created = organiser.api("POST", "/api/v1/events", json=body)
    assert created.status_code == 201, created.get_json()
    event = created.get_json()
    assert event["status"] == "draft" and event["speakers"][0]["display_name"] == (
        "Dr Ember Quillfeather"
    )
    path = f"/api/v1/events/{event['id']}"
    assert (
        organiser.api("PUT", path + "/assessment/self-assessment", json=all_no()).status_code == 200
    )
    submitted = organiser.api("POST", path + "/status", json={"status": "submitted"})
    assert submitted.get_json()["status"] == "submitted"
    assert submitted.get_json()["lead_time_days"] >= 29

    lead = new_client()
    lead.sign_in(world.people["prevent_lead"])
    review = {"likelihood": 3, "impact": 4, "review_notes": "Contested."}
    reviewed = lead.api("PUT", path + "/assessment/local-review", json=review)
    assert reviewed.get_json()["rating"] == "high"
    choices = lead.api("GET", path + "/assessment/escalation").get_json()
    officer = str(world.people["senior_officer"].id)
    assert officer in {c["id"] for c in choices}
    escalated = lead.api(
        "POST",
        path + "/assessment/escalation",
        json={"senior_officer_id": officer, "escalation_reason": "Large audience."},
    )
    assert escalated.status_code == 200
    # The lead may no longer decide; the officer must decide through a decision, not a status.
    assert lead.api("POST", path + "/status", json={"status": "decided"}).status_code == 403

    decider = new_client()
    decider.sign_in(world.people["senior_officer"])
    skipped = decider.api("POST", path + "/status", json={"status": "decided"})
    assert skipped.status_code == 409
    assert skipped.get_json()["detail"].startswith("An event is decided only by recording")
    decided = decider.api(
        "POST",
        path + "/decisions",
        json={
            "outcome": "approved_with_conditions",
            "conditions": "A chair.",
            "rationale": "Lawful.",
            "decided_on": today(),
        },
    )
    assert decided.status_code == 201, decided.get_json()
    detail = decider.api("GET", path).get_json()
    assert detail["outcome"] == "approved_with_conditions" and detail["designated"] is True
    assert [h["to_status"] for h in detail["history"]] == [
        "draft",
        "submitted",
        "under_review",
        "escalated",
        "decided",
    ]
    assert detail["decisions"][0]["decided_by_id"] == officer


def test_api_unknown_fields_and_wrong_types_are_422(client, world):
    client.sign_in(world.people["events_officer"])
    response = client.api("POST", "/api/v1/events", json={"title": "T", "colour": "blue"})
    assert response.status_code == 422
    assert "colour" in response.get_json()["errors"]
    response = client.api("POST", "/api/v1/events", json={"expected_size": "many"})
    assert response.status_code == 422
