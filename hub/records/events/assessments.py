"""Risk assessment of an event, in stages: the organiser's self-assessment (the triage
questions), the Prevent lead's local review (likelihood x impact), escalation of a designated
event to a named senior officer, and typed mitigations each with an owner and a status.

Risk rating banding (likelihood 1-5 x impact 1-5, a score of 1 to 25), as on the page:

    score  1-4   low
    score  5-9   medium
    score 10-16  high
    score 20-25  very high

so that a likely-and-severe event (4 x 4) is high and only the top corner (4 x 5, 5 x 5) is
very high; anything scored 1 on either axis is never more than medium.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from audit.actions import ASSESSMENT_UPDATE
from core.db import db, utcnow
from core.errors import NotFound
from core.security import Actor
from core.validation import Checker
from hub.records import permissions
from hub.records.events.services import (
    FINAL_STATES,
    STATUS_PHRASES,
    check_step,
    conflict,
    deny,
    ensure_assessment,
    move,
    record_change,
)
from hub.records.models import (
    Event,
    EventStatus,
    Mitigation,
    MitigationStatus,
    MitigationType,
    RiskAssessment,
    RiskRating,
    StageStatus,
    TriageAnswer,
    TriageQuestion,
    TriageResponse,
)
from partners import notifications
from partners.models import Person, PersonRole, Role, Status

#: The questions as the organiser reads them (DOMAIN.md, "Triage and risk assessment").
QUESTION_TEXT = {
    TriageQuestion.PROSCRIBED_LINKS: (
        "Does any speaker, or the organiser, have links to a proscribed organisation?"
    ),
    TriageQuestion.DRAWING_INTO_TERRORISM: (
        "Is there a risk that the event could draw people into terrorism?"
    ),
    TriageQuestion.UNLAWFUL_SPEECH: (
        "Is there a risk of unlawful speech, such as incitement or a public order offence?"
    ),
    TriageQuestion.SAFETY_PROTEST_CAPACITY: (
        "Are there concerns about safety, protest or the capacity of the venue?"
    ),
    TriageQuestion.CONTROVERSY_ELSEWHERE: (
        "Has a speaker's appearance caused controversy at other venues?"
    ),
    TriageQuestion.TOURING_SPEAKER: "Is a speaker touring several institutions?",
    TriageQuestion.SEGREGATION_DEMANDS: (
        "Has anyone asked for the audience to be segregated (for example by sex)?"
    ),
}
#: The same questions as short names, for headings and error messages.
QUESTION_SHORT = {
    TriageQuestion.PROSCRIBED_LINKS: "links to a proscribed organisation",
    TriageQuestion.DRAWING_INTO_TERRORISM: "risk of drawing people into terrorism",
    TriageQuestion.UNLAWFUL_SPEECH: "risk of unlawful speech",
    TriageQuestion.SAFETY_PROTEST_CAPACITY: "safety, protest and capacity",
    TriageQuestion.CONTROVERSY_ELSEWHERE: "controversy elsewhere",
    TriageQuestion.TOURING_SPEAKER: "a touring speaker",
    TriageQuestion.SEGREGATION_DEMANDS: "demands for a segregated audience",
}
#: The short names as headings ("Links to a proscribed organisation").
QUESTION_TITLES = {q: short[:1].upper() + short[1:] for q, short in QUESTION_SHORT.items()}
RESPONSE_LABELS = {
    TriageResponse.YES: "Yes",
    TriageResponse.NO: "No",
    TriageResponse.UNSURE: "Not sure",
}
RATING_LABELS = {
    RiskRating.LOW: "Low",
    RiskRating.MEDIUM: "Medium",
    RiskRating.HIGH: "High",
    RiskRating.VERY_HIGH: "Very high",
}
RATING_COLOURS = {
    RiskRating.LOW: "green",
    RiskRating.MEDIUM: "yellow",
    RiskRating.HIGH: "orange",
    RiskRating.VERY_HIGH: "red",
}
#: The highest score in each band, in order (see the module docstring).
RATING_BANDS = (
    (4, RiskRating.LOW),
    (9, RiskRating.MEDIUM),
    (16, RiskRating.HIGH),
    (25, RiskRating.VERY_HIGH),
)
#: The local review's two questions, each answered on its own scale of 1 to 5.
LIKELIHOOD_QUESTION = "How likely is harm (including unlawful speech) at this event?"
IMPACT_QUESTION = "If harm happened, how serious would its impact be?"
LIKELIHOOD_LABELS = {
    1: "1: very unlikely",
    2: "2: unlikely",
    3: "3: possible",
    4: "4: likely",
    5: "5: almost certain",
}
IMPACT_LABELS = {
    1: "1: negligible",
    2: "2: minor",
    3: "3: moderate",
    4: "4: major",
    5: "5: severe",
}
MITIGATION_LABELS = {
    MitigationType.INDEPENDENT_CHAIR: "Independent chair",
    MitigationType.BALANCING_SPEAKER: "Balancing or opposing speaker",
    MitigationType.PROTECTED_QA: "Protected time for questions and answers",
    MitigationType.RECORDING: "Recording the event",
    MitigationType.TICKETING_ID_CHECKS: "Ticketing or ID checks",
    MitigationType.STEWARDS_SECURITY: "Stewards or security staff",
    MitigationType.CODE_OF_CONDUCT: "Code of conduct signed by the speaker",
    MitigationType.ADVANCE_MATERIALS: "Advance copy of the speaker's materials",
    MitigationType.MEMBERS_ONLY: "Attendance limited to members",
    MitigationType.FREEDOM_OF_SPEECH_NOTICE: "Freedom-of-speech notice read at the start",
}
MITIGATION_STATUS_LABELS = {
    MitigationStatus.PROPOSED: "Proposed",
    MitigationStatus.AGREED: "Agreed",
    MitigationStatus.IN_PLACE: "In place",
    MitigationStatus.NOT_POSSIBLE: "Not possible",
}
#: Mitigations that count as a way for the event to go ahead safely.
ACTIVE_MITIGATIONS = frozenset({MitigationStatus.AGREED, MitigationStatus.IN_PLACE})


def rating_for(likelihood: int, impact: int) -> RiskRating:
    """The band of likelihood x impact (each 1-5)."""
    if not (1 <= likelihood <= 5 and 1 <= impact <= 5):
        raise ValueError("likelihood and impact run from 1 to 5")
    score = likelihood * impact
    return next(rating for top, rating in RATING_BANDS if score <= top)


def detail_key(question: TriageQuestion) -> str:
    """The input name of a question's detail box."""
    return f"{question.value}_detail"


# --- stages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One line of the task list: what it is and where it stands."""

    key: str
    title: str
    #: completed, in_progress, not_started, optional, cannot_start, not_needed or not_done
    status: str
    hint: str = ""


def stages(event: Event) -> list[Stage]:
    """The task list of an event's assessment, in order, with each stage's state."""
    assessment = event.assessment or RiskAssessment()
    status = event.status
    final = status in FINAL_STATES
    submitted = status != EventStatus.DRAFT

    if assessment.self_assessment == StageStatus.COMPLETED:
        self_state = "completed"
    elif submitted:
        self_state = "not_done"  # an event recorded before the hub (imported) may lack one
    else:
        self_state = "not_started"

    if assessment.local_review == StageStatus.COMPLETED:
        review_state = "completed"
    elif status in (EventStatus.SUBMITTED, EventStatus.UNDER_REVIEW):
        review_state = "not_started"
    elif final:
        review_state = "not_needed"
    else:
        review_state = "cannot_start"

    active = sum(1 for m in assessment.mitigations if m.status in ACTIVE_MITIGATIONS)
    count = len(assessment.mitigations)
    settled = all(m.status != MitigationStatus.PROPOSED for m in assessment.mitigations)
    if count:
        # Proposed mitigations still need someone to agree them (or rule them out).
        mitigation_state = "completed" if settled else "in_progress"
        mitigation_hint = f"{count} recorded, {active} agreed or in place"
    else:
        mitigation_state = "not_needed" if final else "optional"
        mitigation_hint = "Ways to let the event go ahead safely"

    if assessment.escalation == StageStatus.COMPLETED:
        escalation_state = "completed"
    elif status == EventStatus.UNDER_REVIEW and assessment.local_review == StageStatus.COMPLETED:
        escalation_state = "optional"
    elif final:
        escalation_state = "not_needed"
    else:
        escalation_state = "cannot_start"

    if status == EventStatus.DECIDED:
        decision_state = "completed"
    elif status == EventStatus.WITHDRAWN:
        decision_state = "not_needed"
    elif status in (EventStatus.UNDER_REVIEW, EventStatus.ESCALATED):
        decision_state = "not_started"
    else:
        decision_state = "cannot_start"

    return [
        Stage("self", "Organiser's self-assessment", self_state, "The triage questions"),
        Stage("review", "Local review by the Prevent lead", review_state, "Likelihood and impact"),
        Stage("mitigations", "Mitigations", mitigation_state, mitigation_hint),
        Stage(
            "escalation",
            "Escalation to a senior officer",
            escalation_state,
            "For a designated event: a named senior officer decides",
        ),
        Stage("decision", "Decision", decision_state, "The outcome, with its rationale"),
    ]


# --- the organiser's self-assessment ----------------------------------------------------


def guard_self_assessment(actor: Actor, event: Event) -> None:
    """Refuse (audited) unless the actor may answer the triage questions now."""
    if not permissions.can_write(actor, event.owner_org_id):
        raise deny(
            "assessment.update",
            "Only events officers and Prevent leads complete the self-assessment.",
            event,
        )
    if event.status != EventStatus.DRAFT:
        raise conflict(
            "assessment.update",
            "The self-assessment cannot change once the event is submitted; this event is "
            f"{STATUS_PHRASES[event.status]}.",
            event,
        )


def save_self_assessment(actor: Actor, event: Event, data: dict[str, Any]) -> RiskAssessment:
    """Answer every triage question (yes, no or not sure), with details for yes and not sure.

    The organiser answers while the event is a draft; submitting it locks the answers.
    """
    guard_self_assessment(actor, event)
    check = Checker(data)
    answers: dict[TriageQuestion, tuple[TriageResponse, str]] = {}
    for question in TriageQuestion:
        short = QUESTION_SHORT[question]
        answer = check.choice(question.value, TriageResponse, f"yes, no or not sure for {short}")
        detail = check.text(
            detail_key(question), f"details for {short}", required=False, max_length=5000
        )
        if answer in (TriageResponse.YES, TriageResponse.UNSURE) and not detail:
            check.add(
                detail_key(question),
                f"Give details of why you answered '{RESPONSE_LABELS[answer].lower()}' "
                f"about {short}.",
            )
        if answer is not None:
            answers[question] = (answer, detail)
    check.raise_if_any()
    assessment = ensure_assessment(event)
    existing = {a.question: a for a in assessment.answers}
    changed = []
    for question, (answer, detail) in answers.items():
        row = existing.get(question)
        if row is None:
            assessment.answers.append(TriageAnswer(question=question, answer=answer, detail=detail))
            changed.append(question.value)
        elif (row.answer, row.detail) != (answer, detail):
            row.answer, row.detail = answer, detail
            changed.append(question.value)
    assessment.self_assessment = StageStatus.COMPLETED
    assessment.self_assessed_by_id = actor.person_id
    assessment.self_assessed_at = utcnow()
    db.session.flush()
    record_change(actor, "assessment.update", event, changed, stage="self_assessment")
    return assessment


# --- the Prevent lead's local review ----------------------------------------------------


def guard_local_review(actor: Actor, event: Event) -> None:
    """Refuse (audited) unless the actor may review the event now."""
    if not permissions.can_review(actor, event.owner_org_id):
        raise deny("assessment.update", "Only a Prevent lead reviews events.", event)
    if event.status == EventStatus.SUBMITTED:
        check_step(actor, event, EventStatus.UNDER_REVIEW, "assessment.update")
    elif event.status != EventStatus.UNDER_REVIEW:
        raise conflict(
            "assessment.update",
            "The local review is done while an event is submitted or under review; this event "
            f"is {STATUS_PHRASES[event.status]}.",
            event,
        )


def save_local_review(actor: Actor, event: Event, data: dict[str, Any]) -> RiskAssessment:
    """Rate likelihood and impact (1-5 each) with review notes; a submitted event moves to
    under review."""
    guard_local_review(actor, event)
    check = Checker(data)
    likelihood = check.integer("likelihood", "the likelihood", minimum=1, maximum=5)
    impact = check.integer("impact", "the impact", minimum=1, maximum=5)
    notes = check.text("review_notes", "your review notes", max_length=10_000)
    check.raise_if_any()
    assert likelihood is not None
    assert impact is not None
    assessment = ensure_assessment(event)
    before = (assessment.likelihood, assessment.impact, assessment.review_notes)
    assessment.likelihood, assessment.impact = likelihood, impact
    assessment.rating = rating_for(likelihood, impact)
    assessment.review_notes = notes
    assessment.local_review = StageStatus.COMPLETED
    assessment.reviewed_by_id = actor.person_id
    assessment.reviewed_at = utcnow()
    if event.status == EventStatus.SUBMITTED:
        move(actor, event, EventStatus.UNDER_REVIEW)
    db.session.flush()
    changed = [
        name
        for name, old, new in zip(
            ("likelihood", "impact", "review_notes"),
            before,
            (likelihood, impact, notes),
            strict=True,
        )
        if old != new
    ]
    record_change(
        actor,
        "assessment.update",
        event,
        [*changed, "rating"] if changed else changed,
        stage="local_review",
        rating=assessment.rating.value,
    )
    return assessment


# --- escalation to a named senior officer -----------------------------------------------


def senior_officer_choices(actor: Actor, event: Event) -> list[Person]:
    """The people who can be named to decide the event: active senior officers of the host
    organisation, never the person escalating it."""
    query = (
        sa.select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(
            Person.organisation_id == event.owner_org_id,
            Person.status == Status.ACTIVE,
            PersonRole.role == Role.SENIOR_OFFICER,
        )
    )
    me = actor.person_id
    if me is not None:
        query = query.where(Person.id != me)
    return list(db.session.scalars(query.order_by(Person.name)))


def guard_escalation(actor: Actor, event: Event) -> None:
    """Refuse (audited) unless the actor may escalate the event now."""
    check_step(actor, event, EventStatus.ESCALATED, "assessment.update")
    if event.assessment is None or event.assessment.local_review != StageStatus.COMPLETED:
        raise conflict(
            "assessment.update", "Complete the local review before escalating the event.", event
        )


def escalate(actor: Actor, event: Event, data: dict[str, Any]) -> RiskAssessment:
    """Make the event a designated event, decided by a named senior officer of the host
    organisation, with the reason for escalating it."""
    guard_escalation(actor, event)
    assessment = ensure_assessment(event)
    check = Checker(data)
    officer = check.one_of(
        "senior_officer_id",
        {str(p.id): p for p in senior_officer_choices(actor, event)},
        "the senior officer who will decide",
        refusal=(
            "Name a senior officer other than yourself."
            if data.get("senior_officer_id") == actor.id
            else "Choose a senior officer of your organisation."
        ),
    )
    reason = check.text("escalation_reason", "the reason for escalating", max_length=10_000)
    check.raise_if_any()
    assert officer is not None
    event.designated = True
    event.senior_officer_id = officer.id
    assessment.escalation = StageStatus.COMPLETED
    assessment.escalation_reason = reason
    assessment.escalated_by_id = actor.person_id
    assessment.escalated_at = utcnow()
    move(actor, event, EventStatus.ESCALATED)
    record_change(
        actor,
        "assessment.update",
        event,
        ["designated", "senior_officer_id", "escalation_reason"],
        stage="escalation",
    )
    notifications.notify(
        event.owner_org_id,
        "event.waiting_for_decision",
        "An event is waiting for your decision",
        link=f"/events/{event.id}/decision",
        person_id=officer.id,
        email_text=[
            "An event has been escalated to you as the senior officer who will decide it. "
            "Read its risk assessment and record your decision in the hub."
        ],
    )
    return assessment


# --- mitigations ------------------------------------------------------------------------


def guard_mitigations(actor: Actor, event: Event, action: str = ASSESSMENT_UPDATE) -> None:
    """Refuse (audited) unless the actor may add, change or remove mitigations now."""
    if not permissions.can_write(actor, event.owner_org_id):
        raise deny(action, "Only events officers and Prevent leads change mitigations.", event)
    if event.status in FINAL_STATES:
        raise conflict(
            action,
            f"Mitigations cannot change once the event is {STATUS_PHRASES[event.status]}.",
            event,
        )


def _read_mitigation(data: dict[str, Any]) -> dict[str, Any]:
    check = Checker(data)
    values = {
        "type": check.choice("type", MitigationType, "the kind of mitigation"),
        "description": check.text("description", "a description", required=False, max_length=5000),
        "owner_name": check.text("owner_name", "who is responsible for it"),
        "status": check.choice(
            "status", MitigationStatus, "where the mitigation stands", required=False
        )
        or MitigationStatus.PROPOSED,
    }
    check.raise_if_any()
    return values


def get_mitigation(event: Event, mitigation_id: int | str) -> Mitigation:
    """One of the event's mitigations (the event has already been checked)."""
    try:
        key = int(mitigation_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("There is no such mitigation.") from exc
    for mitigation in event.assessment.mitigations if event.assessment else []:
        if mitigation.id == key:
            return mitigation
    raise NotFound("There is no such mitigation.")


def add_mitigation(actor: Actor, event: Event, data: dict[str, Any]) -> Mitigation:
    """Add a mitigation of a given type, with an owner and a status."""
    guard_mitigations(actor, event, "assessment.update")
    values = _read_mitigation(data)
    mitigation = Mitigation(**values)
    ensure_assessment(event).mitigations.append(mitigation)
    db.session.flush()
    record_change(
        actor,
        "assessment.update",
        event,
        [k for k, v in values.items() if v],
        stage="mitigations",
        change="add",
        mitigation_id=mitigation.id,
    )
    return mitigation


def update_mitigation(
    actor: Actor, event: Event, mitigation: Mitigation, data: dict[str, Any]
) -> Mitigation:
    """Change a mitigation; fields left out keep their values."""
    guard_mitigations(actor, event, "assessment.update")
    current = {
        "type": mitigation.type,
        "description": mitigation.description,
        "owner_name": mitigation.owner_name,
        "status": mitigation.status,
    }
    values = _read_mitigation({**current, **data})
    changed = [key for key, value in values.items() if current[key] != value]
    for key, value in values.items():
        setattr(mitigation, key, value)
    db.session.flush()
    record_change(
        actor,
        "assessment.update",
        event,
        changed,
        stage="mitigations",
        change="update",
        mitigation_id=mitigation.id,
    )
    return mitigation


def remove_mitigation(actor: Actor, event: Event, mitigation: Mitigation) -> None:
    """Remove a mitigation that no longer applies."""
    guard_mitigations(actor, event, "assessment.update")
    key = mitigation.id
    event.assessment.mitigations.remove(mitigation)
    db.session.flush()
    record_change(
        actor,
        "assessment.update",
        event,
        ["mitigations"],
        stage="mitigations",
        change="remove",
        mitigation_id=key,
    )


def active_mitigations(event: Event) -> list[Mitigation]:
    """Mitigations agreed or in place (what lets the event go ahead with conditions)."""
    if event.assessment is None:
        return []
    return [m for m in event.assessment.mitigations if m.status in ACTIVE_MITIGATIONS]


def person_name(person_id_value: uuid.UUID | None) -> str:
    """The name of a person of the organisation (for pages only; never for the audit log)."""
    if person_id_value is None:
        return ""
    person = db.session.get(Person, person_id_value)
    return person.name if person else ""
