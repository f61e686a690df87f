"""Events: the organiser's draft, the status machine it moves through, and the report after it.

Status machine (`ALLOWED`): draft -> submitted -> under_review -> escalated -> decided, with
`escalated` optional (an event that is not designated is decided straight from review), and
withdrawn from any state that is not final. Decided and withdrawn are final. An event becomes
`escalated` only through the risk assessment (which names the senior officer) and `decided`
only by recording a decision; every step is an `EventStatusChange` row and an audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from audit.actions import EVENT_READ
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.security import Actor, ActorKind
from core.validation import LOCAL_ZONE, Checker
from hub.records import permissions
from hub.records.models import (
    DEFAULT_DISTRIBUTION,
    Audience,
    ConditionsHeld,
    Distribution,
    Event,
    EventSpeaker,
    EventStatus,
    EventStatusChange,
    OrganiserType,
    Outcome,
    PostEventReport,
    RecordStatus,
    RiskAssessment,
    Speaker,
    SpeakerRole,
    StageStatus,
    VenueKind,
)
from hub.records.speakers import services as speaker_records
from partners import notifications

#: Fewer days than this between submission and the start is a short lead time: little can be
#: put in place (a balancing speaker, stewards, a police view) before the day.
SHORT_LEAD_TIME_DAYS = 14
MAX_EXPECTED_SIZE = 100_000
#: How long an event record is kept after it ends unless the institution sets another date.
DEFAULT_RETENTION = timedelta(days=6 * 365)
MAX_SPEAKERS = 50

ORGANISER_TYPE_LABELS = {
    OrganiserType.STAFF: "Staff",
    OrganiserType.SOCIETY: "Student society",
    OrganiserType.STUDENTS_UNION: "Students' union",
    OrganiserType.EXTERNAL_HIRER: "External hirer",
}
VENUE_KIND_LABELS = {
    VenueKind.ON_CAMPUS: "On campus",
    VenueKind.OFF_CAMPUS: "Off campus",
    VenueKind.ONLINE: "Online",
    VenueKind.HYBRID: "Hybrid (in person and online)",
}
AUDIENCE_LABELS = {
    Audience.INTERNAL: "Internal (staff and students only)",
    Audience.PUBLIC: "Open to the public",
    Audience.TICKETED: "Ticketed",
}
#: How each status reads inside a sentence ("An event that is in draft ...").
STATUS_PHRASES = {
    EventStatus.DRAFT: "in draft",
    EventStatus.SUBMITTED: "submitted",
    EventStatus.UNDER_REVIEW: "under review",
    EventStatus.ESCALATED: "escalated",
    EventStatus.DECIDED: "decided",
    EventStatus.WITHDRAWN: "withdrawn",
}
STATUS_COLOURS = {
    EventStatus.DRAFT: "grey",
    EventStatus.SUBMITTED: "blue",
    EventStatus.UNDER_REVIEW: "light-blue",
    EventStatus.ESCALATED: "orange",
    EventStatus.DECIDED: "green",
    EventStatus.WITHDRAWN: "red",
}
CONDITIONS_HELD_LABELS = {
    ConditionsHeld.YES: "Yes, all of them",
    ConditionsHeld.PARTLY: "Partly",
    ConditionsHeld.NO: "No",
    ConditionsHeld.NOT_APPLICABLE: "Not applicable (there were no conditions)",
}

FINAL_STATES = frozenset({EventStatus.DECIDED, EventStatus.WITHDRAWN})
#: Every step the machine allows, from each status.
ALLOWED: dict[EventStatus, tuple[EventStatus, ...]] = {
    EventStatus.DRAFT: (EventStatus.SUBMITTED, EventStatus.WITHDRAWN),
    EventStatus.SUBMITTED: (EventStatus.UNDER_REVIEW, EventStatus.WITHDRAWN),
    EventStatus.UNDER_REVIEW: (EventStatus.ESCALATED, EventStatus.DECIDED, EventStatus.WITHDRAWN),
    EventStatus.ESCALATED: (EventStatus.DECIDED, EventStatus.WITHDRAWN),
    EventStatus.DECIDED: (),
    EventStatus.WITHDRAWN: (),
}
#: Steps that `change_status` takes itself; the others have their own service.
DIRECT_STEPS = frozenset({EventStatus.SUBMITTED, EventStatus.UNDER_REVIEW, EventStatus.WITHDRAWN})

#: The fields of an event an organiser fills in (the API and the form use these names).
EVENT_FIELDS = (
    "organiser_type",
    "organiser_name",
    "title",
    "synopsis",
    "tags",
    "starts_at",
    "ends_at",
    "venue_kind",
    "venue_place",
    "branded_or_funded",
    "audience",
    "expected_size",
    "chair_name",
    "recorded",
    "streamed",
    "distribution",
    "retention_until",
)


# --- small helpers ----------------------------------------------------------------------


def local_today() -> date:
    """Today's date in England and Wales."""
    return utcnow().astimezone(LOCAL_ZONE).date()


def local_date(moment: datetime) -> date:
    """The UK calendar date of a UTC moment."""
    return moment.astimezone(LOCAL_ZONE).date()


def is_named_officer(actor: Actor, event: Event) -> bool:
    """The actor is the senior officer this event was escalated to."""
    return (
        actor.kind == ActorKind.PERSON
        and event.senior_officer_id is not None
        and actor.id == str(event.senior_officer_id)
        and actor.org_id == str(event.owner_org_id)
    )


def can_see(actor: Actor, event: Event) -> bool:
    """Readers of the host organisation, and the senior officer named to decide the event."""
    return permissions.can_read(actor, event.owner_org_id) or is_named_officer(actor, event)


def _refs(event: Event) -> dict[str, Any]:
    return {
        "resource_type": "event",
        "resource_ids": [str(event.id)],
        "resource_org": str(event.owner_org_id),
    }


def deny(action: str, detail: str, event: Event | None = None) -> PermissionDenied:
    """A refusal the edge audits as `action` (used by the assessment and decision services)."""
    refs = _refs(event) if event is not None else {"resource_type": "event"}
    return PermissionDenied(detail, reason="not_permitted", audit={"action": action, **refs})


def conflict(action: str, detail: str, event: Event, reason: str = "invalid_state") -> Conflict:
    """A change that clashes with the event's state, audited as a refusal."""
    return Conflict(detail, reason=reason, audit={"action": action, **_refs(event)})


def record_change(
    actor: Actor, action: str, event: Event, fields: Iterable[str] = (), **details: Any
) -> None:
    """Audit a change to an event or its assessment: ids, field names and codes only."""
    audit.record(
        actor,
        action,
        "granted",
        fields=sorted(set(fields)),
        subjects=[("speaker", str(link.speaker_id)) for link in event.speakers],
        **_refs(event),
        **details,
    )


# --- reading ----------------------------------------------------------------------------


def get_event(actor: Actor, event_id: uuid.UUID | str, *, action: str = EVENT_READ) -> Event:
    """An event the actor may see; another organisation's answers exactly like a missing one."""
    try:
        key = event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(str(event_id))
    except ValueError as exc:
        raise NotFound("There is no such event.") from exc
    event = db.session.get(Event, key)
    if event is None or event.erased_at is not None:
        raise NotFound("There is no such event.")
    if not can_see(actor, event):
        # Refused, audited, and indistinguishable from absent.
        raise NotFound(
            "There is no such event.",
            reason="not_owner",
            audit={"action": action, **_refs(event)},
        )
    return event


def list_events(
    actor: Actor, status: EventStatus | None = None, limit: int = 200, offset: int = 0
) -> list[Event]:
    """The organisation's events, soonest first; a person who may not read the organisation's
    records sees only the events they were named to decide."""
    query = sa.select(Event).where(Event.erased_at.is_(None))
    hosts = actor.org_kind in permissions.HOST_KINDS
    if hosts and permissions.can_read(actor, actor.org_id):
        query = query.where(Event.owner_org_id == uuid.UUID(actor.org_id))
    elif hosts and actor.kind == ActorKind.PERSON and _named_anywhere(actor):
        query = query.where(
            Event.owner_org_id == uuid.UUID(actor.org_id),
            Event.senior_officer_id == uuid.UUID(actor.id),
        )
    else:
        raise deny(
            "event.list",
            "Only staff of a university or students' union with a records role see events.",
        )
    if status is not None:
        query = query.where(Event.status == status)
    return list(
        db.session.scalars(
            query.order_by(Event.starts_at.desc(), Event.id).limit(limit).offset(offset)
        )
    )


def _named_anywhere(actor: Actor) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Event)
            .where(Event.senior_officer_id == uuid.UUID(actor.id))
        )
        > 0
    )


def history(event: Event) -> list[EventStatusChange]:
    """The event's status changes in the order they were made."""
    return list(
        db.session.scalars(
            sa.select(EventStatusChange)
            .where(EventStatusChange.event_id == event.id)
            .order_by(EventStatusChange.changed_at, EventStatusChange.id)
        )
    )


@dataclass(frozen=True)
class LeadTime:
    """Whole days from submission (or from today, before it) to the start."""

    days: int
    submitted: bool

    @property
    def short(self) -> bool:
        """Too little time to put mitigations in place."""
        return self.days < SHORT_LEAD_TIME_DAYS


def lead_time(event: Event, now: datetime | None = None) -> LeadTime:
    """The event's lead time: from submission once submitted, else as if submitted now."""
    if event.submitted_at is not None:
        return LeadTime((event.starts_at - event.submitted_at).days, True)
    return LeadTime((event.starts_at - (now or utcnow())).days, False)


def speakers_by_id(actor: Actor, ids: Iterable[str]) -> list[Speaker]:
    """The organisation's active speakers among `ids` (others are simply left out)."""
    keys = []
    for value in ids:
        try:
            keys.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not keys or actor.org_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Speaker)
            .where(
                Speaker.id.in_(keys),
                Speaker.owner_org_id == uuid.UUID(actor.org_id),
                Speaker.status == RecordStatus.ACTIVE,
            )
            .order_by(Speaker.display_name)
        )
    )


# --- creating and changing --------------------------------------------------------------


def _lines(value: Any) -> Any:
    # New speakers' names come one a line from the form: a comma is part of a name
    # ("Harlow, Professor Ines"), so only new lines separate them.
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


@dataclass
class _EventInput:
    values: dict[str, Any]
    speakers: list[Speaker]
    new_speaker_names: list[str]


def _read_event(actor: Actor, data: dict[str, Any], action: str) -> _EventInput:
    """Check every field of an event (all problems at once); nothing is created here."""
    check = Checker({**data, "new_speakers": _lines(data.get("new_speakers"))})
    # Read in the order the form asks, each cross-field check beside its field: the Checker
    # keeps its errors in that order, and so does the page's error summary.
    values: dict[str, Any] = {
        "title": check.text("title", "the event's title", max_length=300),
        "synopsis": check.text("synopsis", "a short description of the event", max_length=10_000),
        "tags": check.strings("tags", "tags", max_items=20, max_length=50),
        "organiser_type": check.choice("organiser_type", OrganiserType, "who organises the event"),
        "organiser_name": check.text(
            "organiser_name", "the organiser's name (the society, department or hirer)"
        ),
        "starts_at": check.moment("starts_at", "the start date and time"),
        "ends_at": check.moment("ends_at", "the end date and time"),
    }
    if values["starts_at"] and values["ends_at"] and values["ends_at"] <= values["starts_at"]:
        check.add("ends_at", "The end must be after the start.")
    values["venue_kind"] = check.choice("venue_kind", VenueKind, "where the event takes place")
    venue_needed = values["venue_kind"] not in (None, VenueKind.ONLINE)
    values["venue_place"] = check.text(
        "venue_place",
        "the venue (the building and room, or the address)"
        if venue_needed
        else "the online platform",
        required=venue_needed,
        max_length=300,
    )
    values["branded_or_funded"] = check.boolean(
        "branded_or_funded", "whether the institution brands or funds the event"
    )
    values["audience"] = check.choice("audience", Audience, "who may attend")
    values["expected_size"] = check.integer(
        "expected_size", "the expected audience size", minimum=0, maximum=MAX_EXPECTED_SIZE
    )

    wanted = check.strings("speaker_ids", "speakers", max_items=MAX_SPEAKERS, max_length=100)
    found = {str(s.id): s for s in speakers_by_id(actor, wanted)}
    foreign: list[Speaker] = []
    for value in wanted:
        if value not in found:
            check.add(
                "speaker_ids",
                f"There is no speaker with the id '{value}' in your organisation's records: "
                "choose a speaker from the list or add a new one by name.",
            )
            other = _other_org_speaker(actor, value)
            if other is not None:
                foreign.append(other)
    names = check.strings("new_speakers", "new speakers' names", max_items=20, max_length=200)
    if len(wanted) + len(names) > MAX_SPEAKERS:
        check.add("new_speakers", f"An event can have at most {MAX_SPEAKERS} speakers.")

    values["chair_name"] = check.text("chair_name", "the chair's name", required=False)
    values["recorded"] = check.boolean("recorded", "whether the event is recorded")
    values["streamed"] = check.boolean("streamed", "whether the event is streamed")
    values["distribution"] = (
        check.choice(
            "distribution", Distribution, "how far this record may be shared", required=False
        )
        or DEFAULT_DISTRIBUTION
    )
    values["retention_until"] = check.date(
        "retention_until", "the date to keep this record until", required=False
    )
    if values["retention_until"] and values["retention_until"] <= local_today():
        check.add("retention_until", "The date to keep this record until must be in the future.")
    if values["retention_until"] is None and values["ends_at"]:
        values["retention_until"] = local_date(values["ends_at"]) + DEFAULT_RETENTION
    try:
        check.raise_if_any()
    except ValidationFailed as exc:
        if foreign:
            # Naming another organisation's speaker is a refusal, audited like reading it.
            exc.audit = {
                "action": action,
                "resource_type": "speaker",
                "resource_ids": [str(s.id) for s in foreign],
                "resource_org": str(foreign[0].owner_org_id),
            }
            exc.reason = "not_owner"
        raise
    # Speakers typed by name: the one duplicate check, unless the caller confirmed each as new.
    sure = _lines(data.get("confirm_new_speakers"))
    speaker_records.require_new_people(actor, {name: () for name in names}, sure)
    return _EventInput(values, [found[v] for v in wanted], names)


def _other_org_speaker(actor: Actor, value: str) -> Speaker | None:
    try:
        speaker = db.session.get(Speaker, uuid.UUID(value))
    except ValueError:
        return None
    if speaker is None or str(speaker.owner_org_id) == actor.org_id:
        return None
    return speaker


def _link_speakers(actor: Actor, event: Event, given: _EventInput) -> list[str]:
    """Point the event at the chosen speakers plus new ones; returns what changed."""
    chosen = list(given.speakers)
    for name in given.new_speaker_names:
        chosen.append(speaker_records.create_speaker(actor, {"display_name": name}))
    wanted = {s.id: s for s in chosen}
    current = {link.speaker_id: link for link in event.speakers}
    changed = []
    for key, link in current.items():
        if key not in wanted:
            event.speakers.remove(link)
            changed.append(str(key))
    for key, speaker in wanted.items():
        if key not in current:
            event.speakers.append(EventSpeaker(speaker=speaker, role=SpeakerRole.SPEAKER))
            changed.append(str(key))
    return changed


def create_event(actor: Actor, data: dict[str, Any]) -> Event:
    """Record a draft event hosted by the actor's organisation, with its speakers (chosen from
    the organisation's records, or new ones added by name)."""
    if not permissions.can_host_events(actor):
        raise deny(
            "event.create",
            "Only events officers and Prevent leads of a university or students' union "
            "record events.",
        )
    given = _read_event(actor, data, "event.create")
    event = Event(
        owner_org_id=uuid.UUID(actor.org_id),
        status=EventStatus.DRAFT,
        created_by_id=actor.person_id,
        **given.values,
    )
    event.assessment = RiskAssessment()
    db.session.add(event)
    _link_speakers(actor, event, given)
    event.status_changes.append(
        EventStatusChange(
            from_status=None,
            to_status=EventStatus.DRAFT,
            changed_by_id=actor.person_id,
            changed_at=utcnow(),
        )
    )
    db.session.flush()
    filled = [key for key, value in given.values.items() if value not in (None, "", [], False)]
    record_change(actor, "event.create", event, [*filled, "speakers"] if event.speakers else filled)
    return event


def _current_values(event: Event) -> dict[str, Any]:
    return {key: getattr(event, key) for key in EVENT_FIELDS}


def editable_values(event: Event) -> dict[str, Any]:
    """The event as input to `update_event` (what a form or PATCH starts from)."""
    values = _current_values(event)
    values["speaker_ids"] = [str(link.speaker_id) for link in event.speakers]
    return values


def guard_update(actor: Actor, event: Event) -> None:
    """Refuse (audited) unless the actor may change the event now: a writer, on a draft."""
    if not permissions.can_write(actor, event.owner_org_id):
        raise deny("event.update", "Only events officers and Prevent leads change events.", event)
    if event.status != EventStatus.DRAFT:
        raise conflict(
            "event.update",
            f"Only a draft event can be changed; this event is {STATUS_PHRASES[event.status]}.",
            event,
        )


def update_event(actor: Actor, event: Event, data: dict[str, Any]) -> Event:
    """Change a draft event; fields left out keep their values."""
    guard_update(actor, event)
    merged = {**editable_values(event), **data}
    given = _read_event(actor, merged, "event.update")
    before = _current_values(event)
    for key, value in given.values.items():
        setattr(event, key, value)
    changed = [key for key in EVENT_FIELDS if before[key] != given.values[key]]
    if _link_speakers(actor, event, given):
        changed.append("speakers")
    db.session.flush()
    record_change(actor, "event.update", event, changed)
    return event


# --- the status machine -----------------------------------------------------------------


def _permitted(actor: Actor, event: Event, target: EventStatus) -> bool:
    """Whether the actor's roles allow a step to `target` (whatever the current status)."""
    if target == EventStatus.UNDER_REVIEW or target == EventStatus.ESCALATED:
        return permissions.can_review(actor, event.owner_org_id)
    if target == EventStatus.DECIDED:
        return permissions.can_decide(
            actor, event.owner_org_id, event.designated, event.senior_officer_id
        )
    return permissions.can_write(actor, event.owner_org_id)


WHO_MAY = {
    EventStatus.DRAFT: "Only events officers and Prevent leads change events.",
    EventStatus.SUBMITTED: "Only events officers and Prevent leads submit events.",
    EventStatus.WITHDRAWN: "Only events officers and Prevent leads withdraw events.",
    EventStatus.UNDER_REVIEW: "Only a Prevent lead reviews events.",
    EventStatus.ESCALATED: "Only a Prevent lead escalates events.",
    EventStatus.DECIDED: "Only a Prevent lead decides events.",
}


def check_step(actor: Actor, event: Event, target: EventStatus, action: str) -> None:
    """Refuse a step the actor may not take, or that the machine does not allow from here."""
    if not _permitted(actor, event, target):
        detail = WHO_MAY[target]
        if target == EventStatus.DECIDED and event.designated:
            detail = "Only the senior officer named when the event was escalated can decide it."
        raise deny(action, detail, event)
    current = event.status
    if current == EventStatus.DECIDED:
        raise conflict(
            action,
            "This event has been decided, so its status cannot change. "
            "To challenge the decision, lodge an appeal.",
            event,
            "event_final",
        )
    if current == EventStatus.WITHDRAWN:
        raise conflict(
            action,
            "This event has been withdrawn, so its status cannot change. "
            "Record a new event if it is to go ahead.",
            event,
            "event_final",
        )
    if target == current:
        raise conflict(
            action, f"This event is already {STATUS_PHRASES[current]}.", event, "no_change"
        )
    if target not in ALLOWED[current]:
        steps = " or ".join(STATUS_PHRASES[s] for s in ALLOWED[current])
        raise conflict(
            action,
            f"An event that is {STATUS_PHRASES[current]} can next be {steps}; "
            f"it cannot move straight to {STATUS_PHRASES[target]}.",
            event,
            "skipped_step",
        )


def move(actor: Actor, event: Event, target: EventStatus, note: str = "") -> EventStatusChange:
    """Take one step (already checked): a status-change row with who and when, and an audit."""
    # Lock the event's row and compare: two people acting at once (two decisions, a decision
    # and a withdrawal) must not both take a step from the same status. PostgreSQL waits
    # here for the other transaction; SQLite has one writer at a time anyway.
    with db.session.no_autoflush:
        stored = db.session.scalar(
            sa.select(Event.status).where(Event.id == event.id).with_for_update()
        )
    if stored is not None and stored != event.status:
        raise conflict(
            "event.status",
            "This event has just been changed by someone else. Reload the page and try again.",
            event,
            "changed_meanwhile",
        )
    change = EventStatusChange(
        from_status=event.status,
        to_status=target,
        changed_by_id=actor.person_id,
        changed_at=utcnow(),
        note=note,
    )
    event.status_changes.append(change)
    event.status = target
    db.session.flush()
    record_change(
        actor,
        "event.status",
        event,
        ["status", "note"] if note else ["status"],
        from_status=change.from_status.value,
        to_status=target.value,
    )
    return change


def change_status(actor: Actor, event: Event, data: dict[str, Any]) -> Event:
    """Submit, start reviewing or withdraw an event (escalation and decisions have their own
    services, because they record more than a status)."""
    check = Checker(data)
    target = check.choice("status", EventStatus, "the new status")
    note = check.text("note", "a note", required=False, max_length=2000)
    check.raise_if_any()
    assert target is not None
    check_step(actor, event, target, "event.status")
    if target == EventStatus.ESCALATED:
        raise conflict(
            "event.status",
            "Escalate an event from its risk assessment, naming the senior officer "
            "who will decide it.",
            event,
            "use_escalation",
        )
    if target == EventStatus.DECIDED:
        raise conflict(
            "event.status",
            "An event is decided only by recording a decision, with its rationale.",
            event,
            "use_decision",
        )
    if target == EventStatus.SUBMITTED:
        _check_submission(actor, event)
        event.submitted_at = utcnow()
    move(actor, event, target, note)
    if target == EventStatus.SUBMITTED:
        notifications.notify(
            event.owner_org_id,
            "event.waiting_for_review",
            "An event is waiting for local review",
            link=f"/events/{event.id}/assessment/review",
            email_roles=("prevent_lead",),
            email_text=[
                "An event has been submitted with its organiser's self-assessment. Review it "
                "in the hub: score its risk, then decide it or escalate it."
            ],
        )
    return event


def _check_submission(actor: Actor, event: Event) -> None:
    """What submitting needs: the self-assessment done, and a start still in the future."""
    assessment = event.assessment
    if assessment is None or assessment.self_assessment != StageStatus.COMPLETED:
        raise conflict(
            "event.status",
            "Complete the organiser's self-assessment before submitting the event.",
            event,
            "self_assessment_incomplete",
        )
    if event.starts_at <= utcnow():
        raise ValidationFailed(
            "The start must be in the future to submit the event.",
            errors={
                "starts_at": [
                    "The start must be in the future to submit the event: "
                    "change the start date and time."
                ]
            },
        )


def ensure_assessment(event: Event) -> RiskAssessment:
    """The event's risk assessment, made on first use (events imported without one)."""
    if event.assessment is None:
        event.assessment = RiskAssessment()
        db.session.flush()
    return event.assessment


# --- after the event --------------------------------------------------------------------


def can_report(event: Event, now: datetime | None = None) -> bool:
    """A report is written once an approved event has ended."""
    return (
        event.status == EventStatus.DECIDED
        and event.outcome in (Outcome.APPROVED, Outcome.APPROVED_WITH_CONDITIONS)
        and event.ends_at <= (now or utcnow())
        and event.report is None
    )


def guard_report(actor: Actor, event: Event) -> None:
    """Refuse (audited) unless the actor may write the post-event report now."""
    if not permissions.can_write(actor, event.owner_org_id):
        raise deny(
            "event.report", "Only events officers and Prevent leads report on events.", event
        )
    if event.report is not None:
        raise conflict("event.report", "A report on this event has already been recorded.", event)
    if event.status != EventStatus.DECIDED or event.outcome not in (
        Outcome.APPROVED,
        Outcome.APPROVED_WITH_CONDITIONS,
    ):
        raise conflict(
            "event.report", "Only an event that was approved can have a post-event report.", event
        )
    if event.ends_at > utcnow():
        raise conflict(
            "event.report", "The post-event report can be written once the event has ended.", event
        )


def record_report(actor: Actor, event: Event, data: dict[str, Any]) -> PostEventReport:
    """Record whether the conditions held and any incidents, after an approved event."""
    guard_report(actor, event)
    check = Checker(data)
    held = check.choice("conditions_held", ConditionsHeld, "whether the conditions held")
    incidents = check.text("incidents", "what happened", required=False, max_length=10_000)
    had_incidents = check.boolean("had_incidents", "whether there were incidents")
    if had_incidents and not incidents:
        check.add("incidents", "Describe the incidents.")
    if held in (ConditionsHeld.PARTLY, ConditionsHeld.NO) and not incidents:
        check.add("incidents", "Say which conditions did not hold and what happened.")
    check.raise_if_any()
    report = PostEventReport(
        conditions_held=held,
        incidents=incidents,
        reported_by_id=actor.person_id,
        reported_at=utcnow(),
    )
    event.report = report
    db.session.flush()
    record_change(
        actor,
        "event.report",
        event,
        ["conditions_held", "incidents"] if incidents else ["conditions_held"],
        conditions_held=held.value if held else None,
    )
    return report
