"""Pages for events: the list, the event (details, history, decision), its draft form, the
risk assessment task list and its stages, mitigations, the decision, appeals and the report."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for

from audit.refusals import keep_refusal
from core.db import db
from core.errors import Conflict, HubError, ValidationFailed
from core.request import current_actor, signed_in_required
from core.validation import LOCAL_ZONE
from hub.records import permissions
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.models import (
    DEFAULT_DISTRIBUTION,
    EVENT_STATUS_LABELS,
    OUTCOME_LABELS,
    Distribution,
    Event,
    EventStatus,
    MitigationStatus,
    MitigationType,
    Outcome,
    TriageQuestion,
)
from partners.models import Person

blueprint = Blueprint("events", __name__, url_prefix="/events", template_folder="templates")

YES_NO = [("yes", "Yes"), ("no", "No")]
EVENT_FORM_FIELDS = (
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
    "new_speakers",
)
STAGE_LABELS = {
    "completed": "Completed",
    "in_progress": "In progress",
    "not_started": "Not yet started",
    "optional": "Optional",
    "cannot_start": "Cannot start yet",
    "not_needed": "Not needed",
    "not_done": "Not done",
}


# --- presentation helpers ---------------------------------------------------------------


def uk_datetime(moment: datetime | None) -> str:
    """A UTC moment as UK local time, as GOV.UK writes it: 3 March 2026 at 6:30pm."""
    if moment is None:
        return ""
    local = moment.astimezone(LOCAL_ZONE)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def uk_date(day: date | datetime | None) -> str:
    """A date as GOV.UK writes it: 3 March 2026."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = day.astimezone(LOCAL_ZONE).date()
    return decisions.long_date(day)


def _local_input(moment: Any) -> str:
    # What a datetime-local input shows: the UK local time, to the minute.
    if isinstance(moment, datetime):
        return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")
    return moment or ""


def _options(labels: dict[Any, str]) -> list[tuple[str, str]]:
    return [(key.value, text) for key, text in labels.items()]


def people_names(ids: Iterable[Any]) -> dict[str, str]:
    """Names of the people behind `ids` (who changed a status, decided, reviewed)."""
    keys = {uuid.UUID(str(i)) for i in ids if i}
    if not keys:
        return {}
    rows = db.session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(keys)))
    return {str(key): name for key, name in rows}


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "uk_datetime": uk_datetime,
        "uk_date": uk_date,
        "status_labels": EVENT_STATUS_LABELS,
        "status_colours": events.STATUS_COLOURS,
        "outcome_labels": OUTCOME_LABELS,
        "organiser_labels": events.ORGANISER_TYPE_LABELS,
        "venue_labels": events.VENUE_KIND_LABELS,
        "audience_labels": events.AUDIENCE_LABELS,
        "conditions_held_labels": events.CONDITIONS_HELD_LABELS,
        "mitigation_labels": assessments.MITIGATION_LABELS,
        "mitigation_status_labels": assessments.MITIGATION_STATUS_LABELS,
        "rating_labels": assessments.RATING_LABELS,
        "rating_colours": assessments.RATING_COLOURS,
        "response_labels": assessments.RESPONSE_LABELS,
        "question_text": assessments.QUESTION_TEXT,
        "question_titles": assessments.QUESTION_TITLES,
        "reason_labels": decisions.REASON_CATEGORY_LABELS,
        "appeal_labels": decisions.APPEAL_OUTCOME_LABELS,
        "stage_labels": STAGE_LABELS,
    }


def _refused(exc: HubError) -> dict[str, list[str]]:
    """Keep the refusal (audited at the edge's one place) and return the messages for the
    error summary."""
    keep_refusal(current_actor(), exc)
    return exc.errors or {"_form": [exc.detail]}


def _status(exc: HubError) -> int:
    return 409 if isinstance(exc, Conflict) else 200


def _event(event_id: str) -> Event:
    return events.get_event(current_actor(), event_id)


# --- list and detail --------------------------------------------------------------------


@blueprint.get("/")
@signed_in_required
def index() -> Any:
    """The organisation's events, with their status and lead time."""
    actor = current_actor()
    chosen = request.args.get("status", "")
    status = EventStatus(chosen) if chosen in {s.value for s in EventStatus} else None
    listed = events.list_events(actor, status=status)
    return render_template(
        "records/events/list.html",
        events=listed,
        lead_times={e.id: events.lead_time(e) for e in listed},
        status=status,
        status_options=[("", "All statuses"), *_options(EVENT_STATUS_LABELS)],
        can_create=permissions.can_host_events(actor),
        page_title="Events",
    )


@blueprint.get("/<event_id>")
@signed_in_required
def show(event_id: str) -> Any:
    """One event: its details, speakers, lead time, decision, appeals and history."""
    actor = current_actor()
    event = _event(event_id)
    return _render_event(actor, event)


def _render_event(actor: Any, event: Event, errors: dict | None = None, status: int = 200) -> Any:
    """The event page, with the controls the actor may use and any refusal's messages."""
    changes = events.history(event)
    decision_list = list(event.decisions)
    ids = [c.changed_by_id for c in changes] + [event.senior_officer_id]
    ids += [d.decided_by_id for d in decision_list]
    ids += [a.lodged_by_id for d in decision_list for a in d.appeals]
    ids += [a.decided_by_id for d in decision_list for a in d.appeals]
    if event.report:
        ids.append(event.report.reported_by_id)
    names = people_names(ids)
    writer = permissions.can_write(actor, event.owner_org_id)
    reviewer = permissions.can_review(actor, event.owner_org_id)
    current = decisions.current_decision(event)
    pending = decisions.pending_appeal(event)
    return (
        render_template(
            "records/events/event.html",
            event=event,
            changes=changes,
            names=names,
            lead=events.lead_time(event),
            short_lead_days=events.SHORT_LEAD_TIME_DAYS,
            current=current,
            decision_list=list(reversed(decision_list)),
            pending=pending,
            can_edit=writer and event.status == EventStatus.DRAFT,
            can_submit=writer and event.status == EventStatus.DRAFT,
            can_start_review=reviewer and event.status == EventStatus.SUBMITTED,
            can_withdraw=writer and event.status not in events.FINAL_STATES,
            can_decide=decisions.can_record_decision(actor, event),
            can_appeal=decisions.can_lodge_appeal(actor, event),
            can_decide_appeal=pending is not None
            and decisions.can_decide_appeal(actor, event, pending),
            can_report=writer and events.can_report(event),
            errors=errors or {},
            page_title=event.title,
        ),
        status,
    )


@blueprint.post("/<event_id>/status")
@signed_in_required
def change_status(event_id: str) -> Any:
    """Submit, start reviewing or withdraw the event."""
    actor = current_actor()
    event = _event(event_id)
    data = {"status": request.form.get("status", ""), "note": request.form.get("note", "")}
    try:
        events.change_status(actor, event, data)
    except (ValidationFailed, Conflict) as exc:
        errors = _refused(exc)
        return _render_event(actor, _event(event_id), errors, _status(exc))
    flash(_status_message(event.status), "success")
    return redirect(url_for("events.show", event_id=event.id))


def _status_message(status: EventStatus) -> str:
    return {
        EventStatus.SUBMITTED: "The event has been submitted for review.",
        EventStatus.UNDER_REVIEW: "The event is now under review.",
        EventStatus.WITHDRAWN: "The event has been withdrawn.",
    }.get(status, f"The event is now {events.STATUS_PHRASES[status]}.")


# --- the draft form ---------------------------------------------------------------------


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {key: request.form.get(key, "") for key in EVENT_FORM_FIELDS}
    values["speaker_ids"] = request.form.getlist("speaker_ids")
    return values


def _values_of(event: Event) -> dict[str, Any]:
    current = events.editable_values(event)
    values: dict[str, Any] = {}
    for key, value in current.items():
        if isinstance(value, bool):
            values[key] = "yes" if value else "no"
        elif key in ("starts_at", "ends_at"):
            values[key] = _local_input(value)
        elif key == "tags":
            values[key] = ", ".join(value or [])
        elif hasattr(value, "value"):
            values[key] = value.value
        else:
            values[key] = "" if value is None else str(value)
    values["new_speakers"] = ""
    return values


def _render_form(
    actor: Any,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    event: Event | None = None,
    query: str = "",
    searched: bool = False,
    status: int = 200,
) -> Any:
    chosen = events.speakers_by_id(actor, values.get("speaker_ids", []))
    found = []
    if query:
        chosen_ids = {s.id for s in chosen}
        found = [s for s in events.find_speakers(actor, query) if s.id not in chosen_ids]
    speaker_options = [(str(s.id), s.display_name) for s in chosen + found]
    return (
        render_template(
            "records/events/form.html",
            values=values,
            errors=errors,
            event=event,
            speaker_options=speaker_options,
            chosen_ids=[str(s.id) for s in chosen],
            query=query,
            searched=searched,
            found_count=len(found),
            organiser_options=_options(events.ORGANISER_TYPE_LABELS),
            venue_options=_options(events.VENUE_KIND_LABELS),
            audience_options=_options(events.AUDIENCE_LABELS),
            distribution_options=[
                (Distribution.SHAREABLE.value, "Yes, under a data-sharing agreement"),
                (Distribution.INTERNAL.value, "No, keep it inside our organisation"),
            ],
            yes_no=YES_NO,
            page_title="Change the event" if event else "Record an event",
        ),
        status,
    )


def _event_form(event: Event | None) -> Any:
    """The draft form: new or existing event; "Find speakers" re-shows it with matches."""
    actor = current_actor()
    if event is None and not permissions.can_host_events(actor):
        events.create_event(actor, {})  # refused and audited
    if event is not None:
        events.guard_update(actor, event)
    if request.method == "GET":
        values = (
            _values_of(event)
            if event
            else {
                "distribution": DEFAULT_DISTRIBUTION.value,
                "branded_or_funded": "no",
                "recorded": "no",
                "streamed": "no",
                "speaker_ids": [],
            }
        )
        return _render_form(actor, values, {}, event)
    values = _form_values()
    query = request.form.get("speaker_query", "").strip()
    if request.form.get("action") == "find":
        return _render_form(actor, values, {}, event, query=query, searched=bool(query))
    try:
        if event is None:
            event = events.create_event(actor, values)
            message = "The event has been recorded as a draft."
        else:
            events.update_event(actor, event, values)
            message = "The event has been updated."
    except (ValidationFailed, Conflict) as exc:
        errors = _refused(exc)
        existing = _event(str(event.id)) if event is not None else None
        return _render_form(actor, values, errors, existing, query=query, status=_status(exc))
    flash(message, "success")
    return redirect(url_for("events.show", event_id=event.id))


@blueprint.route("/new", methods=["GET", "POST"])
@signed_in_required
def new() -> Any:
    """Record a draft event, with speakers from the organisation's records or new ones."""
    return _event_form(None)


@blueprint.route("/<event_id>/edit", methods=["GET", "POST"])
@signed_in_required
def edit(event_id: str) -> Any:
    """Change a draft event."""
    return _event_form(_event(event_id))


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
    event = _event(event_id)
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
    event = _event(event_id)
    guard(actor, event)
    errors: dict[str, list[str]] = {}
    code = 200
    values = initial(event)
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in fields}
        try:
            save(actor, event, values)
        except (ValidationFailed, Conflict) as exc:
            errors = _refused(exc)
            code = _status(exc)
            event = _event(event_id)
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
        response_options=_options(assessments.RESPONSE_LABELS),
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
        scale=[(str(n), text) for n, text in assessments.SCALE_LABELS.items()],
        bands=assessments.RATING_BANDS,
        answers=lambda actor, event: event.assessment.answers if event.assessment else [],
    )


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
    event = _event(event_id)
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
    event = _event(event_id)
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
            errors = _refused(exc)
            code = _status(exc)
            event = _event(event_id)
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
            type_options=_options(assessments.MITIGATION_LABELS),
            status_options=_options(assessments.MITIGATION_STATUS_LABELS),
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
    event = _event(event_id)
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
        "reason_options": _options(decisions.REASON_CATEGORY_LABELS),
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
    event = _event(event_id)
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
            errors = _refused(exc)
            code = _status(exc)
            event = _event(event_id)
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
    event = _event(event_id)
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
            errors = _refused(exc)
            code = _status(exc)
            event = _event(event_id)
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
    event = _event(event_id)
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
            errors = _refused(exc)
            code = _status(exc)
            event = _event(event_id)
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


# --- after the event --------------------------------------------------------------------


@blueprint.route("/<event_id>/report", methods=["GET", "POST"])
@signed_in_required
def report(event_id: str) -> Any:
    """The post-event report: did the conditions hold, were there incidents."""
    actor = current_actor()
    event = _event(event_id)
    events.guard_report(actor, event)
    errors: dict[str, list[str]] = {}
    code = 200
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {
            key: request.form.get(key, "")
            for key in ("conditions_held", "had_incidents", "incidents")
        }
        try:
            events.record_report(actor, event, values)
        except (ValidationFailed, Conflict) as exc:
            errors = _refused(exc)
            code = _status(exc)
            event = _event(event_id)
        else:
            flash("The post-event report has been saved.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return (
        render_template(
            "records/events/report.html",
            event=event,
            values=values,
            errors=errors,
            held_options=_options(events.CONDITIONS_HELD_LABELS),
            yes_no=YES_NO,
            page_title="Post-event report",
        ),
        code,
    )
