"""Risk assessment: the triage self-assessment, the local review and its banding, escalation to a
named senior officer, typed mitigations, and the task list's stages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.db import db
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.records.events import assessments
from hub.records.events import services as events
from hub.records.events.assessments import rating_for
from hub.records.models import (
    EventStatus,
    MitigationStatus,
    RiskRating,
    TriageQuestion,
    TriageResponse,
)
from partners.models import PersonRole, Role
from tests.conftest import audit_entries, last_seq
from tests.factories import REVIEW, all_no
from tests.records.worlds import EventWorld, advance

R = RiskRating


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


# --- banding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("likelihood", "impact", "rating"),
    [
        (1, 1, R.LOW), (2, 2, R.LOW), (1, 4, R.LOW), (4, 1, R.LOW),
        (1, 5, R.MEDIUM), (5, 1, R.MEDIUM), (2, 3, R.MEDIUM), (3, 3, R.MEDIUM),
        (2, 5, R.HIGH), (3, 4, R.HIGH), (4, 4, R.HIGH), (3, 5, R.HIGH),
        (4, 5, R.VERY_HIGH), (5, 4, R.VERY_HIGH), (5, 5, R.VERY_HIGH),
    ],
)  # fmt: skip
def test_documented_banding(likelihood, impact, rating):
    assert rating_for(likelihood, impact) == rating


ORDER = [R.LOW, R.MEDIUM, R.HIGH, R.VERY_HIGH]
SCALE = st.integers(min_value=1, max_value=5)


@given(SCALE, SCALE, SCALE, SCALE)
def test_rating_never_falls_as_likelihood_or_impact_rises(l1, i1, l2, i2):
    if l1 <= l2 and i1 <= i2:
        assert ORDER.index(rating_for(l1, i1)) <= ORDER.index(rating_for(l2, i2))
    assert rating_for(l1, i1) == rating_for(i1, l1)  # symmetric


@pytest.mark.parametrize(("likelihood", "impact"), [(0, 3), (3, 6), (-1, -1)])
def test_rating_outside_the_scale_is_an_error(likelihood, impact):
    with pytest.raises(ValueError, match="1 to 5"):
        rating_for(likelihood, impact)


# --- self-assessment --------------------------------------------------------------------


def test_self_assessment_saves_every_answer_and_completes_the_stage(world):
    event = advance(world, "draft")
    answers = {
        **all_no(),
        "touring_speaker": "yes",
        "touring_speaker_detail": "Speaking at three universities this month.",
    }
    before = last_seq()
    record = assessments.save_self_assessment(world.actor("events_officer"), event, answers)
    assert record.self_assessment.value == "completed"
    saved = {a.question: (a.answer, a.detail) for a in record.answers}
    assert len(saved) == len(TriageQuestion)
    assert saved[TriageQuestion.TOURING_SPEAKER] == (
        TriageResponse.YES,
        "Speaking at three universities this month.",
    )
    [entry] = audit_entries("assessment.update", before)
    assert json.loads(entry.details)["stage"] == "self_assessment"
    assert "touring_speaker" in json.loads(entry.fields)
    assert "three universities" not in entry.leaf.decode()


def test_self_assessment_can_be_changed_while_draft(world):
    event = advance(world, "assessed")
    before = last_seq()
    assessments.save_self_assessment(
        world.actor("events_officer"),
        event,
        {**all_no(), "segregation_demands": "unsure", "segregation_demands_detail": "A rumour."},
    )
    [entry] = audit_entries("assessment.update", before)
    assert json.loads(entry.fields) == ["segregation_demands"]


@pytest.mark.parametrize("answer", ["yes", "unsure"])
def test_yes_and_unsure_need_details(world, answer):
    event = advance(world, "draft")
    with pytest.raises(ValidationFailed) as caught:
        assessments.save_self_assessment(
            world.actor("events_officer"), event, {**all_no(), "unlawful_speech": answer}
        )
    word = "yes" if answer == "yes" else "not sure"
    assert caught.value.errors == {
        "unlawful_speech_detail": [
            f"Give details of why you answered '{word}' about risk of unlawful speech."
        ]
    }
    assert event.assessment.answers == []


def test_every_question_must_be_answered(world):
    event = advance(world, "draft")
    answers = all_no()
    del answers["proscribed_links"]
    answers["touring_speaker"] = "maybe"
    with pytest.raises(ValidationFailed) as caught:
        assessments.save_self_assessment(world.actor("events_officer"), event, answers)
    assert caught.value.errors["proscribed_links"] == [
        "Choose yes, no or not sure for links to a proscribed organisation."
    ]
    assert caught.value.errors["touring_speaker"][0].startswith(
        "Choose yes, no or not sure for a touring speaker from:"
    )


def test_self_assessment_is_locked_once_submitted(world):
    event = advance(world, "submitted")
    with pytest.raises(Conflict) as caught:
        assessments.save_self_assessment(world.actor("events_officer"), event, all_no())
    assert caught.value.detail == (
        "The self-assessment cannot change once the event is submitted; this event is submitted."
    )


@pytest.mark.parametrize("who", ["dpo", "auditor", "org_admin", "senior_officer"])
def test_readers_cannot_answer_the_self_assessment(world, who):
    event = advance(world, "draft")
    with pytest.raises(PermissionDenied):
        assessments.save_self_assessment(world.actor(who), event, all_no())


# --- local review -----------------------------------------------------------------------


def test_local_review_rates_and_moves_a_submitted_event_under_review(world):
    event = advance(world, "submitted")
    record = assessments.save_local_review(
        world.actor("prevent_lead"),
        event,
        {"likelihood": "4", "impact": "5", "review_notes": "A history of disorder."},
    )
    assert (record.likelihood, record.impact, record.rating) == (4, 5, R.VERY_HIGH)
    assert record.local_review.value == "completed"
    assert event.status == EventStatus.UNDER_REVIEW
    last = events.history(event)[-1]
    assert last.to_status == EventStatus.UNDER_REVIEW
    assert str(last.changed_by_id) == str(world.people["prevent_lead"].id)


def test_local_review_can_be_revised_while_under_review(world):
    event = advance(world, "under_review")
    assessments.save_local_review(
        world.actor("second_lead"), event, {**REVIEW, "likelihood": "1", "impact": "1"}
    )
    assert event.assessment.rating == R.LOW
    assert str(event.assessment.reviewed_by_id) == str(world.people["second_lead"].id)
    assert [c.to_status for c in events.history(event)].count(EventStatus.UNDER_REVIEW) == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"likelihood": "6"}, "likelihood", "The likelihood must be 5 or less."),
        ({"likelihood": "0"}, "likelihood", "The likelihood must be 1 or more."),
        ({"impact": ""}, "impact", "Enter the impact."),
        ({"impact": "high"}, "impact", "The impact must be a whole number, like 120."),
        ({"review_notes": ""}, "review_notes", "Enter your review notes."),
    ],
)
def test_local_review_bad_input(world, data, field, message):
    event = advance(world, "submitted")
    with pytest.raises(ValidationFailed) as caught:
        assessments.save_local_review(world.actor("prevent_lead"), event, {**REVIEW, **data})
    assert caught.value.errors == {field: [message]}
    assert event.status == EventStatus.SUBMITTED


def test_only_prevent_leads_review(world):
    event = advance(world, "submitted")
    with pytest.raises(PermissionDenied) as caught:
        assessments.save_local_review(world.actor("events_officer"), event, REVIEW)
    assert caught.value.detail == "Only a Prevent lead reviews events."


@pytest.mark.parametrize("stage", ["draft", "escalated", "decided"])
def test_local_review_only_while_submitted_or_under_review(world, stage):
    event = advance(world, stage)
    with pytest.raises(Conflict):
        assessments.save_local_review(world.actor("prevent_lead"), event, REVIEW)


# --- escalation -------------------------------------------------------------------------


def _escalation(world: EventWorld, who: str = "senior_officer", reason: str = "Contested topic."):
    return {"senior_officer_id": str(world.people[who].id), "escalation_reason": reason}


def test_escalation_names_the_senior_officer_and_designates_the_event(world):
    event = advance(world, "under_review")
    before = last_seq()
    record = assessments.escalate(world.actor("prevent_lead"), event, _escalation(world))
    assert event.status == EventStatus.ESCALATED
    assert event.designated is True
    assert str(event.senior_officer_id) == str(world.people["senior_officer"].id)
    assert record.escalation.value == "completed"
    assert record.escalation_reason == "Contested topic."
    [entry] = audit_entries("assessment.update", before)
    assert json.loads(entry.fields) == ["designated", "escalation_reason", "senior_officer_id"]
    assert "Contested" not in entry.leaf.decode()


def test_senior_officer_choices_are_the_host_organisations_senior_officers(world):
    event = advance(world, "under_review")
    choices = assessments.senior_officer_choices(world.actor("prevent_lead"), event)
    assert [str(p.id) for p in choices] == [str(world.people["senior_officer"].id)]


def test_a_senior_officer_escalating_is_never_offered_to_themselves(world):
    world.people["prevent_lead"].role_grants.append(PersonRole(role=Role.SENIOR_OFFICER))
    db.session.flush()
    event = advance(world, "under_review")
    choices = assessments.senior_officer_choices(world.actor("prevent_lead"), event)
    assert str(world.people["prevent_lead"].id) not in {str(p.id) for p in choices}
    assert str(world.people["senior_officer"].id) in {str(p.id) for p in choices}


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("prevent_lead", "Name a senior officer other than yourself."),
        ("dpo", "Choose a senior officer of your organisation."),
        ("b_prevent_lead", "Choose a senior officer of your organisation."),
    ],
)
def test_escalation_refuses_a_person_who_cannot_be_named(world, who, message):
    event = advance(world, "under_review")
    with pytest.raises(ValidationFailed) as caught:
        assessments.escalate(world.actor("prevent_lead"), event, _escalation(world, who))
    assert caught.value.errors == {"senior_officer_id": [message]}
    assert event.status == EventStatus.UNDER_REVIEW and not event.designated


def test_escalation_needs_a_reason_and_an_officer(world):
    event = advance(world, "under_review")
    with pytest.raises(ValidationFailed) as caught:
        assessments.escalate(world.actor("prevent_lead"), event, {})
    assert caught.value.errors == {
        "senior_officer_id": ["Choose the senior officer who will decide."],
        "escalation_reason": ["Enter the reason for escalating."],
    }


def test_escalation_needs_the_local_review(world):
    event = advance(world, "submitted")
    events.change_status(world.actor("prevent_lead"), event, {"status": "under_review"})
    with pytest.raises(Conflict) as caught:
        assessments.escalate(world.actor("prevent_lead"), event, _escalation(world))
    assert caught.value.detail == "Complete the local review before escalating the event."


def test_escalation_cannot_skip_the_review(world):
    event = advance(world, "submitted")
    with pytest.raises(Conflict) as caught:
        assessments.escalate(world.actor("prevent_lead"), event, _escalation(world))
    assert "cannot move straight to escalated" in caught.value.detail


def test_only_prevent_leads_escalate(world):
    event = advance(world, "under_review")
    with pytest.raises(PermissionDenied) as caught:
        assessments.escalate(world.actor("events_officer"), event, _escalation(world))
    assert caught.value.detail == "Only a Prevent lead escalates events."


# --- mitigations ------------------------------------------------------------------------


def test_mitigations_are_added_changed_and_removed_with_audit(world):
    event = advance(world, "under_review")
    actor = world.actor("events_officer")
    before = last_seq()
    item = assessments.add_mitigation(
        actor,
        event,
        {"type": "independent_chair", "owner_name": "Dr Chair Person", "description": "Chairs."},
    )
    assert item.status == MitigationStatus.PROPOSED
    assessments.update_mitigation(actor, event, item, {"status": "in_place"})
    assert item.status == MitigationStatus.IN_PLACE and item.owner_name == "Dr Chair Person"
    assessments.remove_mitigation(actor, event, item)
    assert event.assessment.mitigations == []
    changes = [json.loads(e.details)["change"] for e in audit_entries("assessment.update", before)]
    assert changes == ["add", "update", "remove"]
    for entry in audit_entries("assessment.update", before):
        assert "Dr Chair Person" not in entry.leaf.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"type": "moat", "owner_name": "X"}, "type", "Choose the kind of mitigation from: "),
        ({"type": "recording"}, "owner_name", "Enter who is responsible for it."),
        ({"type": "recording", "owner_name": "X", "status": "done"}, "status", "Choose where "),
    ],
)
def test_mitigation_bad_input(world, data, field, message):
    event = advance(world, "draft")
    with pytest.raises(ValidationFailed) as caught:
        assessments.add_mitigation(world.actor("events_officer"), event, data)
    assert caught.value.errors[field][0].startswith(message)


def test_mitigations_are_frozen_once_decided(world):
    event = advance(world, "decided")
    with pytest.raises(Conflict) as caught:
        assessments.add_mitigation(
            world.actor("events_officer"), event, {"type": "recording", "owner_name": "AV"}
        )
    assert caught.value.detail == "Mitigations cannot change once the event is decided."


def test_unknown_mitigation_is_not_found(world):
    event = advance(world, "draft")
    other = advance(world, "draft")
    theirs = assessments.add_mitigation(
        world.actor("events_officer"), other, {"type": "recording", "owner_name": "AV"}
    )
    with pytest.raises(NotFound):
        assessments.get_mitigation(event, theirs.id)
    with pytest.raises(NotFound):
        assessments.get_mitigation(event, "x")


def test_readers_cannot_change_mitigations(world):
    event = advance(world, "draft")
    with pytest.raises(PermissionDenied):
        assessments.add_mitigation(
            world.actor("auditor"), event, {"type": "recording", "owner_name": "AV"}
        )


# --- the task list ----------------------------------------------------------------------


def _states(event):
    return {stage.key: stage.status for stage in assessments.stages(event)}


def test_task_list_follows_the_workflow(world):
    event = advance(world, "draft")
    assert _states(event) == {
        "self": "not_started",
        "review": "cannot_start",
        "mitigations": "optional",
        "escalation": "cannot_start",
        "decision": "cannot_start",
    }
    assessments.save_self_assessment(world.actor("events_officer"), event, all_no())
    events.change_status(world.actor("events_officer"), event, {"status": "submitted"})
    assert _states(event)["self"] == "completed"
    assert _states(event)["review"] == "not_started"
    assessments.save_local_review(world.actor("prevent_lead"), event, REVIEW)
    assert _states(event)["escalation"] == "optional"
    assert _states(event)["decision"] == "not_started"
    assessments.escalate(world.actor("prevent_lead"), event, _escalation(world))
    assert _states(event)["escalation"] == "completed"
    withdrawn = advance(world, "submitted")
    events.change_status(world.actor("events_officer"), withdrawn, {"status": "withdrawn"})
    assert _states(withdrawn)["decision"] == "not_needed"


def test_mitigations_stage_is_in_progress_until_every_mitigation_is_settled(world):
    event = advance(world, "under_review")
    actor = world.actor("events_officer")
    item = assessments.add_mitigation(actor, event, {"type": "recording", "owner_name": "AV"})
    assert _states(event)["mitigations"] == "in_progress"
    assessments.update_mitigation(actor, event, item, {"status": "not_possible"})
    assert _states(event)["mitigations"] == "completed"
    hint = next(s.hint for s in assessments.stages(event) if s.key == "mitigations")
    assert hint == "1 recorded, 0 agreed or in place"
