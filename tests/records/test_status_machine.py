"""The event status machine: draft -> submitted -> under_review -> escalated -> decided, or
withdrawn; every step recorded with who and when; skipped steps and changes to final events
refused with a specific message; random sequences never reach an invalid state."""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import db
from core.errors import Conflict, HubError, PermissionDenied, ValidationFailed
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.models import Event, EventStatus, Outcome
from tests.conftest import audit_entries, last_seq
from tests.factories import REVIEW, all_no, event_data, local_moment
from tests.records.worlds import EventWorld, advance

S = EventStatus


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


def test_happy_path_records_each_step_with_who_and_when(world):
    event = advance(world, "decided")
    changes = events.history(event)
    assert [(c.from_status, c.to_status) for c in changes] == [
        (None, S.DRAFT),
        (S.DRAFT, S.SUBMITTED),
        (S.SUBMITTED, S.UNDER_REVIEW),
        (S.UNDER_REVIEW, S.ESCALATED),
        (S.ESCALATED, S.DECIDED),
    ]
    who = [str(c.changed_by_id) for c in changes]
    people = world.people
    assert who == [
        str(people["events_officer"].id),
        str(people["events_officer"].id),
        str(people["prevent_lead"].id),
        str(people["prevent_lead"].id),
        str(people["senior_officer"].id),
    ]
    times = [c.changed_at for c in changes]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert event.submitted_at is not None


def test_each_step_is_audited_with_the_statuses_as_codes(world):
    event = advance(world, "assessed")
    before = last_seq()
    events.change_status(
        world.actor("events_officer"), event, {"status": "submitted", "note": "Ready for review"}
    )
    [entry] = audit_entries("event.status", before)
    details = json.loads(entry.details)
    assert (details["from_status"], details["to_status"]) == ("draft", "submitted")
    assert json.loads(entry.fields) == ["note", "status"]
    assert "Ready for review" not in entry.leaf.decode()


# (from stage, target, message) for every step the machine refuses.
REFUSED = [
    ("assessed", S.UNDER_REVIEW, "An event that is in draft can next be submitted or withdrawn; "
     "it cannot move straight to under review."),
    ("assessed", S.DRAFT, "This event is already in draft."),
    ("submitted", S.DRAFT, "An event that is submitted can next be under review or withdrawn; "
     "it cannot move straight to in draft."),
    ("submitted", S.SUBMITTED, "This event is already submitted."),
    ("under_review", S.SUBMITTED, "An event that is under review can next be escalated or "
     "decided or withdrawn; it cannot move straight to submitted."),
    ("escalated", S.UNDER_REVIEW, "An event that is escalated can next be decided or withdrawn; "
     "it cannot move straight to under review."),
    ("decided", S.WITHDRAWN, "This event has been decided, so its status cannot change. "
     "To challenge the decision, lodge an appeal."),
    ("decided", S.SUBMITTED, "This event has been decided, so its status cannot change. "
     "To challenge the decision, lodge an appeal."),
]  # fmt: skip


@pytest.mark.parametrize(("stage", "target", "message"), REFUSED)
def test_refused_steps_have_specific_messages(world, stage, target, message):
    event = advance(world, stage)
    before = events.history(event)
    # A Prevent lead may attempt every kind of step, so the refusal is about the machine.
    with pytest.raises(Conflict) as caught:
        events.change_status(world.actor("prevent_lead"), event, {"status": target.value})
    assert caught.value.detail == message
    assert caught.value.audit["action"] == "event.status"
    assert events.history(event) == before


@pytest.mark.parametrize("skip_to", [S.ESCALATED, S.DECIDED])
def test_draft_cannot_skip_to_the_end(world, skip_to):
    event = advance(world, "assessed")
    with pytest.raises(HubError) as caught:
        events.change_status(world.actor("prevent_lead"), event, {"status": skip_to.value})
    assert caught.value.status in (403, 409)
    assert event.status == S.DRAFT


def test_escalation_and_decision_have_their_own_paths(world):
    event = advance(world, "under_review")
    lead = world.actor("prevent_lead")
    with pytest.raises(Conflict) as escalate:
        events.change_status(lead, event, {"status": "escalated"})
    assert escalate.value.detail.startswith("Escalate an event from its risk assessment")
    with pytest.raises(Conflict) as decide:
        events.change_status(lead, event, {"status": "decided"})
    assert decide.value.detail == (
        "An event is decided only by recording a decision, with its rationale."
    )
    assert event.status == S.UNDER_REVIEW


def test_withdrawn_is_final(world):
    event = advance(world, "under_review")
    events.change_status(world.actor("events_officer"), event, {"status": "withdrawn"})
    with pytest.raises(Conflict) as caught:
        events.change_status(world.actor("events_officer"), event, {"status": "submitted"})
    assert caught.value.detail.startswith("This event has been withdrawn")
    with pytest.raises(Conflict):
        decisions.record_decision(
            world.actor("prevent_lead"),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": events.local_today()},
        )


@pytest.mark.parametrize("stage", ["draft", "assessed", "submitted", "under_review", "escalated"])
def test_withdrawal_from_every_state_that_is_not_final(world, stage):
    event = advance(world, stage)
    events.change_status(world.actor("events_officer"), event, {"status": "withdrawn"})
    assert event.status == S.WITHDRAWN
    assert events.history(event)[-1].from_status.value == (
        "draft" if stage == "assessed" else stage
    )


def test_submission_needs_the_self_assessment_and_a_future_start(world):
    draft = advance(world, "draft")
    with pytest.raises(Conflict) as caught:
        events.change_status(world.actor("events_officer"), draft, {"status": "submitted"})
    assert caught.value.detail == (
        "Complete the organiser's self-assessment before submitting the event."
    )
    past = events.create_event(
        world.actor("events_officer"),
        event_data(starts_at=local_moment(-2), ends_at=local_moment(-2, 21)),
    )
    assessments.save_self_assessment(world.actor("events_officer"), past, all_no())
    with pytest.raises(ValidationFailed) as late:
        events.change_status(world.actor("events_officer"), past, {"status": "submitted"})
    assert late.value.errors["starts_at"][0].startswith("The start must be in the future")
    assert past.status == S.DRAFT and past.submitted_at is None


def test_unknown_status_is_a_validation_error(world):
    event = advance(world, "draft")
    with pytest.raises(ValidationFailed) as caught:
        events.change_status(world.actor("events_officer"), event, {"status": "approved"})
    assert caught.value.errors["status"][0].startswith("Choose the new status from:")


@pytest.mark.parametrize(
    ("stage", "target", "who"),
    [
        ("assessed", "submitted", "auditor"),
        ("assessed", "submitted", "dpo"),
        ("submitted", "under_review", "events_officer"),
        ("draft", "withdrawn", "org_admin"),
    ],
)
def test_steps_need_the_right_role(world, stage, target, who):
    event = advance(world, stage)
    with pytest.raises(PermissionDenied):
        events.change_status(world.actor(who), event, {"status": target})


# --- random sequences -------------------------------------------------------------------

PEOPLE = ["events_officer", "prevent_lead", "auditor", "senior_officer", "second_lead"]
#: Who is entitled to each kind of action (the decider depends on the event).
ENTITLED = {
    "status": "prevent_lead",
    "submit": "events_officer",
    "withdraw": "events_officer",
    "self": "events_officer",
    "mitigate": "events_officer",
    "review": "prevent_lead",
    "escalate": "prevent_lead",
}
# Mostly the entitled person, so that sequences get deep into the workflow; sometimes
# anyone, so that refusals are exercised too.
WHO = st.one_of(st.just(None), st.just(None), st.just(None), st.sampled_from(PEOPLE))
#: "next" takes the workflow's next step, as the entitled person (with a random outcome, and
#: escalating or not), so that random sequences reach every status.
NEXT = st.tuples(st.just("next"), st.just(None), st.sampled_from(list(Outcome)), st.booleans())
OTHER = st.one_of(
    st.tuples(st.just("status"), WHO, st.sampled_from(list(S))),
    st.tuples(st.sampled_from(["submit", "withdraw", "self", "mitigate"]), WHO),
    st.tuples(st.sampled_from(["review", "escalate"]), WHO),
    st.tuples(st.just("decide"), WHO, st.sampled_from(list(Outcome))),
)
ACTIONS = st.one_of(NEXT, NEXT, NEXT, NEXT, NEXT, OTHER)
GUARDRAIL = {
    "lawful_speech_finding": "The speech would be lawful but the venue is unsafe.",
    "reason_category": "health_and_safety",
    "mitigations_considered": [
        {"type": "stewards_security", "why_insufficient": "No stewards are available."}
    ],
}


def _next_step(event: Event, outcome: Outcome, escalate: bool) -> tuple:
    record = event.assessment
    if event.status == S.DRAFT:
        done = record is not None and record.self_assessment.value == "completed"
        return ("submit", None) if done else ("self", None)
    if event.status == S.SUBMITTED:
        return ("review", None)
    if event.status == S.UNDER_REVIEW and escalate:
        return ("escalate", None)
    return ("decide", None, outcome)


def _act(world: EventWorld, event: Event, action: tuple) -> None:
    if action[0] == "next":
        action = _next_step(event, *action[2:])
    kind, who, *args = action
    if who is None:
        decider = "senior_officer" if event.designated else "prevent_lead"
        who = decider if kind == "decide" else ENTITLED[kind]
    actor = world.actor(who)
    if kind == "status":
        events.change_status(actor, event, {"status": args[0].value})
    elif kind in ("submit", "withdraw"):
        target = S.SUBMITTED if kind == "submit" else S.WITHDRAWN
        events.change_status(actor, event, {"status": target.value})
    elif kind == "self":
        assessments.save_self_assessment(actor, event, all_no())
    elif kind == "review":
        assessments.save_local_review(actor, event, REVIEW)
    elif kind == "escalate":
        officer = world.people["senior_officer"].id
        assessments.escalate(
            actor, event, {"senior_officer_id": str(officer), "escalation_reason": "Contested."}
        )
    elif kind == "decide":
        outcome = args[0]
        data = {
            "outcome": outcome.value,
            "rationale": "Weighed.",
            "conditions": "A chair.",
            "decided_on": events.local_today().isoformat(),
            **(GUARDRAIL if outcome == Outcome.REJECTED else {}),
        }
        decisions.record_decision(actor, event, data)
    elif kind == "mitigate":
        assessments.add_mitigation(actor, event, {"type": "recording", "owner_name": "AV team"})


def _check_invariants(event: Event) -> None:
    changes = events.history(event)
    assert changes[0].from_status is None and changes[0].to_status == S.DRAFT
    for previous, change in itertools.pairwise(changes):
        assert change.from_status == previous.to_status, "history is not contiguous"
        assert change.to_status in events.ALLOWED[change.from_status], "an illegal step"
        assert change.changed_at >= previous.changed_at
    assert changes[-1].to_status == event.status
    statuses = [c.to_status for c in changes]
    assert sum(s in events.FINAL_STATES for s in statuses) <= 1
    # What each status implies about the rest of the record.
    decided = [d for d in event.decisions if not d.superseded_by_appeal]
    assert (event.status == S.DECIDED) == bool(decided)
    assert event.outcome == (decided[-1].outcome if decided else None)
    assert event.designated == (S.ESCALATED in statuses)
    assert (event.senior_officer_id is not None) == event.designated
    if event.status != S.DRAFT and S.SUBMITTED in statuses:
        assert event.submitted_at is not None
        assert event.assessment.self_assessment.value == "completed"
    if S.UNDER_REVIEW in statuses and S.ESCALATED in statuses:
        assert event.assessment.local_review.value == "completed"
    for decision in decided:
        if decision.outcome == Outcome.REJECTED:
            assert decision.lawful_speech_finding and decision.reason_category
            assert decision.considered


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=20))
def test_random_sequences_never_reach_an_invalid_state(world, actions):
    event = events.create_event(world.actor("events_officer"), event_data())
    for action in actions:
        # A refused action must leave nothing of itself behind.
        with contextlib.suppress(HubError):
            _act(world, event, action)
        _check_invariants(event)


def test_a_step_from_a_status_someone_else_has_just_left_is_refused(world):
    event = advance(world, "under_review")
    # Another request withdraws the event; this one still holds the old status in memory.
    db.session.execute(
        sa.update(Event).where(Event.id == event.id).values(status=S.WITHDRAWN),
        execution_options={"synchronize_session": False},
    )
    assert event.status == S.UNDER_REVIEW
    with pytest.raises(Conflict) as caught:
        decisions.record_decision(
            world.actor("prevent_lead"),
            event,
            {"outcome": "approved", "rationale": "R", "decided_on": events.local_today()},
        )
    assert caught.value.detail == (
        "This event has just been changed by someone else. Reload the page and try again."
    )
