"""Pages of a working group's meetings: scheduling, the agenda and its case items (shown to
each viewer through `disclose()`), attendance, minutes and amendments, decisions, actions,
feedback to member organisations and the calendar file.

Pages that disclose case items commit after rendering so the disclosures stay audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from audit.actions import MEETING_AGENDA_ADD
from core.errors import NotFound
from core.request import current_actor, signed_in_required
from hub.groups import actions, calendar, permissions, services, web
from hub.groups.meetings import agenda, feedback
from hub.groups.meetings import services as meetings
from hub.groups.models import AttendanceStatus, Meeting, MinutesStatus
from hub.groups.web import act, attempt

blueprint = Blueprint("meetings", __name__, template_folder="templates")

MEETING_FIELDS = ("starts_at", "ends_at", "location", "online_link")
MINUTES_COLOURS = {
    MinutesStatus.NOT_STARTED: "grey",
    MinutesStatus.DRAFTED: "yellow",
    MinutesStatus.CIRCULATED: "blue",
    MinutesStatus.APPROVED: "green",
}


@blueprint.context_processor
def template_helpers() -> dict[str, Any]:
    """The groups' template helpers, and how minutes and attendance read (the group pages, which
    list meetings, read these too)."""
    return {
        **web.template_helpers(),
        "minutes_labels": meetings.MINUTES_LABELS,
        "minutes_colours": MINUTES_COLOURS,
        "attendance_labels": meetings.ATTENDANCE_LABELS,
    }


def local_input(moment: Any) -> str:
    """A stored time as a datetime-local field's value (UK time)."""
    return meetings.local(moment).strftime("%Y-%m-%dT%H:%M") if moment else ""


def meeting_url(meeting: Meeting) -> str:
    return url_for("meetings.meeting", group_id=meeting.group_id, meeting_id=meeting.id)


def meeting_of(group_id: str, meeting_id: str) -> Meeting:
    """The meeting, only under the group in its address."""
    meeting = meetings.get_meeting(current_actor(), meeting_id)
    if str(meeting.group_id) != str(group_id):
        raise NotFound("There is no such meeting.")
    return meeting


# --- meetings -----------------------------------------------------------------------------


@blueprint.route("/groups/<group_id>/meetings/new", methods=["GET", "POST"])
@signed_in_required
def new_meeting(group_id: str) -> Any:
    """Schedule a meeting, or record one already held."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    services.require_manager(actor, group, "meeting.create")
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in MEETING_FIELDS}
        meeting, errors = attempt(lambda: meetings.schedule_meeting(actor, group, values))
        if meeting is not None:
            flash(f"The meeting on {calendar.long_moment(meeting.starts_at)} is set.", "success")
            return redirect(meeting_url(meeting))
    return render_template(
        "meetings/meeting_form.html",
        group=group,
        values=values,
        errors=errors,
        creating=True,
        page_title="Schedule a meeting",
    )


@blueprint.get("/groups/<group_id>/meetings/<meeting_id>")
@signed_in_required
def meeting(group_id: str, meeting_id: str) -> Any:
    """A meeting: details, agenda (case items as the viewer may see them), attendance,
    minutes and amendments, decisions and actions."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    group = found.group
    manager = permissions.is_manager(actor, group)
    page = render_template(
        "meetings/meeting.html",
        group=group,
        meeting=found,
        cases=agenda.case_views(actor, found),
        cover=services.coverage(group),
        rows=meetings.attendance_rows(found),
        meeting_actions=[a for a in actions.list_actions(group) if a.meeting_id == found.id],
        manager=manager,
        started=meetings.has_started(found),
        can_add_case=permissions.can_add_case(actor, group),
        can_apologise=permissions.can_give_apologies(actor, group)
        and not meetings.has_started(found)
        and found.cancelled_at is None,
        item_numbers={item.id: n for n, item in enumerate(found.agenda_items, start=1)},
        page_title=f"{group.name}: meeting on {calendar.long_day(found.starts_at)}",
    )
    return page


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/edit", methods=["GET", "POST"])
@signed_in_required
def edit_meeting(group_id: str, meeting_id: str) -> Any:
    """Change when or where a meeting is."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "meeting.update")
    values: dict[str, Any] = {
        "starts_at": local_input(found.starts_at),
        "ends_at": local_input(found.ends_at),
        "location": found.location,
        "online_link": found.online_link,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in MEETING_FIELDS}
        done, errors = attempt(lambda: meetings.update_meeting(actor, found, values))
        if done is not None:
            flash("The meeting has been changed.", "success")
            return redirect(meeting_url(found))
    return render_template(
        "meetings/meeting_form.html",
        group=found.group,
        meeting=found,
        values=values,
        errors=errors,
        creating=False,
        page_title="Change the meeting",
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/cancel", methods=["GET", "POST"])
@signed_in_required
def cancel_meeting(group_id: str, meeting_id: str) -> Any:
    """Call off a meeting that has not started."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "meeting.cancel")
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        done, errors = attempt(lambda: meetings.cancel_meeting(actor, found))
        if done is not None:
            flash("The meeting is cancelled; its attendees have been told.", "success")
            return redirect(meeting_url(found))
    return render_template(
        "meetings/cancel.html",
        group=found.group,
        meeting=found,
        errors=errors,
        page_title="Cancel the meeting",
    )


@blueprint.get("/groups/<group_id>/meetings/<meeting_id>/calendar.ics")
@signed_in_required
def calendar_file(group_id: str, meeting_id: str) -> Any:
    """The meeting as a calendar file."""
    found = meeting_of(group_id, meeting_id)
    text = meetings.calendar_file(current_actor(), found)
    return Response(
        text,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": f'attachment; filename="meeting-{found.starts_at:%Y-%m-%d}.ics"'
        },
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/agenda/new", methods=["GET", "POST"])
@signed_in_required
def new_agenda_item(group_id: str, meeting_id: str) -> Any:
    """Add an item to the agenda, about a case or not."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    group = found.group
    permissions.require(
        actor, MEETING_AGENDA_ADD, group, resource_type="meeting", resource_id=found.id
    )
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in ("title", "notes", "case")}
        item, errors = attempt(lambda: agenda.add_agenda_item(actor, found, values))
        if item is not None:
            flash("The item has been added to the agenda.", "success")
            return redirect(meeting_url(found))
    choices = agenda.case_choices(actor, group)
    page = render_template(
        "meetings/agenda_form.html",
        group=group,
        meeting=found,
        values=values,
        errors=errors,
        manager=permissions.is_manager(actor, group),
        cover=services.coverage(group),
        case_options=[("", "No case: a general item")] + [(c.value, c.label) for c in choices],
        page_title="Add an agenda item",
    )
    return page


@blueprint.post("/groups/<group_id>/meetings/<meeting_id>/agenda/<int:item_id>/remove")
@signed_in_required
def remove_agenda_item(group_id: str, meeting_id: str, item_id: int) -> Any:
    """Take an item off the agenda."""
    found = meeting_of(group_id, meeting_id)
    return act(
        lambda: agenda.remove_agenda_item(current_actor(), found, item_id),
        "The item has been taken off the agenda.",
        meeting_url(found),
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/attendance", methods=["GET", "POST"])
@signed_in_required
def attendance(group_id: str, meeting_id: str) -> Any:
    """Record who attended and who sent apologies."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "meeting.attendance.record")
    rows = meetings.attendance_rows(found)
    values = {str(r.person_id): r.status.value for r in rows}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {str(r.person_id): request.form.get(str(r.person_id), "") for r in rows}
        done, errors = attempt(lambda: meetings.record_attendance(actor, found, values))
        if done is not None:
            flash("Attendance has been recorded.", "success")
            return redirect(meeting_url(found))
    options = [
        (s.value, meetings.ATTENDANCE_LABELS[s])
        for s in (AttendanceStatus.ATTENDED, AttendanceStatus.APOLOGIES, AttendanceStatus.ABSENT)
    ]
    return render_template(
        "meetings/attendance.html",
        group=found.group,
        meeting=found,
        rows=rows,
        values=values,
        options=options,
        errors=errors,
        page_title="Record attendance",
    )


@blueprint.post("/groups/<group_id>/meetings/<meeting_id>/apologies")
@signed_in_required
def apologies(group_id: str, meeting_id: str) -> Any:
    """A named attendee sends their apologies."""
    found = meeting_of(group_id, meeting_id)
    return act(
        lambda: meetings.give_apologies(current_actor(), found),
        "Your apologies have been recorded.",
        meeting_url(found),
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/minutes", methods=["GET", "POST"])
@signed_in_required
def minutes(group_id: str, meeting_id: str) -> Any:
    """Draft or redraft the minutes (approved minutes only take amendments)."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "meeting.minutes.draft")
    values = {"minutes": found.minutes}
    errors: dict[str, list[str]] = {}
    if found.minutes_status == MinutesStatus.APPROVED:
        errors = {"_form": ["These minutes are approved and cannot be edited: record an "
                            "amendment instead."]}  # fmt: skip
    if request.method == "POST":
        values = {"minutes": request.form.get("minutes", "")}
        done, errors = attempt(lambda: meetings.save_minutes(actor, found, values))
        if done is not None:
            flash("The draft minutes have been saved.", "success")
            return redirect(meeting_url(found) + "#minutes")
    return render_template(
        "meetings/minutes.html",
        group=found.group,
        meeting=found,
        values=values,
        errors=errors,
        page_title="Minutes",
    )


@blueprint.post("/groups/<group_id>/meetings/<meeting_id>/minutes/circulate")
@signed_in_required
def circulate_minutes(group_id: str, meeting_id: str) -> Any:
    """Circulate the draft minutes to the attendees."""
    found = meeting_of(group_id, meeting_id)
    return act(
        lambda: meetings.circulate_minutes(current_actor(), found),
        "The draft minutes have been circulated to the attendees.",
        meeting_url(found) + "#minutes",
    )


@blueprint.post("/groups/<group_id>/meetings/<meeting_id>/minutes/approve")
@signed_in_required
def approve_minutes(group_id: str, meeting_id: str) -> Any:
    """Approve the circulated minutes."""
    found = meeting_of(group_id, meeting_id)
    return act(
        lambda: meetings.approve_minutes(current_actor(), found),
        "The minutes are approved. From now on they change only by a recorded amendment.",
        meeting_url(found) + "#minutes",
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/minutes/amend", methods=["GET", "POST"])
@signed_in_required
def amend_minutes(group_id: str, meeting_id: str) -> Any:
    """Record an amendment to approved minutes."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "meeting.minutes.amend")
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in ("text", "reason")}
        done, errors = attempt(lambda: meetings.amend_minutes(actor, found, values))
        if done is not None:
            flash("The amendment has been recorded.", "success")
            return redirect(meeting_url(found) + "#minutes")
    return render_template(
        "meetings/amend.html",
        group=found.group,
        meeting=found,
        values=values,
        errors=errors,
        page_title="Amend the minutes",
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/decisions/new", methods=["GET", "POST"])
@signed_in_required
def new_decision(group_id: str, meeting_id: str) -> Any:
    """Record a decision of the meeting."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "meeting.decision.record")
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {
            key: request.form.get(key, "") for key in ("text", "concerns_org_id", "agenda_item_id")
        }
        done, errors = attempt(lambda: meetings.record_decision(actor, found, values))
        if done is not None:
            flash("The decision has been recorded.", "success")
            return redirect(meeting_url(found) + "#decisions")
    return render_template(
        "meetings/decision_form.html",
        group=found.group,
        meeting=found,
        values=values,
        errors=errors,
        org_options=[("", "Every member organisation")]
        + [(str(o.id), o.name) for o in services.members(found.group)],
        item_options=[("", "No particular item")]
        + [
            (str(item.id), f"Item {n}: {item.title}")
            for n, item in enumerate(found.agenda_items, start=1)
        ],
        page_title="Record a decision",
    )


@blueprint.route("/groups/<group_id>/meetings/<meeting_id>/actions/new", methods=["GET", "POST"])
@signed_in_required
def new_action(group_id: str, meeting_id: str) -> Any:
    """Record an action agreed at the meeting."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    services.require_manager(actor, found.group, "action.create")
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {
            key: request.form.get(key, "")
            for key in (
                "title",
                "detail",
                "owner_person_id",
                "due_on",
                "due_on-day",
                "due_on-month",
                "due_on-year",
            )
        }
        done, errors = attempt(lambda: actions.create_action(actor, found, values))
        if done is not None:
            flash("The action has been recorded; its owner has been told.", "success")
            return redirect(meeting_url(found) + "#actions")
    return render_template(
        "meetings/action_form.html",
        group=found.group,
        meeting=found,
        values=values,
        errors=errors,
        owner_options=[("", "Choose who owns it")]
        + [
            (str(p.id), f"{p.name}, {p.organisation.name}")
            for p in actions.owner_choices(found.group)
        ],
        page_title="Record an action",
    )


@blueprint.post("/groups/<group_id>/meetings/<meeting_id>/feedback/send")
@signed_in_required
def send_feedback(group_id: str, meeting_id: str) -> Any:
    """Send each member organisation the decisions and actions that concern it."""
    found = meeting_of(group_id, meeting_id)
    return act(
        lambda: feedback.send_digest(current_actor(), found),
        "Feedback has been sent to every member organisation.",
        meeting_url(found) + "#feedback",
    )


@blueprint.get("/groups/<group_id>/meetings/<meeting_id>/feedback")
@signed_in_required
def feedback_page(group_id: str, meeting_id: str) -> Any:
    """What the meeting decided and asked of the person's organisation."""
    actor = current_actor()
    found = meeting_of(group_id, meeting_id)
    return render_template(
        "meetings/feedback.html",
        group=found.group,
        meeting=found,
        digest=feedback.my_digest(actor, found),
        item_numbers={item.id: n for n, item in enumerate(found.agenda_items, start=1)},
        page_title=f"Feedback from the meeting on {calendar.long_day(found.starts_at)}",
    )
