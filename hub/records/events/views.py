"""Pages for an event: the list, the event (details, history, decision), its status, its
draft form and the report after it. The risk assessment, mitigations, the decision and appeals
are `review_views`, on the same blueprint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from core.errors import Conflict, ValidationFailed
from core.request import current_actor, signed_in_required
from core.validation import LOCAL_ZONE
from hub.records import permissions
from hub.records.events import (
    decisions,
    review_views,  # noqa: F401  (its pages join the blueprint)
)
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
    DEFAULT_DISTRIBUTION,
    EVENT_STATUS_LABELS,
    Distribution,
    Event,
    EventStatus,
)

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
        status_options=[("", "All statuses"), *options(EVENT_STATUS_LABELS)],
        can_create=permissions.can_host_events(actor),
        page_title="Events",
    )


@blueprint.get("/<event_id>")
@signed_in_required
def show(event_id: str) -> Any:
    """One event: its details, speakers, lead time, decision, appeals and history."""
    actor = current_actor()
    event = load_event(event_id)
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
    event = load_event(event_id)
    data = {"status": request.form.get("status", ""), "note": request.form.get("note", "")}
    try:
        events.change_status(actor, event, data)
    except (ValidationFailed, Conflict) as exc:
        errors = refused(exc)
        return _render_event(actor, load_event(event_id), errors, refusal_status(exc))
    flash(_status_message(event.status), "success")
    return redirect(url_for("events.show", event_id=event.id))


def _status_message(status: EventStatus) -> str:
    return {
        EventStatus.SUBMITTED: "The event has been submitted for review.",
        EventStatus.UNDER_REVIEW: "The event is now under review.",
        EventStatus.WITHDRAWN: "The event has been withdrawn.",
    }.get(status, f"The event is now {events.STATUS_PHRASES[status]}.")


# --- the draft form ---------------------------------------------------------------------


def _local_input(moment: Any) -> str:
    # What a datetime-local input shows: the UK local time, to the minute.
    if isinstance(moment, datetime):
        return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")
    return moment or ""


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
            organiser_options=options(events.ORGANISER_TYPE_LABELS),
            venue_options=options(events.VENUE_KIND_LABELS),
            audience_options=options(events.AUDIENCE_LABELS),
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
        errors = refused(exc)
        existing = load_event(str(event.id)) if event is not None else None
        return _render_form(
            actor, values, errors, existing, query=query, status=refusal_status(exc)
        )
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
    return _event_form(load_event(event_id))


# --- after the event --------------------------------------------------------------------


@blueprint.route("/<event_id>/report", methods=["GET", "POST"])
@signed_in_required
def report(event_id: str) -> Any:
    """The post-event report: did the conditions hold, were there incidents."""
    actor = current_actor()
    event = load_event(event_id)
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
            errors = refused(exc)
            code = refusal_status(exc)
            event = load_event(event_id)
        else:
            flash("The post-event report has been saved.", "success")
            return redirect(url_for("events.show", event_id=event.id))
    return (
        render_template(
            "records/events/report.html",
            event=event,
            values=values,
            errors=errors,
            held_options=options(events.CONDITIONS_HELD_LABELS),
            yes_no=YES_NO,
            page_title="Post-event report",
        ),
        code,
    )
