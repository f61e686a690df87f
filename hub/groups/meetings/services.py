"""Meetings of a working group: scheduling, attendance and apologies, minutes (drafted ->
circulated -> approved, then only amended), decisions, and the calendar file.

The agenda and its case items are in `agenda.py`, the feedback digest in `feedback.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from audit import services as audit
from audit.actions import (
    MEETING_APOLOGIES,
    MEETING_ATTENDANCE_RECORD,
    MEETING_CALENDAR,
    MEETING_CANCEL,
    MEETING_CREATE,
    MEETING_DECISION_RECORD,
    MEETING_MINUTES_AMEND,
    MEETING_MINUTES_APPROVE,
    MEETING_MINUTES_CIRCULATE,
    MEETING_MINUTES_DRAFT,
    MEETING_READ,
    MEETING_UPDATE,
)
from core.db import db, utcnow
from core.errors import Conflict, NotFound
from core.security import Actor
from core.validation import LOCAL_ZONE, Checker
from hub.groups import calendar, permissions
from hub.groups.models import (
    AttendanceStatus,
    GroupDecision,
    Meeting,
    MeetingAttendance,
    MinutesAmendment,
    MinutesStatus,
    WorkingGroup,
)
from hub.groups.services import (
    attendees,
    deny,
    hidden,
    parse_id,
    require_manager,
)
from partners import notifications

TITLE_MAX = 300
TEXT_MAX = 5000
MINUTES_MAX = 50_000
#: A meeting may be recorded up to a year after it was held, and lasts at most a day.
PAST_LIMIT = timedelta(days=366)
LONGEST = timedelta(hours=12)

MINUTES_LABELS = {
    MinutesStatus.NOT_STARTED: "Not started",
    MinutesStatus.DRAFTED: "Draft",
    MinutesStatus.CIRCULATED: "Circulated for comment",
    MinutesStatus.APPROVED: "Approved",
}
ATTENDANCE_LABELS = {
    AttendanceStatus.INVITED: "Invited",
    AttendanceStatus.ATTENDED: "Attended",
    AttendanceStatus.APOLOGIES: "Sent apologies",
    AttendanceStatus.ABSENT: "Absent",
}


def record(actor: Actor, action: str, meeting: Meeting, **details: Any) -> None:
    """Audit a change to a meeting (ids and codes only)."""
    audit.record(
        actor,
        action,
        "granted",
        resource_type="meeting",
        resource_ids=[str(meeting.id)],
        resource_org=str(meeting.group.convening_org_id),
        group=str(meeting.group_id),
        **details,
    )


def has_started(meeting: Meeting, now: datetime | None = None) -> bool:
    """The meeting's start time has passed."""
    return meeting.starts_at <= (now or utcnow())


# --- reading ----------------------------------------------------------------------------


def get_meeting(actor: Actor, meeting_id: Any, *, action: str = MEETING_READ) -> Meeting:
    """A meeting of a group the actor sees; any other answers as missing (audited)."""
    key = parse_id(meeting_id)
    meeting = db.session.get(Meeting, key) if key else None
    if meeting is None:
        raise NotFound("There is no such meeting.")
    if not permissions.can_view(actor, meeting.group):
        raise hidden(action, "meeting", meeting.id, "meeting")
    return meeting


def attendance_rows(meeting: Meeting) -> list[MeetingAttendance]:
    """Who is expected at the meeting and how each attended: its recorded rows, plus named
    attendees added since (shown as invited), by organisation and name."""
    rows = {r.person_id: r for r in meeting.attendance}
    for person in attendees(meeting.group):
        if person.id not in rows:
            rows[person.id] = MeetingAttendance(
                person_id=person.id, person=person, status=AttendanceStatus.INVITED
            )
    return sorted(rows.values(), key=lambda r: (r.person.organisation.name, r.person.name))


# --- scheduling -------------------------------------------------------------------------


def _validate(data: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    check = Checker(data)
    starts = check.moment("starts_at", "the start date and time")
    ends = check.moment("ends_at", "the end date and time")
    location = check.text("location", "the place", required=False, max_length=300)
    online_link = check.url("online_link", "the online meeting link", required=False)
    if starts and ends:
        if ends <= starts:
            check.add("ends_at", "The end must be after the start.")
        elif ends - starts > LONGEST:
            check.add("ends_at", "A meeting can last at most 12 hours.")
    if starts and starts < now - PAST_LIMIT:
        check.add("starts_at", "A meeting can be recorded up to a year after it was held.")
    if check.ok("location", "online_link") and not location and not online_link:
        check.add("location", "Give the place of the meeting, an online link, or both.")
    check.raise_if_any()
    return {"starts_at": starts, "ends_at": ends, "location": location, "online_link": online_link}


def schedule_meeting(actor: Actor, group: WorkingGroup, data: dict[str, Any]) -> Meeting:
    """Schedule a meeting (or record one already held); every named attendee is invited."""
    require_manager(actor, group, "meeting.create")
    clean = _validate(data, now=utcnow())
    invited = attendees(group)
    meeting = Meeting(group=group, created_by_id=actor.person_id, **clean)
    db.session.add(meeting)
    meeting.attendance = [
        MeetingAttendance(
            person_id=person.id, status=AttendanceStatus.INVITED, recorded_by_id=actor.person_id
        )
        for person in invited
    ]
    db.session.flush()
    record(actor, MEETING_CREATE, meeting)
    if meeting.starts_at > utcnow():
        for person in invited:
            notifications.notify(
                person.organisation_id,
                "meeting.scheduled",
                f"{group.name} meets on {calendar.long_moment(meeting.starts_at)}",
                "A calendar file is on the meeting's page.",
                link=f"/groups/{group.id}/meetings/{meeting.id}",
                person_id=person.id,
            )
    return meeting


def require_open(meeting: Meeting, what: str) -> None:
    if meeting.cancelled_at is not None:
        raise Conflict(f"The meeting was cancelled: {what} is no longer possible.")


def update_meeting(actor: Actor, meeting: Meeting, data: dict[str, Any]) -> Meeting:
    """Change when or where a meeting is (calendar files carry a new sequence number)."""
    require_manager(actor, meeting.group, "meeting.update")
    require_open(meeting, "changing it")
    if meeting.minutes_status == MinutesStatus.APPROVED:
        raise Conflict("The meeting's minutes are approved: its details can no longer change.")
    clean = _validate(data, now=utcnow())
    changed = sorted(k for k, v in clean.items() if getattr(meeting, k) != v)
    for key in changed:
        setattr(meeting, key, clean[key])
    if changed:
        meeting.sequence += 1
        db.session.flush()
        record(actor, MEETING_UPDATE, meeting, fields=changed)
    return meeting


def cancel_meeting(actor: Actor, meeting: Meeting) -> Meeting:
    """Call off a meeting that has not started; attendees are told."""
    require_manager(actor, meeting.group, "meeting.cancel")
    require_open(meeting, "cancelling it again")
    if has_started(meeting):
        raise Conflict("A meeting that has started cannot be cancelled.")
    meeting.cancelled_at = utcnow()
    meeting.sequence += 1
    db.session.flush()
    record(actor, MEETING_CANCEL, meeting)
    for row in meeting.attendance:
        notifications.notify(
            row.person.organisation_id,
            "meeting.cancelled",
            f"The {meeting.group.name} meeting on {calendar.long_moment(meeting.starts_at)} "
            "is cancelled",
            link=f"/groups/{meeting.group_id}/meetings/{meeting.id}",
            person_id=row.person_id,
        )
    return meeting


# --- attendance -------------------------------------------------------------------------


def record_attendance(actor: Actor, meeting: Meeting, statuses: dict[str, str]) -> Meeting:
    """Record who attended, who sent apologies and who was absent (`statuses`: person id ->
    attended | apologies | absent)."""
    require_manager(actor, meeting.group, "meeting.attendance.record")
    require_open(meeting, "recording attendance")
    if not has_started(meeting):
        raise Conflict("Attendance is recorded once the meeting has started.")
    check = Checker(statuses)
    rows = {str(r.person_id): r for r in attendance_rows(meeting)}
    chosen: dict[str, AttendanceStatus] = {}
    for key in statuses:
        if key not in rows:
            check.add("attendance", "Record attendance only for the meeting's attendees.")
            break
        status = check.choice(key, AttendanceStatus, "how they attended")
        if status == AttendanceStatus.INVITED:
            check.add(key, "Choose attended, sent apologies or absent.")
        elif status is not None:
            chosen[key] = status
    check.raise_if_any()
    counts = {s.value: 0 for s in (AttendanceStatus.ATTENDED, AttendanceStatus.APOLOGIES)}
    for key, status in chosen.items():
        row = rows[key]
        if row not in meeting.attendance:
            meeting.attendance.append(row)
        row.status = status
        row.recorded_by_id = actor.person_id
        row.recorded_at = utcnow()
        if status.value in counts:
            counts[status.value] += 1
    db.session.flush()
    record(
        actor,
        MEETING_ATTENDANCE_RECORD,
        meeting,
        **counts,
        absent=len(chosen) - sum(counts.values()),
    )
    return meeting


def give_apologies(actor: Actor, meeting: Meeting) -> MeetingAttendance:
    """A named attendee sends their apologies for a meeting still to come."""
    if not permissions.can_give_apologies(actor, meeting.group):
        raise deny(
            "meeting.apologies", "Only the group's named attendees send apologies.",
            "meeting", meeting.id,
        )  # fmt: skip
    require_open(meeting, "sending apologies")
    if has_started(meeting):
        raise Conflict("The meeting has started; the convenor records attendance now.")
    me = actor.person_id
    row = next((r for r in meeting.attendance if r.person_id == me), None)
    if row is None:
        row = MeetingAttendance(person_id=me)
        meeting.attendance.append(row)
    row.status = AttendanceStatus.APOLOGIES
    row.recorded_by_id = me
    row.recorded_at = utcnow()
    db.session.flush()
    record(actor, MEETING_APOLOGIES, meeting)
    return row


# --- minutes ----------------------------------------------------------------------------


def save_minutes(actor: Actor, meeting: Meeting, data: dict[str, Any]) -> Meeting:
    """Draft (or redraft) the minutes; circulated minutes that change go back to draft.
    Approved minutes never change: only a recorded amendment can follow them."""
    require_manager(actor, meeting.group, "meeting.minutes.draft")
    if meeting.minutes_status == MinutesStatus.APPROVED:
        raise Conflict(
            "These minutes are approved and cannot be edited: record an amendment instead.",
            reason="minutes_approved",
            errors={"minutes": ["Approved minutes cannot be edited: record an amendment."]},
        )
    require_open(meeting, "writing minutes")
    check = Checker(data)
    text = check.text("minutes", "the minutes", max_length=MINUTES_MAX)
    check.raise_if_any()
    if text == meeting.minutes and meeting.minutes_status != MinutesStatus.NOT_STARTED:
        return meeting
    meeting.minutes = text
    meeting.minutes_status = MinutesStatus.DRAFTED
    meeting.minutes_drafted_by_id = actor.person_id
    meeting.minutes_drafted_at = utcnow()
    meeting.minutes_circulated_at = None
    db.session.flush()
    record(actor, MEETING_MINUTES_DRAFT, meeting, fields=["minutes"])
    return meeting


def circulate_minutes(actor: Actor, meeting: Meeting) -> Meeting:
    """Send the draft minutes round the named attendees for comment."""
    require_manager(actor, meeting.group, "meeting.minutes.circulate")
    if meeting.minutes_status != MinutesStatus.DRAFTED:
        raise Conflict("Only draft minutes can be circulated.")
    if not has_started(meeting):
        raise Conflict("Minutes are circulated once the meeting has been held.")
    meeting.minutes_status = MinutesStatus.CIRCULATED
    meeting.minutes_circulated_at = utcnow()
    db.session.flush()
    record(actor, MEETING_MINUTES_CIRCULATE, meeting)
    for person in attendees(meeting.group):
        notifications.notify(
            person.organisation_id,
            "meeting.minutes.circulated",
            f"Draft minutes of the {meeting.group.name} meeting on "
            f"{calendar.long_day(meeting.starts_at)} are ready for comment",
            link=f"/groups/{meeting.group_id}/meetings/{meeting.id}#minutes",
            person_id=person.id,
        )
    return meeting


def approve_minutes(actor: Actor, meeting: Meeting) -> Meeting:
    """Approve circulated minutes: from now on they change only by recorded amendment."""
    require_manager(actor, meeting.group, "meeting.minutes.approve")
    if meeting.minutes_status != MinutesStatus.CIRCULATED:
        raise Conflict("Minutes are approved after they have been circulated.")
    meeting.minutes_status = MinutesStatus.APPROVED
    meeting.minutes_approved_at = utcnow()
    meeting.minutes_approved_by_id = actor.person_id
    db.session.flush()
    record(actor, MEETING_MINUTES_APPROVE, meeting)
    return meeting


def amend_minutes(actor: Actor, meeting: Meeting, data: dict[str, Any]) -> MinutesAmendment:
    """Record an amendment to approved minutes (what changes and why); the approved text stays
    as it was, with every amendment after it."""
    require_manager(actor, meeting.group, "meeting.minutes.amend")
    if meeting.minutes_status != MinutesStatus.APPROVED:
        raise Conflict("Only approved minutes are amended; edit a draft directly.")
    check = Checker(data)
    text = check.text("text", "the amendment", max_length=TEXT_MAX)
    reason = check.text("reason", "why the minutes are amended", max_length=TEXT_MAX)
    check.raise_if_any()
    amendment = MinutesAmendment(text=text, reason=reason, amended_by_id=actor.person_id)
    meeting.amendments.append(amendment)
    db.session.flush()
    record(actor, MEETING_MINUTES_AMEND, meeting, amendment=amendment.id)
    return amendment


# --- decisions --------------------------------------------------------------------------


def record_decision(actor: Actor, meeting: Meeting, data: dict[str, Any]) -> GroupDecision:
    """Record a decision of the meeting, concerning one member organisation or all of them."""
    require_manager(actor, meeting.group, "meeting.decision.record")
    require_open(meeting, "recording decisions")
    if meeting.minutes_status == MinutesStatus.APPROVED:
        raise Conflict("The minutes are approved: record an amendment instead.")
    if not has_started(meeting):
        raise Conflict("Decisions are recorded once the meeting has started.")
    check = Checker(data)
    text = check.text("text", "the decision", max_length=TEXT_MAX)
    concerns = None
    if data.get("concerns_org_id"):
        concerns = parse_id(data.get("concerns_org_id"))
        if concerns is None or not permissions.is_member_org(meeting.group, concerns):
            check.add("concerns_org_id", "Choose a member organisation, or all members.")
    item_id = None
    if data.get("agenda_item_id"):
        item = next(
            (i for i in meeting.agenda_items if str(i.id) == str(data.get("agenda_item_id"))),
            None,
        )
        if item is None:
            check.add("agenda_item_id", "Choose an item on this meeting's agenda.")
        else:
            item_id = item.id
    check.raise_if_any()
    decision = GroupDecision(
        text=text,
        concerns_org_id=concerns,
        agenda_item_id=item_id,
        recorded_by_id=actor.person_id,
    )
    meeting.decisions.append(decision)
    db.session.flush()
    record(
        actor,
        MEETING_DECISION_RECORD,
        meeting,
        decision=decision.id,
        concerns=str(concerns) if concerns else "all",
    )
    return decision


# --- calendar ---------------------------------------------------------------------------


def calendar_file(actor: Actor, meeting: Meeting) -> str:
    """The meeting as an iCalendar file (no agenda, cases or names: only when, where, and the
    link back to the meeting's page)."""
    base = current_app.config["HUB_SETTINGS"].base_url.rstrip("/")
    text = calendar.meeting_ics(meeting, base, now=utcnow())
    record(actor, MEETING_CALENDAR, meeting)
    return text


def local(moment: datetime) -> datetime:
    """A stored UTC time in UK local time."""
    return moment.astimezone(LOCAL_ZONE)
