"""Pages for an event's review: the risk assessment task list and its stages (self-assessment,
local review, escalation), mitigations, the decision and appeals. They are routes of the
"events" blueprint (`hub.records.events.web`), whose endpoint names the pages link to."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from core.errors import Conflict, ValidationFailed
from core.request import current_actor, signed_in_required
from hub.records import permissions
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.events.web import (
    blueprint,
    load_event,
    options,
    people_names,
    refusal_status,
    refused,
)
from hub.records.models import (
    Event,
    EventStatus,
    MitigationStatus,
    MitigationType,
    Outcome,
    TriageQuestion,
)

# --- the risk assessment ----------------------------------------------------------------


def _stage_links(actor: Any, event: Event) -> dict[str, str]:
    # A stage links to its page only when the actor can act on it now.
    links = {}
    writer = permissions.can_write(actor, event.owner_org_id)
    reviewer = permissions.can_review(actor, event.owner_org_id)
    if writer and event.status == EventStatus.DRAFT:
        links["self"] = url_for("events.self_assessment", event_id=event.id)
    if reviewer and event.status in (EventStatus.SUBMITTED, EventStatus.UNDER_REVIEW):
        links["review"] = url_for("events.local_review", event_id=event.id)
    links["mitigations"] = url_for("events.mitigations", event_id=event.id)
    if (
        reviewer
        and event.status == EventStatus.UNDER_REVIEW
        and event.assessment is not None
        and event.assessment.local_review.value == "completed"
    ):
        links["escalation"] = url_for("events.escalation", event_id=event.id)
    if decisions.can_record_decision(actor, event):
        links["decision"] = url_for("events.decision", event_id=event.id)
    return links


@blueprint.get("/<event_id>/assessment")
@signed_in_required
def assessment(event_id: str) -> Any:
    """The risk assessment as a task list, with what each completed stage recorded."""
    actor = current_actor()
    event = load_event(event_id)
    record = event.assessment
    ids = []
    if record is not None:
        ids = [record.self_assessed_by_id, record.reviewed_by_id, record.escalated_by_id]
    names = people_names([*ids, event.senior_officer_id])
    return render_template(
        "records/events/assessment.html",
        event=event,
        record=record,
        stages=assessments.stages(event),
        links=_stage_links(actor, event),
        answers={a.question: a for a in record.answers} if record else {},
        questions=list(TriageQuestion),
        names=names,
        current=decisions.current_decision(event),
        page_title=f"Risk assessment: {event.title}",
    )


def _stage_page(
    event_id: str,
    guard: Any,
    save: Any,
    template: str,
    fields: Iterable[str],
    initial: Any,
    message: str,
    title: str,
    **context: Any,
) -> Any:
    """A stage of the assessment: guard, show the form, save and return to the task list."""
    actor = current_actor()
    event = load_event(event_id)
    guard(actor, event)
    errors: dict[str, list[str]] = {}
    code = 200
    values = initial(event)
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in fields}
        try:
            save(actor, event, values)
        except (ValidationFailed, Conflict) as exc:
            errors = refused(exc)
            code = refusal_status(exc)
            event = load_event(event_id)
        else:
            flash(message, "success")
            return redirect(url_for("events.assessment", event_id=event.id))
    extra = {
        key: value(actor, event) if callable(value) else value for key, value in context.items()
    }
    return (
        render_template(
            template, event=event, values=values, errors=errors, page_title=title, **extra
        ),
        code,
    )


SELF_FIELDS = [
    name for q in TriageQuestion for name in (q.value, assessments.detail_key(q))
]  # fmt: skip


def _self_initial(event: Event) -> dict[str, str]:
    values = {}
    for answer in event.assessment.answers if event.assessment else []:
        values[answer.question.value] = answer.answer.value
        values[assessments.detail_key(answer.question)] = answer.detail
    return values


@blueprint.route("/<event_id>/assessment/self", methods=["GET", "POST"])
@signed_in_required
def self_assessment(event_id: str) -> Any:
    """The organiser's self-assessment: the triage questions."""
    return _stage_page(
        event_id,
        assessments.guard_self_assessment,
        assessments.save_self_assessment,
        "records/events/self_assessment.html",
        SELF_FIELDS,
        _self_initial,
        "The self-assessment has been saved.",
        "Organiser's self-assessment",
        questions=[
            (q.value, assessments.QUESTION_TEXT[q], assessments.detail_key(q))
            for q in TriageQuestion
        ],
        response_options=options(assessments.RESPONSE_LABELS),
    )


def _review_initial(event: Event) -> dict[str, str]:
    record = event.assessment
    if record is None or record.likelihood is None:
        return {}
    return {
        "likelihood": str(record.likelihood),
        "impact": str(record.impact),
        "review_notes": record.review_notes,
    }


@blueprint.route("/<event_id>/assessment/review", methods=["GET", "POST"])
@signed_in_required
def local_review(event_id: str) -> Any:
    """The Prevent lead's local review: likelihood x impact, and notes."""
    return _stage_page(
        event_id,
        assessments.guard_local_review,
        assessments.save_local_review,
        "records/events/local_review.html",
        ["likelihood", "impact", "review_notes"],
        _review_initial,
        "The local review has been saved.",
        "Local review",
        likelihood_question=assessments.LIKELIHOOD_QUESTION,
        impact_question=assessments.IMPACT_QUESTION,
        likelihood_scale=[(str(n), text) for n, text in assessments.LIKELIHOOD_LABELS.items()],
        impact_scale=[(str(n), text) for n, text in assessments.IMPACT_LABELS.items()],
        bands=assessments.RATING_BANDS,
        answers=lambda actor, event: in_form_order(event),
    )


def in_form_order(event: Event) -> list[Any]:
    """The organiser's triage answers in the order the self-assessment asks the questions
    (the stored answers sort by their internal keys)."""
    order = {question: number for number, question in enumerate(TriageQuestion)}
    answers = event.assessment.answers if event.assessment else []
    return sorted(answers, key=lambda answer: order[answer.question])


@blueprint.route("/<event_id>/assessment/escalation", methods=["GET", "POST"])
@signed_in_required
def escalation(event_id: str) -> Any:
    """Escalate the event to a named senior officer of the organisation (a designated event)."""
    return _stage_page(
        event_id,
        assessments.guard_escalation,
        assessments.escalate,
        "records/events/escalation.html",
        ["senior_officer_id", "escalation_reason"],
        lambda event: {},
        "The event has been escalated to the senior officer.",
        "Escalate to a senior officer",
        officer_options=lambda actor, event: (
            [("", "Choose a person")]
            + [(str(p.id), p.name) for p in assessments.senior_officer_choices(actor, event)]
        ),
    )


# --- mitigations ------------------------------------------------------------------------


MITIGATION_FIELDS = ("type", "description", "owner_name", "status")


@blueprint.get("/<event_id>/assessment/mitigations")
@signed_in_required
def mitigations(event_id: str) -> Any:
    """The event's mitigations, each with its type, owner and status."""
    actor = current_actor()
    event = load_event(event_id)
    return render_template(
        "records/events/mitigations.html",
        event=event,
        items=event.assessment.mitigations if event.assessment else [],
        can_change=permissions.can_write(actor, event.owner_org_id)
        and event.status not in events.FINAL_STATES,
        page_title=f"Mitigations: {event.title}",
    )


def _mitigation_form(event_id: str, mitigation_id: str | None) -> Any:
    actor = current_actor()
    event = load_event(event_id)
    assessments.guard_mitigations(actor, event)
    item = assessments.get_mitigation(event, mitigation_id) if mitigation_id else None
    errors: dict[str, list[str]] = {}
    code = 200
    if item is not None:
        values = {key: getattr(item, key) for key in MITIGATION_FIELDS}
        values = {k: getattr(v, "value", v) for k, v in values.items()}
    else:
        values = {"status": MitigationStatus.PROPOSED.value}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in MITIGATION_FIELDS}
        try:
            if item is None:
                assessments.add_mitigation(actor, event, values)
            else:
                assessments.update_mitigation(actor, event, item, values)
        except (ValidationFailed, Conflict) as exc:
            errors = refused(exc)
            code = refusal_status(exc)
            event = load_event(event_id)
        else:
            flash("The mitigation has been saved.", "success")
            return redirect(url_for("events.mitigations", event_id=event.id))
    return (
        render_template(
            "records/events/mitigation_form.html",
            event=event,
            item=item,
            values=values,
            errors=errors,
            type_options=options(assessments.MITIGATION_LABELS),
            status_options=options(assessments.MITIGATION_STATUS_LABELS),
            page_title="Change a mitigation" if item else "Add a mitigation",
        ),
        code,
    )


@blueprint.route("/<event_id>/assessment/mitigations/new", methods=["GET", "POST"])
@signed_in_required
def new_mitigation(event_id: str) -> Any:
    """Add a mitigation."""
    return _mitigation_form(event_id, None)


@blueprint.route("/<event_id>/assessment/mitigations/<mitigation_id>", methods=["GET", "POST"])
@signed_in_required
def edit_mitigation(event_id: str, mitigation_id: str) -> Any:
    """Change a mitigation."""
    return _mitigation_form(event_id, mitigation_id)


@blueprint.post("/<event_id>/assessment/mitigations/<mitigation_id>/remove")
@signed_in_required
def remove_mitigation(event_id: str, mitigation_id: str) -> Any:
    """Remove a mitigation."""
    actor = current_actor()
    event = load_event(event_id)
    assessments.guard_mitigations(actor, event)
    item = assessments.get_mitigation(event, mitigation_id)
    assessments.remove_mitigation(actor, event, item)
    flash("The mitigation has been removed.", "success")
    return redirect(url_for("events.mitigations", event_id=event.id))


# --- decision and appeals ---------------------------------------------------------------


def _considered_from_form() -> list[dict[str, str]]:
    chosen = request.form.getlist("mitigations_considered")
    return [
        {"type": kind, "why_insufficient": request.form.get(f"why_{kind}", "")} for kind in chosen
    ]


def _decision_context(event: Event) -> dict[str, Any]:
    return {
        "active": assessments.active_mitigations(event),
        "all_mitigations": event.assessment.mitigations if event.assessment else [],
        "suggested": decisions.suggested_outcome(event),
        "mitigation_types": [(m.value, assessments.MITIGATION_LABELS[m]) for m in MitigationType],
        "reason_options": options(decisions.REASON_CATEGORY_LABELS),
        "outcome_order": [
            Outcome.APPROVED_WITH_CONDITIONS,
            Outcome.APPROVED,
            Outcome.POSTPONED,
            Outcome.REJECTED,
        ],
        "record": event.assessment,
    }


DECISION_TEXT_FIELDS = ("outcome", "conditions", "rationale", "lawful_speech_finding")


@blueprint.route("/<event_id>/decision", methods=["GET", "POST"])
@signed_in_required
def decision(event_id: str) -> Any:
    """Record the decision: proportionate outcomes first; a rejection needs the guardrail."""
    actor = current_actor()
    event = load_event(event_id)
    decisions.guard_decision(actor, event)
    errors: dict[str, list[str]] = {}
    code = 200
    suggested = decisions.suggested_outcome(event)
    values: dict[str, Any] = {
        "outcome": suggested.value if suggested else "",
        "conditions": decisions.conditions_from_mitigations(event),
        "decided_on": events.local_today().isoformat(),
        "considered": {},
    }
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in DECISION_TEXT_FIELDS}
        values["reason_category"] = request.form.get("reason_category", "")
        considered = _considered_from_form()
        data = {**values, "mitigations_considered": considered}
        data.update({k: request.form.get(k, "") for k in _date_keys("decided_on")})
        values.update({k: request.form.get(k, "") for k in _date_keys("decided_on")})
        values["considered"] = {c["type"]: c["why_insufficient"] for c in considered}
        values["why"] = {
            m.value: request.form.get(decisions.why_key(m), "") for m in MitigationType
        }
        try:
            decisions.record_decision(actor, event, data)
        except (ValidationFailed, Conflict) as exc:
            errors = refused(exc)
            code = refusal_status(exc)
            event = load_event(event_id)
        else:
            flash("The decision has been recorded.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return (
        render_template(
            "records/events/decision.html",
            event=event,
            values=_date_parts(values, "decided_on"),
            errors=errors,
            page_title="Record the decision",
            **_decision_context(event),
        ),
        code,
    )


def _date_keys(name: str) -> list[str]:
    """A date input's field (joined at the edge) and its parts (to show again)."""
    return [name, f"{name}-day", f"{name}-month", f"{name}-year"]


def _date_parts(values: dict[str, Any], name: str) -> dict[str, Any]:
    # A date given whole (the default) is shown in the day, month and year boxes.
    whole = values.get(name)
    if whole and not values.get(f"{name}-day"):
        try:
            day = date.fromisoformat(whole)
        except ValueError:
            return values
        values = {
            **values,
            f"{name}-day": str(day.day),
            f"{name}-month": str(day.month),
            f"{name}-year": str(day.year),
        }
    return values


@blueprint.route("/<event_id>/appeal", methods=["GET", "POST"])
@signed_in_required
def appeal(event_id: str) -> Any:
    """Lodge an appeal against the decision, with its grounds and deadline."""
    actor = current_actor()
    event = load_event(event_id)
    decisions.guard_lodge_appeal(actor, event)
    errors: dict[str, list[str]] = {}
    code = 200
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {"grounds": request.form.get("grounds", "")}
        values.update({k: request.form.get(k, "") for k in _date_keys("deadline")})
        try:
            decisions.lodge_appeal(actor, event, values)
        except (ValidationFailed, Conflict) as exc:
            errors = refused(exc)
            code = refusal_status(exc)
            event = load_event(event_id)
        else:
            flash("The appeal has been lodged.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return (
        render_template(
            "records/events/appeal.html",
            event=event,
            current=decisions.current_decision(event),
            values=values,
            errors=errors,
            default_deadline=decisions.default_appeal_deadline(),
            working_days=decisions.APPEAL_WORKING_DAYS,
            page_title="Lodge an appeal",
        ),
        code,
    )


@blueprint.route("/<event_id>/appeals/<appeal_id>", methods=["GET", "POST"])
@signed_in_required
def decide_appeal(event_id: str, appeal_id: str) -> Any:
    """Decide an appeal: uphold, overturn or vary the decision."""
    actor = current_actor()
    event = load_event(event_id)
    item = decisions.get_appeal(event, appeal_id)
    decisions.guard_decide_appeal(actor, event, item)
    errors: dict[str, list[str]] = {}
    code = 200
    values: dict[str, Any] = {"considered": {}, "why": {}}
    if request.method == "POST":
        values = {
            key: request.form.get(key, "")
            for key in (
                "appeal_outcome",
                "rationale",
                "new_outcome",
                "conditions",
                "lawful_speech_finding",
                "reason_category",
            )
        }
        considered = _considered_from_form()
        values["considered"] = {c["type"]: c["why_insufficient"] for c in considered}
        values["why"] = {
            m.value: request.form.get(decisions.why_key(m), "") for m in MitigationType
        }
        try:
            decisions.decide_appeal(
                actor, event, item, {**values, "mitigations_considered": considered}
            )
        except (ValidationFailed, Conflict) as exc:
            errors = refused(exc)
            code = refusal_status(exc)
            event = load_event(event_id)
            item = decisions.get_appeal(event, appeal_id)
        else:
            flash("The appeal has been decided.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return (
        render_template(
            "records/events/appeal_decision.html",
            event=event,
            appeal=item,
            values=values,
            errors=errors,
            names=people_names([item.decision.decided_by_id, item.lodged_by_id]),
            appeal_options=[
                (o.value, decisions.APPEAL_OUTCOME_LABELS[o])
                for o in decisions.DECIDED_APPEAL_OUTCOMES
            ],
            page_title="Decide the appeal",
            **_decision_context(event),
        ),
        code,
    )
