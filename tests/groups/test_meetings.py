"""Meetings: scheduling, attendance and apologies, minutes (drafted, circulated, approved, then
only amended), decisions, cancellation and calendar files."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.db import utcnow
from core.errors import Conflict, PermissionDenied, ValidationFailed
from hub.groups import calendar, membership
from hub.groups.meetings import services as meetings
from hub.groups.models import AttendanceStatus, MinutesStatus
from tests.groups.conftest import audit_entries, schedule


def _times(days: float, hours: float = 2) -> dict[str, str]:
    start = utcnow() + timedelta(days=days)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()}


# --- scheduling -----------------------------------------------------------------------------


def test_every_named_attendee_is_invited_and_told(convened):
    meeting = schedule(convened, days=7)
    invited = {r.person_id for r in meeting.attendance}
    assert invited == {p.id for p in meetings.attendees(convened.group)}
    assert all(r.status == AttendanceStatus.INVITED for r in meeting.attendance)
    from partners import notifications

    inbox = notifications.inbox(convened.actor("b_lead"))
    assert any(m.kind == "meeting.scheduled" for m in inbox)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({**_times(3, -1), "location": "Hall"}, "ends_at", "The end must be after the start."),
        ({**_times(3, 13), "location": "Hall"}, "ends_at", "A meeting can last at most 12 hours."),
        ({**_times(-400), "location": "Hall"}, "starts_at", "A meeting can be recorded up to"),
        (_times(3), "location", "Give the place of the meeting, an online link, or both."),
        ({**_times(3), "online_link": "ftp://x"}, "online_link", "The online meeting link must"),
        ({"location": "Hall"}, "starts_at", "Enter the start date and time."),
    ],
)
def test_meeting_fields_are_checked(convened, data, field, message):
    with pytest.raises(ValidationFailed) as invalid:
        meetings.schedule_meeting(convened.actor("coord"), convened.group, data)
    assert invalid.value.errors[field][0].startswith(message)


def test_a_local_time_is_read_as_uk_time(convened):
    meeting = meetings.schedule_meeting(
        convened.actor("coord"),
        convened.group,
        {"starts_at": "2027-07-01T10:00", "ends_at": "2027-07-01T12:00", "location": "Hall"},
    )
    assert meeting.starts_at == datetime(2027, 7, 1, 9, 0, tzinfo=UTC)  # British Summer Time


def test_an_attendee_named_later_is_invited_to_meetings_to_come_only(convened, make_person):
    held, coming = schedule(convened, days=-3), schedule(convened, days=3)
    newcomer = make_person(convened.orgs["uni_a"], ["events_officer"])
    membership.add_attendee(
        convened.actor("a_admin"), convened.group, {"person_id": str(newcomer.id)}
    )
    assert any(r.person_id == newcomer.id for r in coming.attendance)
    assert not any(r.person_id == newcomer.id for r in held.attendance)


def test_changing_a_meeting_raises_its_calendar_sequence(convened):
    meeting = schedule(convened, days=3)
    meetings.update_meeting(
        convened.actor("coord"), meeting, {**_times(4), "location": "Town Hall"}
    )
    assert meeting.sequence == 1 and meeting.location == "Town Hall"
    [entry] = audit_entries("meeting.update")
    assert "Town Hall" not in entry.leaf.decode()


def test_only_a_meeting_to_come_is_cancelled_and_its_calendar_says_so(convened):
    held = schedule(convened, days=-1)
    with pytest.raises(Conflict):
        meetings.cancel_meeting(convened.actor("coord"), held)
    coming = schedule(convened, days=2)
    meetings.cancel_meeting(convened.actor("coord"), coming)
    text = meetings.calendar_file(convened.actor("b_lead"), coming)
    assert "STATUS:CANCELLED" in text and "SEQUENCE:1" in text
    with pytest.raises(Conflict):
        meetings.update_meeting(convened.actor("coord"), coming, {**_times(3), "location": "X"})


# --- attendance ---------------------------------------------------------------------------


def test_attendance_is_recorded_once_the_meeting_has_started(convened):
    w = convened
    coming = schedule(w, days=2)
    lead = str(w.people["b_lead"].id)
    with pytest.raises(Conflict):
        meetings.record_attendance(w.actor("coord"), coming, {lead: "attended"})
    held = schedule(w, days=-1)
    meetings.record_attendance(
        w.actor("coord"),
        held,
        {lead: "attended", str(w.people["police_lead"].id): "apologies"},
    )
    statuses = {r.person_id: r.status for r in held.attendance}
    assert statuses[w.people["b_lead"].id] == AttendanceStatus.ATTENDED
    assert statuses[w.people["police_lead"].id] == AttendanceStatus.APOLOGIES
    [entry] = audit_entries("meeting.attendance.record")
    assert '"attended":1' in entry.details and '"apologies":1' in entry.details


def test_attendance_only_for_attendees_and_with_a_real_answer(convened):
    w = convened
    held = schedule(w, days=-1)
    outsider, lead = str(w.people["c_lead"].id), str(w.people["b_lead"].id)
    with pytest.raises(ValidationFailed):
        meetings.record_attendance(w.actor("coord"), held, {outsider: "attended"})
    with pytest.raises(ValidationFailed):
        meetings.record_attendance(w.actor("coord"), held, {lead: "invited"})
    with pytest.raises(PermissionDenied):
        meetings.record_attendance(w.actor("b_lead"), held, {lead: "attended"})


def test_an_attendee_sends_apologies_before_the_meeting_only(convened):
    w = convened
    coming = schedule(w, days=2)
    row = meetings.give_apologies(w.actor("b_events"), coming)
    assert row.status == AttendanceStatus.APOLOGIES
    with pytest.raises(PermissionDenied):  # not a named attendee
        meetings.give_apologies(w.actor("a_dpo"), coming)
    with pytest.raises(Conflict):
        meetings.give_apologies(w.actor("b_events"), schedule(w, days=-1))


# --- minutes --------------------------------------------------------------------------------


def _approved(w):
    held = schedule(w, days=-1)
    coord = w.actor("coord")
    meetings.save_minutes(coord, held, {"minutes": "1. The group met.\n2. It agreed things."})
    meetings.circulate_minutes(coord, held)
    meetings.approve_minutes(coord, held)
    return held


def test_minutes_are_drafted_circulated_and_approved(convened):
    w = convened
    held = schedule(w, days=-1)
    coord = w.actor("coord")
    with pytest.raises(Conflict):
        meetings.circulate_minutes(coord, held)  # nothing drafted yet
    meetings.save_minutes(coord, held, {"minutes": "Draft."})
    assert held.minutes_status == MinutesStatus.DRAFTED
    with pytest.raises(Conflict):
        meetings.approve_minutes(coord, held)  # not circulated
    meetings.circulate_minutes(coord, held)
    assert held.minutes_status == MinutesStatus.CIRCULATED
    meetings.save_minutes(coord, held, {"minutes": "Draft, corrected."})
    assert held.minutes_status == MinutesStatus.DRAFTED  # a change goes back round
    meetings.circulate_minutes(coord, held)
    meetings.approve_minutes(coord, held)
    assert held.minutes_status == MinutesStatus.APPROVED
    assert held.minutes_approved_by_id == w.people["coord"].id
    assert [len(audit_entries(a)) for a in ("meeting.minutes.draft", "meeting.minutes.circulate",
                                             "meeting.minutes.approve")] == [2, 2, 1]  # fmt: skip


def test_minutes_of_a_meeting_to_come_are_not_circulated(convened):
    coming = schedule(convened, days=2)
    meetings.save_minutes(convened.actor("coord"), coming, {"minutes": "Agenda notes."})
    with pytest.raises(Conflict):
        meetings.circulate_minutes(convened.actor("coord"), coming)


def test_approved_minutes_are_changed_only_by_a_recorded_amendment(convened):
    w = convened
    held = _approved(w)
    with pytest.raises(Conflict) as refused:
        meetings.save_minutes(w.actor("coord"), held, {"minutes": "Rewritten history."})
    assert "record an amendment" in refused.value.detail
    assert held.minutes == "1. The group met.\n2. It agreed things."
    amendment = meetings.amend_minutes(
        w.actor("coord"),
        held,
        {"text": "In item 2, read 'agreed three things'.", "reason": "Corrected by uni_b."},
    )
    assert held.amendments == [amendment]
    assert held.minutes == "1. The group met.\n2. It agreed things."  # the approved text stays
    [entry] = audit_entries("meeting.minutes.amend")
    assert b"three things" not in entry.leaf and b"Corrected" not in entry.leaf
    with pytest.raises(ValidationFailed) as invalid:
        meetings.amend_minutes(w.actor("coord"), held, {"text": "Something"})
    assert invalid.value.errors["reason"] == ["Enter why the minutes are amended."]


def test_draft_minutes_are_not_amended(convened):
    held = schedule(convened, days=-1)
    meetings.save_minutes(convened.actor("coord"), held, {"minutes": "Draft."})
    with pytest.raises(Conflict):
        meetings.amend_minutes(convened.actor("coord"), held, {"text": "x", "reason": "y"})


@pytest.mark.parametrize("who", ["a_lead", "b_admin", "coord_admin", "police_lead"])
def test_only_the_groups_managers_keep_the_minutes(convened, who):
    held = schedule(convened, days=-1)
    with pytest.raises(PermissionDenied):
        meetings.save_minutes(convened.actor(who), held, {"minutes": "Mine."})


# --- decisions ----------------------------------------------------------------------------


def test_decisions_concern_a_member_or_all_and_only_once_the_meeting_has_started(convened):
    w = convened
    coming = schedule(w, days=2)
    with pytest.raises(Conflict):
        meetings.record_decision(w.actor("coord"), coming, {"text": "Too early."})
    held = schedule(w, days=-1)
    everyone = meetings.record_decision(w.actor("coord"), held, {"text": "For all."})
    assert everyone.concerns_org_id is None
    mine = meetings.record_decision(
        w.actor("coord"), held, {"text": "For B.", "concerns_org_id": str(w.orgs["uni_b"].id)}
    )
    assert mine.concerns_org_id == w.orgs["uni_b"].id
    with pytest.raises(ValidationFailed) as invalid:
        meetings.record_decision(
            w.actor("coord"), held, {"text": "For C.", "concerns_org_id": str(w.orgs["uni_c"].id)}
        )
    assert invalid.value.errors["concerns_org_id"]
    [entry, _] = audit_entries("meeting.decision.record")
    assert b"For all" not in entry.leaf


def test_no_decisions_after_the_minutes_are_approved(convened):
    held = _approved(convened)
    with pytest.raises(Conflict):
        meetings.record_decision(convened.actor("coord"), held, {"text": "Late."})


# --- calendar files -------------------------------------------------------------------------


def test_the_calendar_file_says_when_and_where_and_nothing_else(convened):
    w = convened
    meeting = schedule(w, days=3, online_link="https://meet.example/testshire")
    text = meetings.calendar_file(w.actor("police_lead"), meeting)
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    unfolded = text.replace("\r\n ", "")
    assert f"UID:meeting-{meeting.id}@prevent-hub.example" in unfolded
    assert f"DTSTART:{meeting.starts_at:%Y%m%dT%H%M%SZ}" in unfolded
    assert "LOCATION:County Hall\\, Room 2 (online: https://meet.example/testshire)" in unfolded
    assert f"/groups/{w.group.id}/meetings/{meeting.id}" in unfolded
    assert all(len(line.encode()) <= 75 for line in lines)
    for name in (p.name for p in meetings.attendees(w.group)):
        assert name not in unfolded  # no attendee names leave the hub in a calendar file
    assert len(audit_entries("meeting.calendar")) == 1


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_folding_keeps_every_line_short_and_unfolds_to_the_original(value):
    line = "DESCRIPTION:" + calendar.escape_text(value)
    folded = calendar.fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


@given(st.text(max_size=200))
def test_escaped_text_has_no_bare_separators_or_new_lines(value):
    escaped = calendar.escape_text(value)
    assert "\n" not in escaped and "\r" not in escaped
    position = 0
    while position < len(escaped):  # every comma and semicolon is escaped
        if escaped[position] == "\\":
            position += 2
            continue
        assert escaped[position] not in ",;"
        position += 1
    unescaped = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), escaped)
    assert unescaped == value.replace("\r\n", "\n").replace("\r", "\n")
