"""Pages for an event: the list, the event (details, history, decision), its status, its
draft form and the report after it. The risk assessment, mitigations, the decision and appeals
are `review_views`, on the same blueprint."""

from __future__ import annotations

from dataclasses import dataclass
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
from hub.records.speakers import search
from hub.records.speakers import services as speakers

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
    duplicates: dict[str, list[search.SpeakerMatch]] | None = None,
) -> Any:
    chosen = events.speakers_by_id(actor, values.get("speaker_ids", []))
    chosen_ids = {s.id for s in chosen}
    found: list[search.SpeakerMatch] = []
    if query:
        # The one finder, as /speakers/?q= uses: misspelt, reordered or transliterated names.
        found = [m for m in search.search_speakers(actor, query) if m.speaker_id not in chosen_ids]
    speaker_options = [(str(s.id), s.display_name) for s in chosen] + [
        (str(m.speaker_id), m.display_name, f"Also known as {m.matched_name}")
        if m.matched_name != m.display_name
        else (str(m.speaker_id), m.display_name)
        for m in found
    ]
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
            duplicates=list(enumerate((duplicates or {}).items())),
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


#: The answer "a new person" to "Is it one of these?" (any other answer is a speaker's id).
NEW_PERSON = "new"


@dataclass
class _Answers:
    """The event form's answers to "Is it one of these?", in the service's terms."""

    asked: set[str]
    confirmed_new: list[str]
    unanswered: set[str]


def _answer_duplicates(values: dict[str, Any]) -> _Answers:
    """Apply the answers to the new speakers: a name matched to an existing record leaves the
    new speakers and that record is chosen; a name confirmed as a new person is passed on as
    `confirm_new_speakers`. Names asked about and not answered are asked again."""
    lines = [line.strip() for line in values["new_speakers"].splitlines() if line.strip()]
    typed = {search.normalise(line) for line in lines}
    answers = _Answers(set(), [], set())
    number = 0
    while f"duplicate_name-{number}" in request.form:
        name = request.form.get(f"duplicate_name-{number}", "").strip()
        choice = request.form.get(f"duplicate_choice-{number}", "")
        number += 1
        key = search.normalise(name)
        if not key or key not in typed:
            continue  # the name was changed or removed meanwhile
        answers.asked.add(key)
        if choice == NEW_PERSON:
            answers.confirmed_new.append(name)
        elif choice:
            lines = [line for line in lines if search.normalise(line) != key]
            if choice not in values["speaker_ids"]:
                values["speaker_ids"].append(choice)
        else:
            answers.unanswered.add(key)
    values["new_speakers"] = "\n".join(lines)
    return answers


def _duplicate_errors(
    found: dict[str, list[search.SpeakerMatch]], answers: _Answers
) -> dict[str, list[str]]:
    """An error for each question asked before and still not answered (linking to it)."""
    return {
        f"duplicate_choice-{number}": [
            f"Choose whether '{name}' is one of the speakers found, or a new speaker."
        ]
        for number, name in enumerate(found)
        if search.normalise(name) in answers.unanswered
    }


def _event_form(event: Event | None) -> Any:
    """The draft form: new or existing event; "Find speakers" re-shows it with matches; a new
    speaker who is likely already recorded is asked about ("Is it one of these?")."""
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
    answers = _answer_duplicates(values)
    data = {**values, "confirm_new_speakers": answers.confirmed_new}
    try:
        if event is None:
            event = events.create_event(actor, data)
            message = "The event has been recorded as a draft."
        else:
            events.update_event(actor, event, data)
            message = "The event has been updated."
    except speakers.LikelyDuplicates as exc:
        # A question for the organiser, not a refusal: nothing was written or refused.
        existing = load_event(str(event.id)) if event is not None else None
        errors = _duplicate_errors(exc.found, answers)
        return _render_form(actor, values, errors, existing, query=query, duplicates=exc.found)
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
