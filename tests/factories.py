"""Factories for records (a pytest plugin of the root conftest): speakers, statements and events
made through their services by someone allowed to (made on demand), events taken through their
workflow as the pages would take them, and what a form sends for each.

    make_speaker(org, name, **fields)            a speaker of `org` (or `by=` a person/actor)
    make_statement(speaker, **fields)            a statement about a speaker, by its owner
    make_event(org, speakers=[...], stage="decided", **fields)

The plain functions below them (`new_speaker(actor, ...)`, `advance_event(...)`) do the same for
code that already has its actor, or runs outside a test's savepoint (a live hub's seed).

A few tests need what no service writes: decisions dated before their event was submitted (the
annual return counts past years) and arbitrary stored values (the minimisation property). Those
use the `stored_*` builders at the end, which say so.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.db import db, utcnow
from core.security import Actor
from core.validation import LOCAL_ZONE
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.models import (
    Assertion,
    Audience,
    Decision,
    Distribution,
    Event,
    EventSpeaker,
    EventStatus,
    OrganiserType,
    Outcome,
    ReasonCategory,
    Speaker,
    SpeakerRole,
    TriageQuestion,
    VenueKind,
)
from hub.records.speakers import assertions
from hub.records.speakers import services as speakers
from partners.models import Organisation, Person
from tests.conftest import actor_of

SPEAKER_NAME = "Dr Ember Quillfeather"

# --- what a person would type ----------------------------------------------------------------


def days(n: int) -> str:
    """The ISO date `n` days from today (negative: in the past)."""
    return (utcnow().date() + timedelta(days=n)).isoformat()


def local_moment(days: float, hour: int = 18) -> str:
    """A UK local date and time `days` from now, as a person types it (2026-03-14T18:30)."""
    day = (utcnow() + timedelta(days=days)).astimezone(LOCAL_ZONE).date()
    return f"{day.isoformat()}T{hour:02d}:30"


def speaker_data(name: str = SPEAKER_NAME, **overrides: Any) -> dict[str, Any]:
    """A speaker with an alias of each kind, an affiliation, a source and topics."""
    data: dict[str, Any] = {
        "display_name": name,
        "aliases": [
            {"name": "Ember Quilfeather", "kind": "alias"},
            {"name": "Emba Kwilfether", "kind": "transliteration"},
        ],
        "affiliations": [{"organisation_name": "Fellwater Institute", "role": "Fellow"}],
        "sources": [
            {
                "url": "https://news.example/quillfeather",
                "title": "Profile",
                "retrieved_on": days(-3),
            }
        ],
        "topics": ["urban planning", "heritage"],
        "distribution": "shareable",
    }
    data.update(overrides)
    return data


def date_fields(name: str, days_ahead: int) -> dict[str, str]:
    """The GOV.UK date input boxes for a date `days_ahead` from today."""
    day = utcnow().date() + timedelta(days=days_ahead)
    return {
        f"{name}-day": str(day.day),
        f"{name}-month": str(day.month),
        f"{name}-year": str(day.year),
    }


def speaker_form(**overrides: str) -> dict[str, str]:
    """A filled-in speaker form."""
    data = {
        "display_name": "Professor Tobias Wrenfield",
        "aliases-0-name": "Tobias Renfield",
        "aliases-0-kind": "transliteration",
        "aliases-1-name": "",
        "aliases-1-kind": "alias",
        "affiliations-0-organisation_name": "Ashcombe College",
        "affiliations-0-role": "Lecturer",
        "sources-0-url": "https://college.example/wrenfield",
        "sources-0-title": "Staff page",
        **date_fields("sources-0-retrieved_on", -2),
        "topics": "rivers\nbridges",
        "distribution": "shareable",
        **date_fields("retention_until", 900),
    }
    data.update(overrides)
    return data


def assertion_data(**overrides: Any) -> dict[str, Any]:
    """A complete, valid statement."""
    data: dict[str, Any] = {
        "kind": "fact",
        "text": "Spoke at the Fellwater Heritage Forum.",
        "source": "Forum programme",
        "source_url": "https://forum.example/programme",
        "stated_on": days(-30),
        "confidence": "high",
        "special_category": False,
        "criminal_offence": False,
        "review_by": days(365),
    }
    data.update(overrides)
    return data


def event_data(**overrides: Any) -> dict[str, Any]:
    """A complete, valid draft event a month away."""
    data: dict[str, Any] = {
        "organiser_type": "society",
        "organiser_name": "Debating Society",
        "title": "Debate: the future of the high street",
        "synopsis": "A debate with two invited speakers and questions from the floor.",
        "tags": ["debate", "economics"],
        "starts_at": local_moment(30, 18),
        "ends_at": local_moment(30, 20),
        "venue_kind": "on_campus",
        "venue_place": "Great Hall",
        "branded_or_funded": "yes",
        "audience": "public",
        "expected_size": "120",
        "chair_name": "Dr Chair Person",
        "recorded": "yes",
        "streamed": "no",
    }
    data.update(overrides)
    return data


def all_no() -> dict[str, str]:
    """Self-assessment answers: no to every triage question."""
    return {q.value: "no" for q in TriageQuestion}


#: A local review: likelihood 2, impact 3.
REVIEW = {"likelihood": "2", "impact": "3", "review_notes": "Routine debate; a chair is enough."}


def decision_data(**overrides: Any) -> dict[str, Any]:
    """A decision of today: approved with an independent chair."""
    data: dict[str, Any] = {
        "outcome": "approved_with_conditions",
        "conditions": "An independent chair.",
        "rationale": "Lawful debate; the chair keeps it orderly.",
        "decided_on": events.local_today().isoformat(),
    }
    data.update(overrides)
    return data


# --- through the services, by a given actor ---------------------------------------------------


def new_speaker(actor: Actor, name: str = SPEAKER_NAME, **overrides: Any) -> Speaker:
    """A fully filled-in speaker of the actor's organisation (see `speaker_data`)."""
    return speakers.create_speaker(actor, speaker_data(name, **overrides))


def new_statement(actor: Actor, speaker: Speaker, **overrides: Any) -> Assertion:
    """A statement about `speaker` (see `assertion_data`)."""
    return assertions.create_assertion(actor, speaker, assertion_data(**overrides))


def new_event(actor: Actor, speakers_on: list[Speaker] = (), **overrides: Any) -> Event:
    """A draft event of the actor's organisation with `speakers_on` on it (see `event_data`)."""
    if speakers_on:
        overrides.setdefault("speaker_ids", [str(s.id) for s in speakers_on])
    return events.create_event(actor, event_data(**overrides))


#: The workflow's stages, in order (see `advance_event`).
STAGES = ("draft", "assessed", "submitted", "under_review", "escalated", "decided")


def advance_event(
    event: Event,
    to: str,
    *,
    officer: Actor,
    lead: Actor,
    senior_officer: Person | None = None,
    decision: dict[str, Any] | None = None,
) -> Event:
    """Take a draft event through the workflow up to stage `to` (one of STAGES), as its
    organiser (`officer`) and Prevent lead (`lead`) would. With a `senior_officer` the lead
    escalates the event to them and they decide it; otherwise the lead decides."""
    stop = STAGES.index(to)
    if stop >= 1:
        assessments.save_self_assessment(officer, event, all_no())
    if stop >= 2:
        events.change_status(officer, event, {"status": "submitted"})
    if stop >= 3:
        assessments.save_local_review(lead, event, REVIEW)
    escalated = senior_officer is not None and stop >= 4
    if escalated:
        assessments.escalate(
            lead,
            event,
            {
                "senior_officer_id": str(senior_officer.id),
                "escalation_reason": "A large public audience and a contested topic.",
            },
        )
    if stop >= 5:
        decider = actor_of(senior_officer) if escalated else lead
        decisions.record_decision(decider, event, decision_data(**(decision or {})))
    return event


def hold_in_the_past(event: Event, days_ago: float, hours: float = 2) -> Event:
    """Move an event's start `days_ago` into the past, as if the clock had run on since it
    was decided (nothing else changes: a decided event cannot be edited, and only a future
    event can be submitted, so a past decided event is made this way)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    event.starts_at, event.ends_at = start, start + timedelta(hours=hours)
    db.session.flush()
    return event


def give_role(event: Event, speaker: Speaker, role: SpeakerRole) -> None:
    """Make `speaker` a panellist or the chair of `event` (the events service puts everyone
    on as a speaker, and nothing yet changes a role; the demo data has panellists and chairs)."""
    [link] = [link for link in event.speakers if link.speaker_id == speaker.id]
    link.role = role
    db.session.flush()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def acting(make_person):
    """The actor a factory acts as: `by` (a person or an actor), or else a person with `role`
    at `org`, made on first use and reused for that organisation and role."""
    made: dict[tuple[Any, str], Person] = {}

    def resolve(
        org: Organisation | None = None, by: Any = None, role: str = "events_officer"
    ) -> Actor:
        if isinstance(by, Actor):
            return by
        if by is not None:
            return actor_of(by)
        assert org is not None, "say whose record this is: org=... or by=..."
        if (org.id, role) not in made:
            made[(org.id, role)] = make_person(org, [role])
        return actor_of(made[(org.id, role)])

    return resolve


def _organisation(org_id: Any) -> Organisation:
    return db.session.get(Organisation, uuid.UUID(str(org_id)))


@pytest.fixture
def make_speaker(acting):
    """make_speaker(org, name=..., by=None, **fields): a speaker of `org` with that name and
    the fields given (nothing else: `speaker_data()` is a fully filled-in one), recorded by
    its events officer (or by `by`) through the speakers service."""

    def factory(
        org: Organisation | None = None,
        name: str = SPEAKER_NAME,
        *,
        by: Any = None,
        **fields: Any,
    ) -> Speaker:
        return speakers.create_speaker(acting(org, by), {"display_name": name, **fields})

    return factory


@pytest.fixture
def make_statement(acting):
    """make_statement(speaker, by=None, **fields): a statement about `speaker` recorded by an
    events officer of its organisation (or by `by`), through the assertions service."""

    def factory(speaker: Speaker, *, by: Any = None, **fields: Any) -> Assertion:
        return new_statement(acting(_organisation(speaker.owner_org_id), by), speaker, **fields)

    return factory


@pytest.fixture
def make_event(acting):
    """make_event(org, speakers=[...], stage="draft", by=None, decision=None, **fields): an
    event of `org` created by its events officer (or by `by`) through the events service and
    taken to `stage` (see STAGES) by it and the organisation's Prevent lead; `decision`
    overrides the decision's fields (see `decision_data`)."""

    def factory(
        org: Organisation | None = None,
        *,
        speakers: list[Speaker] = (),
        stage: str = "draft",
        by: Any = None,
        decision: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Event:
        officer = acting(org, by)
        event = new_event(officer, list(speakers), **fields)
        if stage != "draft":
            lead = acting(_organisation(event.owner_org_id), role="prevent_lead")
            advance_event(event, stage, officer=officer, lead=lead, decision=decision)
        return event

    return factory


# --- rows as stored, where no service can make them -------------------------------------------


def stored_event(owner: Any, speaker: Speaker | None = None, **values: Any) -> Event:
    """A decided, shareable event row of `owner` (with `speaker` on it) holding exactly the
    values given: for tests about whatever a stored record may hold (the minimisation
    property), not for making ordinary records (use `make_event`)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    data = {
        "owner_org_id": owner.id,
        "distribution": Distribution.SHAREABLE,
        "organiser_type": OrganiserType.SOCIETY,
        "organiser_name": "Lantern Society of Fellwater",
        "title": "Lanterns and tides",
        "synopsis": "A talk on the moon's pull, with a glowing finale.",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "venue_kind": VenueKind.ON_CAMPUS,
        "venue_place": "Brindlewood Hall",
        "audience": Audience.PUBLIC,
        "expected_size": 137,
        "status": EventStatus.DECIDED,
        "outcome": Outcome.APPROVED_WITH_CONDITIONS,
        "retention_until": start.date() + timedelta(days=2000),
    }
    data.update(values)
    event = Event(**data)
    db.session.add(event)
    db.session.flush()
    if speaker is not None:
        db.session.add(EventSpeaker(event_id=event.id, speaker_id=speaker.id))
        db.session.flush()
    return event


def stored_decision(event: Event, **values: Any) -> Decision:
    """The standing decision row on `event` holding exactly the values given (see
    `stored_event`: for the minimisation property, not for ordinary records)."""
    data = {
        "event_id": event.id,
        "owner_org_id": event.owner_org_id,
        "distribution": Distribution.SHAREABLE,
        "outcome": Outcome.APPROVED_WITH_CONDITIONS,
        "rationale": "Quorate panel judged the glowing finale safe with stewards.",
        "conditions": "Stewards at each exit.",
        "decided_on": utcnow().date() - timedelta(days=25),
    }
    data.update(values)
    decision = Decision(**data)
    db.session.add(decision)
    db.session.flush()
    return decision


def past_decision(
    event: Event, outcome: str, on: date, reason: str | None = None, superseded: bool = False
) -> Decision:
    """A decision on `event` dated `on` in a past year, stored as the decisions service stores
    one (the service dates a decision no earlier than the event's submission, so a past year's
    decisions, which the annual return counts, are made this way)."""
    decision = Decision(
        event_id=event.id,
        owner_org_id=event.owner_org_id,
        distribution=Distribution.INTERNAL,
        outcome=Outcome(outcome),
        rationale="Recorded for the test.",
        reason_category=ReasonCategory(reason) if reason else None,
        decided_on=on,
        decided_at=datetime(on.year, on.month, on.day, 12, tzinfo=UTC),
        superseded_by_appeal=superseded,
    )
    event.status = EventStatus.DECIDED
    event.outcome = Outcome(outcome)
    db.session.add(decision)
    db.session.flush()
    return decision
