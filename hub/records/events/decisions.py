"""Decisions on events and appeals against them, with the freedom-of-speech guardrail.

Under the Higher Education (Freedom of Speech) Act 2023 cancellation is a last resort, so a
rejection cannot be saved unless it records (a) the finding on lawful speech, (b) which
mitigations were considered and why each was not enough, and (c) a reason category, the one
providers report each year. Proportionate outcomes are the easy path: the decision page offers
the assessment's mitigations as conditions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from core.db import db, utcnow
from core.documents import long_date
from core.errors import NotFound
from core.security import Actor
from core.validation import Checker
from hub.records import permissions
from hub.records.events.assessments import (
    MITIGATION_LABELS,
    MITIGATION_STATUS_LABELS,
    active_mitigations,
)
from hub.records.events.services import (
    check_step,
    conflict,
    deny,
    is_named_officer,
    local_date,
    local_today,
    move,
    record_change,
)
from hub.records.models import (
    OUTCOME_LABELS,
    Appeal,
    AppealOutcome,
    Decision,
    Event,
    EventStatus,
    MitigationConsidered,
    MitigationType,
    Outcome,
    ReasonCategory,
)
from hub.records.working_days import add_working_days

#: Working days an institution has to decide an appeal, unless it sets another deadline.
APPEAL_WORKING_DAYS = 10

REASON_CATEGORY_LABELS = {
    ReasonCategory.HEALTH_AND_SAFETY: "Health and safety",
    ReasonCategory.PROCEDURAL: "Procedural",
    ReasonCategory.PREVENT: "Prevent",
    ReasonCategory.OTHER: "Other",
}
APPEAL_OUTCOME_LABELS = {
    AppealOutcome.PENDING: "Waiting for a decision",
    AppealOutcome.UPHELD: "Upheld (the decision stands)",
    AppealOutcome.OVERTURNED: "Overturned",
    AppealOutcome.VARIED: "Varied",
}
DECIDED_APPEAL_OUTCOMES = (AppealOutcome.UPHELD, AppealOutcome.OVERTURNED, AppealOutcome.VARIED)


def current_decision(event: Event) -> Decision | None:
    """The decision that stands (the latest not superseded by an appeal)."""
    standing = [d for d in event.decisions if not d.superseded_by_appeal]
    return standing[-1] if standing else None


def suggested_outcome(event: Event) -> Outcome | None:
    """Approved with conditions when mitigations are agreed or in place: the proportionate
    outcome the decision page offers first."""
    return Outcome.APPROVED_WITH_CONDITIONS if active_mitigations(event) else None


def conditions_from_mitigations(event: Event) -> str:
    """Conditions text drawn from the mitigations agreed or in place, one a line."""
    lines = []
    for mitigation in active_mitigations(event):
        line = f"{MITIGATION_LABELS[mitigation.type]} ({mitigation.owner_name}, "
        line += f"{MITIGATION_STATUS_LABELS[mitigation.status].lower()})"
        if mitigation.description:
            line += f": {mitigation.description}"
        lines.append(line)
    return "\n".join(lines)


def why_key(kind: MitigationType) -> str:
    """The input name of the reason a considered mitigation was not enough."""
    return f"why_{kind.value}"


# --- reading a decision -----------------------------------------------------------------


def _read_considered(check: Checker) -> list[tuple[MitigationType, str]]:
    raw = check.data.get("mitigations_considered")
    if raw in (None, ""):
        raw = []
    if not isinstance(raw, list):
        check.add("mitigations_considered", "Give the mitigations considered as a list.")
        return []
    considered: list[tuple[MitigationType, str]] = []
    for item in raw:
        if not isinstance(item, dict):
            check.add(
                "mitigations_considered",
                "Give each mitigation considered as its type and why it was not enough.",
            )
            continue
        try:
            kind = MitigationType(str(item.get("type") or "").strip())
        except ValueError:
            allowed = ", ".join(m.value for m in MitigationType)
            check.add(
                "mitigations_considered",
                f"'{item.get('type')}' is not a kind of mitigation: use one of {allowed}.",
            )
            continue
        if any(kind == seen for seen, _ in considered):
            check.add(
                "mitigations_considered", f"'{MITIGATION_LABELS[kind]}' is listed more than once."
            )
            continue
        reason = item.get("why_insufficient")
        reason = reason.strip() if isinstance(reason, str) else ""
        if not reason:
            check.add(why_key(kind), f"Say why '{MITIGATION_LABELS[kind]}' was not enough.")
        elif len(reason) > 5000:
            check.add(why_key(kind), "Each reason must be 5,000 characters or fewer.")
        considered.append((kind, reason))
    if not considered:
        check.add(
            "mitigations_considered",
            "A rejection must record which mitigations were considered and why each was not "
            "enough: choose at least one.",
        )
    return considered


def _read_outcome(
    check: Checker, outcome_key: str = "outcome", outcome_label: str = "the outcome"
) -> dict[str, Any]:
    """The outcome and what it needs: conditions, or for a rejection the guardrail."""
    outcome = check.choice(outcome_key, Outcome, outcome_label)
    conditions = check.text("conditions", "the conditions", required=False, max_length=10_000)
    values: dict[str, Any] = {
        "outcome": outcome,
        "conditions": "",
        "lawful_speech_finding": "",
        "reason_category": None,
        "considered": [],
    }
    if outcome == Outcome.APPROVED_WITH_CONDITIONS:
        if not conditions:
            check.add("conditions", "Enter the conditions the event must meet.")
        values["conditions"] = conditions
    if outcome == Outcome.REJECTED:
        finding = check.text(
            "lawful_speech_finding", "the finding on lawful speech", required=False,
            max_length=10_000,
        )  # fmt: skip
        if not finding:
            check.add(
                "lawful_speech_finding",
                "A rejection must record the finding on lawful speech: why the speech would "
                "be unlawful, or why the risk could not be mitigated.",
            )
        values["considered"] = _read_considered(check)
        category = check.choice(
            "reason_category", ReasonCategory, "the reason category", required=False
        )
        if category is None and check.ok("reason_category"):
            check.add(
                "reason_category",
                "A rejection must record a reason category: health and safety, procedural, "
                "Prevent or other.",
            )
        values["lawful_speech_finding"] = finding
        values["reason_category"] = category
    return values


def _new_decision(actor: Actor, event: Event, values: dict[str, Any], rationale: str, on: date):
    decision = Decision(
        owner_org_id=event.owner_org_id,
        distribution=event.distribution,
        outcome=values["outcome"],
        rationale=rationale,
        conditions=values["conditions"],
        reason_category=values["reason_category"],
        lawful_speech_finding=values["lawful_speech_finding"],
        decided_by_id=actor.person_id,
        decided_on=on,
        decided_at=utcnow(),
    )
    decision.considered = [
        MitigationConsidered(type=kind, why_insufficient=reason)
        for kind, reason in values["considered"]
    ]
    event.decisions.append(decision)
    event.outcome = decision.outcome
    return decision


def _decision_fields(decision: Decision) -> list[str]:
    fields = ["outcome", "rationale", "decided_on"]
    if decision.conditions:
        fields.append("conditions")
    if decision.outcome == Outcome.REJECTED:
        fields += ["lawful_speech_finding", "mitigations_considered", "reason_category"]
    return fields


# --- deciding ---------------------------------------------------------------------------


def can_record_decision(actor: Actor, event: Event) -> bool:
    """The actor may decide this event now (a Prevent lead, or for a designated event only
    its named senior officer) and it is waiting for a decision."""
    return permissions.can_decide(
        actor, event.owner_org_id, event.designated, event.senior_officer_id
    ) and event.status in (EventStatus.UNDER_REVIEW, EventStatus.ESCALATED)


def guard_decision(actor: Actor, event: Event) -> None:
    """Refuse (audited) unless the actor may decide the event now."""
    if not permissions.can_decide(
        actor, event.owner_org_id, event.designated, event.senior_officer_id
    ):
        check_step(actor, event, EventStatus.DECIDED, "decision.record")  # refuses, audited
    if event.status == EventStatus.DECIDED:
        raise conflict(
            "decision.record",
            "A decision has already been recorded for this event. To change it, lodge an appeal.",
            event,
            "already_decided",
        )
    check_step(actor, event, EventStatus.DECIDED, "decision.record")


def record_decision(actor: Actor, event: Event, data: dict[str, Any]) -> Decision:
    """Decide an event under review (or escalated): outcome, rationale, date; a rejection
    only with the guardrail's three records. The event becomes decided."""
    guard_decision(actor, event)
    check = Checker(data)
    values = _read_outcome(check)
    rationale = check.text("rationale", "the rationale for the decision", max_length=20_000)
    decided_on = check.date("decided_on", "the date of the decision")
    if decided_on is not None:
        if decided_on > local_today():
            check.add("decided_on", "The date of the decision cannot be in the future.")
        elif event.submitted_at is not None and decided_on < local_date(event.submitted_at):
            check.add(
                "decided_on",
                "The date of the decision cannot be before the event was submitted on "
                f"{long_date(local_date(event.submitted_at))}.",
            )
    check.raise_if_any()
    assert decided_on is not None
    decision = _new_decision(actor, event, values, rationale, decided_on)
    move(actor, event, EventStatus.DECIDED)
    db.session.flush()
    record_change(
        actor,
        "decision.record",
        event,
        _decision_fields(decision),
        decision_id=str(decision.id),
        decision_outcome=decision.outcome.value,
        reason_category=decision.reason_category.value if decision.reason_category else None,
    )
    return decision


# --- appeals ----------------------------------------------------------------------------


def default_appeal_deadline(lodged_on: date | None = None) -> date:
    """Ten working days (England and Wales) after the appeal is lodged."""
    return add_working_days(lodged_on or local_today(), APPEAL_WORKING_DAYS)


def can_lodge_appeal(actor: Actor, event: Event) -> bool:
    """The host organisation's writers, against a standing decision not yet appealed."""
    decision = current_decision(event)
    return (
        permissions.can_write(actor, event.owner_org_id)
        and event.status == EventStatus.DECIDED
        and decision is not None
        and not decision.appeals
    )


def guard_lodge_appeal(actor: Actor, event: Event) -> Decision:
    """Refuse (audited) unless the actor may appeal the standing decision; returns it."""
    if not permissions.can_write(actor, event.owner_org_id):
        raise deny("appeal.lodge", "Only events officers and Prevent leads lodge appeals.", event)
    decision = current_decision(event)
    if event.status != EventStatus.DECIDED or decision is None:
        raise conflict("appeal.lodge", "Only a decided event can be appealed.", event)
    if decision.appeals:
        pending = any(a.outcome == AppealOutcome.PENDING for a in decision.appeals)
        raise conflict(
            "appeal.lodge",
            "An appeal against this decision is already waiting for its outcome."
            if pending
            else "This decision has already been appealed, and the appeal was upheld.",
            event,
            "already_appealed",
        )
    return decision


def lodge_appeal(actor: Actor, event: Event, data: dict[str, Any]) -> Appeal:
    """Appeal the standing decision on an event, with grounds and a deadline for its outcome."""
    decision = guard_lodge_appeal(actor, event)
    check = Checker(data)
    grounds = check.text("grounds", "the grounds for the appeal", max_length=20_000)
    deadline = check.date("deadline", "the deadline for deciding the appeal", required=False)
    if deadline is not None and deadline < local_today():
        check.add("deadline", "The deadline for deciding the appeal must be today or later.")
    check.raise_if_any()
    appeal = Appeal(
        grounds=grounds,
        lodged_by_id=actor.person_id,
        lodged_at=utcnow(),
        deadline=deadline or default_appeal_deadline(),
        outcome=AppealOutcome.PENDING,
    )
    decision.appeals.append(appeal)
    db.session.flush()
    record_change(
        actor,
        "appeal.lodge",
        event,
        ["grounds", "deadline"],
        decision_id=str(decision.id),
        appeal_id=appeal.id,
    )
    return appeal


def get_appeal(event: Event, appeal_id: int | str) -> Appeal:
    """One of the event's appeals (the event has already been checked)."""
    try:
        key = int(appeal_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("There is no such appeal.") from exc
    for decision in event.decisions:
        for appeal in decision.appeals:
            if appeal.id == key:
                return appeal
    raise NotFound("There is no such appeal.")


def pending_appeal(event: Event) -> Appeal | None:
    """The appeal waiting for its outcome, if any."""
    decision = current_decision(event)
    if decision is None:
        return None
    return next((a for a in decision.appeals if a.outcome == AppealOutcome.PENDING), None)


def may_hear_appeal(actor: Actor, event: Event) -> bool:
    """A Prevent lead of the host organisation, or the event's named senior officer."""
    return permissions.can_review(actor, event.owner_org_id) or is_named_officer(actor, event)


def can_decide_appeal(actor: Actor, event: Event, appeal: Appeal) -> bool:
    """May hear appeals, did not make the decision under appeal, and the appeal is pending."""
    return (
        may_hear_appeal(actor, event)
        and actor.id != str(appeal.decision.decided_by_id)
        and appeal.outcome == AppealOutcome.PENDING
    )


def guard_decide_appeal(actor: Actor, event: Event, appeal: Appeal) -> None:
    """Refuse (audited) unless the actor may decide this appeal now."""
    if not may_hear_appeal(actor, event):
        raise deny(
            "appeal.decide",
            "Only a Prevent lead or the event's named senior officer decides appeals.",
            event,
        )
    original = appeal.decision
    if actor.id == str(original.decided_by_id):
        raise deny(
            "appeal.decide",
            "An appeal must be decided by someone other than the person who made the "
            "decision under appeal.",
            event,
        )
    if appeal.outcome != AppealOutcome.PENDING:
        raise conflict("appeal.decide", "This appeal has already been decided.", event)


def decide_appeal(actor: Actor, event: Event, appeal: Appeal, data: dict[str, Any]) -> Appeal:
    """Uphold, overturn or vary the decision under appeal; overturning or varying it records a
    new decision (the old one is marked superseded) and the event's outcome follows it."""
    guard_decide_appeal(actor, event, appeal)
    original = appeal.decision
    check = Checker(data)
    outcome = check.choice(
        "appeal_outcome", AppealOutcome, "whether the decision is upheld, overturned or varied"
    )
    if outcome == AppealOutcome.PENDING:
        check.add("appeal_outcome", "Choose whether the decision is upheld, overturned or varied.")
    rationale = check.text("rationale", "the rationale for the appeal's outcome", max_length=20_000)
    values: dict[str, Any] | None = None
    if outcome in (AppealOutcome.OVERTURNED, AppealOutcome.VARIED):
        values = _read_outcome(check, "new_outcome", "the new outcome")
        if outcome == AppealOutcome.OVERTURNED and values["outcome"] == original.outcome:
            check.add(
                "new_outcome",
                "An overturned decision needs a different outcome from "
                f"'{OUTCOME_LABELS[original.outcome]}'.",
            )
    check.raise_if_any()
    assert outcome is not None
    appeal.outcome = outcome
    appeal.rationale = rationale
    appeal.decided_by_id = actor.person_id
    appeal.decided_at = utcnow()
    new_decision = None
    if values is not None:
        original.superseded_by_appeal = True
        new_decision = _new_decision(actor, event, values, rationale, local_today())
    db.session.flush()
    record_change(
        actor,
        "appeal.decide",
        event,
        ["outcome", "rationale"],
        decision_id=str(original.id),
        appeal_id=appeal.id,
        appeal_outcome=outcome.value,
    )
    if new_decision is not None:
        record_change(
            actor,
            "decision.record",
            event,
            _decision_fields(new_decision),
            decision_id=str(new_decision.id),
            decision_outcome=new_decision.outcome.value,
            reason_category=(
                new_decision.reason_category.value if new_decision.reason_category else None
            ),
            superseded=str(original.id),
            via="appeal",
        )
    return appeal
