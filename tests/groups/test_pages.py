"""The working group pages: forms with their errors in the GOV.UK summary, the journey from
convening to feedback, calendar downloads, and the regional dashboard's charts."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db, utcnow
from core.validation import LOCAL_ZONE
from hub.groups import actions
from hub.groups.meetings import agenda
from hub.groups.meetings import services as meetings
from hub.groups.models import MinutesStatus, WorkingGroup
from tests.groups.conftest import SPEAKER_NAME, schedule


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _local(days: float, hours: float = 0) -> str:
    moment = utcnow() + timedelta(days=days, hours=hours)
    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def coordinator(world, new_client):
    client = new_client()
    client.sign_in(world.people["coord"])
    return client


def test_a_coordinator_sets_up_a_group_after_fixing_the_form(world, coordinator):
    page = _text(coordinator.get("/groups/new"))
    assert "Set up a working group" in page and "TEST-WG-1" in page
    refused = coordinator.submit(
        "/groups/new", {"name": "", "region": "Testshire", "terms_of_reference": "", "cadence": ""}
    )
    assert refused.status_code == 200
    body = _text(refused)
    assert "There is a problem" in body and '<a href="#name">Enter the group\'s name.</a>' in body
    assert "<title>Error:" in body
    done = coordinator.submit(
        "/groups/new",
        {
            "name": "Testshire Prevent working group",
            "region": "Testshire",
            "terms_of_reference": "Review cases together.\nFeed back to institutions.",
            "cadence": "termly",
            "agreement_id": str(world.agreement.id),
        },
    )
    assert done.status_code == 302
    group = db.session.scalar(sa.select(WorkingGroup))
    assert done.headers["Location"] == f"/groups/{group.id}"
    page = _text(coordinator.get(done.headers["Location"]))
    assert "has been set up" in page and "Once a term" in page
    assert "In force for every member" in page


def test_an_invitation_is_accepted_on_its_page(world, coordinator, new_client):
    coordinator.submit("/groups/new", {
        "name": "G", "region": "Testshire", "terms_of_reference": "T", "cadence": "termly",
        "agreement_id": str(world.agreement.id),
    })  # fmt: skip
    group = db.session.scalar(sa.select(WorkingGroup))
    invited = coordinator.submit(
        f"/groups/{group.id}/invite", {"organisation_id": str(world.orgs["uni_a"].id)}
    )
    assert invited.status_code == 302
    admin = new_client()
    admin.sign_in(world.people["a_admin"])
    assert "G" in _text(admin.get("/groups/"))
    page = f"/groups/{group.id}/invitation"
    unanswered = admin.submit(page, {})
    assert "Choose whether your organisation joins the group." in _text(unanswered)
    joined = admin.submit(page, {"answer": "accept"})
    assert joined.headers["Location"] == f"/groups/{group.id}"
    lead = new_client()
    lead.sign_in(world.people["a_lead"])
    assert lead.get(f"/groups/{group.id}").status_code == 200


def test_the_convenor_is_never_just_removed(convened, coordinator):
    page = f"/groups/{convened.group.id}/convenor"
    refused = coordinator.submit(page, {"convenor_id": ""})
    assert "Name the new convenor: a working group cannot be left without one." in _text(refused)
    handed = coordinator.submit(page, {"convenor_id": str(convened.people["coord2"].id)})
    assert handed.status_code == 302
    db.session.expire_all()
    assert convened.group.convenor_id == convened.people["coord2"].id


def test_leaving_on_the_page_ends_access(convened, new_client):
    admin = new_client()
    admin.sign_in(convened.people["b_admin"])
    left = admin.submit(f"/groups/{convened.group.id}/leave", {})
    assert left.status_code == 302
    assert admin.get(f"/groups/{convened.group.id}").status_code == 404


def test_a_meeting_with_a_case_item_seen_at_each_level(convened, coordinator, new_client):
    w = convened
    base = f"/groups/{w.group.id}/meetings"
    refused = coordinator.submit(base + "/new", {"starts_at": _local(3), "ends_at": _local(2)})
    body = _text(refused)
    assert "The end must be after the start." in body
    assert "Give the place of the meeting, an online link, or both." in body
    made = coordinator.submit(
        base + "/new",
        {"starts_at": _local(3), "ends_at": _local(3, 2), "location": "County Hall"},
    )
    assert made.status_code == 302
    meeting_page = made.headers["Location"]
    form = _text(coordinator.get(meeting_page + "/agenda/new"))
    assert f"Speaker: {SPEAKER_NAME} (held by {w.orgs['uni_a'].name})" in form
    added = coordinator.submit(
        meeting_page + "/agenda/new",
        {"title": "A speaker at two campuses", "case": f"speaker:{w.speaker.id}"},
    )
    assert added.status_code == 302
    seen = {}
    for who in ("coord", "b_lead", "police_lead", "a_lead"):
        client = new_client()
        client.sign_in(w.people[who])
        seen[who] = _text(client.get(meeting_page))
    assert SPEAKER_NAME in seen["coord"] and "folk history" in seen["coord"]
    assert "D••• E••• Q•••" in seen["b_lead"] and SPEAKER_NAME not in seen["b_lead"]
    assert "Topic A" in seen["b_lead"]  # pseudonymised topics, as short labels (issue 14)
    assert SPEAKER_NAME in seen["police_lead"] and "folk history" not in seen["police_lead"]
    assert "Your organisation's speaker record" in seen["a_lead"]
    assert "under agreement TEST-WG-1 v1" in seen["b_lead"]


def test_minutes_are_kept_and_only_amended_once_approved(convened, coordinator):
    w = convened
    held = schedule(w, days=-1)
    page = f"/groups/{w.group.id}/meetings/{held.id}"
    assert coordinator.submit(page + "/minutes", {"minutes": ""}).status_code == 200
    saved = coordinator.submit(page + "/minutes", {"minutes": "1. Met.\n2. Agreed."})
    assert saved.headers["Location"].endswith("#minutes")
    assert coordinator.submit(page, {}, action=page + "/minutes/circulate").status_code == 302
    assert coordinator.submit(page, {}, action=page + "/minutes/approve").status_code == 302
    db.session.expire_all()
    assert held.minutes_status == MinutesStatus.APPROVED
    editing = _text(coordinator.get(page + "/minutes"))
    assert "These minutes are approved" in editing and "Record an amendment" in editing
    refused = coordinator.submit(
        page + "/minutes/amend", {"minutes": "Rewritten."}, action=page + "/minutes"
    )
    assert "cannot be edited" in _text(refused)
    db.session.expire_all()
    assert held.minutes == "1. Met.\n2. Agreed."
    amended = coordinator.submit(
        page + "/minutes/amend", {"text": "Item 2: agreed twice.", "reason": "A typo."}
    )
    assert amended.status_code == 302
    shown = _text(coordinator.get(page))
    assert "Item 2: agreed twice." in shown and "Reason: A typo." in shown
    # A second approval is refused on the page, not with an error page.
    again = coordinator.submit(page, {}, action=page + "/minutes/approve")
    assert again.status_code == 302
    assert "Minutes are approved after they have been circulated." in _text(
        coordinator.get(again.headers["Location"])
    )


def test_actions_decisions_and_feedback_reach_the_attendee(convened, coordinator, new_client):
    w = convened
    held = schedule(w, days=-1)
    page = f"/groups/{w.group.id}/meetings/{held.id}"
    coordinator.submit(page + "/decisions/new", {"text": "Share plans.", "concerns_org_id": ""})
    due = actions.local_today() + timedelta(days=10)
    missing_date = coordinator.submit(
        page + "/actions/new",
        {"title": "Brief the events team", "owner_person_id": str(w.people["b_lead"].id)},
    )
    assert "Enter the due date." in _text(missing_date)
    made = coordinator.submit(
        page + "/actions/new",
        {
            "title": "Brief the events team",
            "owner_person_id": str(w.people["b_lead"].id),
            "due_on-day": str(due.day),
            "due_on-month": str(due.month),
            "due_on-year": str(due.year),
        },
    )
    assert made.status_code == 302
    sent = coordinator.submit(page, {}, action=page + "/feedback/send")
    assert sent.status_code == 302
    db.session.expire_all()
    attendee = new_client()
    attendee.sign_in(w.people["b_lead"])
    inbox = _text(attendee.get("/shared/inbox"))
    assert f"Feedback from the {w.group.name} meeting" in inbox
    digest = _text(attendee.get(page + "/feedback"))
    assert "Share plans." in digest and "Brief the events team" in digest
    [action] = actions.list_actions(w.group)
    action_page = f"/groups/actions/{action.id}"
    updated = attendee.submit(action_page, {"status": "done", "note": "Briefed on Monday."})
    assert updated.status_code == 302
    assert "Briefed on Monday." in _text(attendee.get(action_page))


def test_the_calendar_file_downloads(convened, new_client):
    meeting = schedule(convened, days=4)
    client = new_client()
    client.sign_in(convened.people["police_lead"])
    response = client.get(f"/groups/{convened.group.id}/meetings/{meeting.id}/calendar.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.get_data(as_text=True).startswith("BEGIN:VCALENDAR\r\n")


def test_an_attendee_sends_apologies_from_the_meeting_page(convened, new_client):
    meeting = schedule(convened, days=4)
    client = new_client()
    client.sign_in(convened.people["b_events"])
    page = f"/groups/{convened.group.id}/meetings/{meeting.id}"
    assert "Send your apologies" in _text(client.get(page))
    client.submit(page, {}, action=page + "/apologies")
    db.session.expire_all()
    rows = {r.person_id: r.status.value for r in meetings.attendance_rows(meeting)}
    assert rows[convened.people["b_events"].id] == "apologies"


def test_the_regional_dashboard_draws_charts_without_style_attributes(convened, coordinator):
    w = convened
    w.event.designated = True
    held = schedule(w, days=-1)
    agenda.add_agenda_item(w.actor("coord"), held, {"title": "General"})
    db.session.flush()
    page = coordinator.get("/region?purpose=working_group_case_review")
    body = _text(page)
    assert page.status_code == 200
    assert "style=" not in body
    assert 'role="img"' in body and '<title id="chart-outcomes-title">' in body
    assert "Lanterns and Liberty" in body  # the designated event, as disclosed
    assert 'id="table-outcomes"' in body and 'id="table-reasons"' in body
    refused = coordinator.get("/region?purpose=curiosity")
    assert "Choose working group case review or event risk assessment." in _text(refused)
    csp = page.headers["Content-Security-Policy"]
    assert "style-src" in csp or "default-src" in csp


def test_the_regional_dashboard_discloses_nothing_until_a_purpose_is_chosen(convened, coordinator):
    """Opening the dashboard shows the aggregate figures and asks for a purpose; no
    institution's record is disclosed (nor audited as one) until the coordinator chooses."""
    w = convened
    w.event.designated = True
    db.session.flush()
    before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    page = coordinator.get("/region")
    body = _text(page)
    assert page.status_code == 200
    assert "Lanterns and Liberty" not in body
    assert "Choose a purpose above to see the designated events" in body
    assert 'id="table-outcomes"' in body  # the regional aggregate needs no purpose
    assert "govuk-error-summary" not in body
    api = coordinator.api("GET", "/api/v1/region/dashboard").get_json()
    assert api["purpose"] is None and api["designated_events"] is None
    written = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq > before)).all()
    assert [e.action for e in written if e.action == "disclosure"] == []
    assert all(e.purpose is None for e in written)


def test_no_group_page_carries_a_style_attribute(convened, coordinator):
    held = schedule(convened, days=-1)
    base = f"/groups/{convened.group.id}"
    for path in (
        "/groups/",
        base,
        base + f"/meetings/{held.id}",
        base + f"/meetings/{held.id}/agenda/new",
        base + "/attendees",
    ):
        assert not re.search(r"\sstyle=", coordinator.get(path).get_data(as_text=True)), path
