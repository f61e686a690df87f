"""A regional working group in a real browser: the Northshire coordinator sets up a group
(stopped once by a missing name) under the demo's seven-party agreement, invites Fellgate
Metropolitan University and the police Prevent team, whose administrators accept; names their
attendees; records yesterday's meeting with a case on its agenda, its attendance, minutes
(circulated and approved), a decision and an action; and sends feedback. The police attendee
finds the feedback in their inbox and sees the case at the police's own level. axe-core is
clean on every working group page, and on the coordinator's regional dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, expect_error_summary

pytestmark = pytest.mark.e2e

COORDINATOR = "coordinator@northshire-region.example"  # Colm Ridley
FELLGATE_ADMIN = "admin@fellgate-met.example"  # Fenella Grout
POLICE_ADMIN = "admin@northshire-police.example"  # Piers Tolland
POLICE_ATTENDEE = "prevent@northshire-police.example"  # Sgt. Petra Nolan
FELLGATE_ATTENDEE = "events@fellgate-met.example"  # Fergus Pell
GROUP = "Northshire Events Review Group"
CASE_SPEAKER = "Dr Perpetua Inchbold"  # a Fellgate record in the demo
FELLGATE = "Fellgate Metropolitan University"
POLICE = "Northshire Police Prevent Team"
UK = ZoneInfo("Europe/London")


def _yesterday(hour: int) -> str:
    day = (datetime.now(UTC).astimezone(UK) - timedelta(days=1)).date()
    return f"{day.isoformat()}T{hour:02d}:00"


def _heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def _banner(page: Page, text: str) -> None:
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(text)


def _accept(new_context, sign_in_as, email: str) -> None:
    """An invited organisation's administrator finds the invitation and accepts it."""
    admin = new_context().new_page()
    sign_in_as(admin, email)
    admin.goto("/groups/")
    _heading(admin, "Working groups")
    expect(admin.locator("#invitation-list")).to_contain_text(GROUP)
    assert_accessible(admin)
    admin.locator("#invitation-list").get_by_role("link", name=re.compile(GROUP)).click()
    _heading(admin, GROUP)
    expect(admin.locator("#agreement")).to_contain_text("NSH-DSA-2026-05")
    assert_accessible(admin)
    admin.get_by_role("button", name="Send your answer").click()
    expect_error_summary(admin, {"#answer": "Choose whether your organisation joins the group."})
    assert_accessible(admin)
    admin.get_by_label("Yes, join the group").check()
    admin.get_by_role("button", name="Send your answer").click()
    _heading(admin, GROUP)
    _banner(admin, "is now a member")


def test_a_coordinator_runs_a_group_meeting_and_an_attendee_reads_the_feedback(
    new_context, sign_in_as
):
    # --- the coordinator sets up the group ----------------------------------------------
    coordinator = new_context().new_page()
    sign_in_as(coordinator, COORDINATOR)
    coordinator.goto("/groups/")
    _heading(coordinator, "Working groups")
    expect(coordinator.locator("#group-list")).to_contain_text("Northshire Prevent Working Group")
    assert_accessible(coordinator)
    coordinator.get_by_role("link", name="Set up a working group").click()
    _heading(coordinator, "Set up a working group")
    assert_accessible(coordinator)
    coordinator.get_by_label("Terms of reference").fill(
        "Review designated events across the region and feed decisions back to each member."
    )
    coordinator.get_by_label("Once a term").check()
    coordinator.get_by_label("Data-sharing agreement").select_option(
        label="NSH-DSA-2026-05 v1: Northshire Prevent Working Group: case reviews (approved)"
    )
    coordinator.get_by_role("button", name="Set up the group").click()
    expect_error_summary(coordinator, {"#name": "Enter the group's name."})
    expect(coordinator.get_by_label("Terms of reference")).to_have_value(
        re.compile("Review designated events")
    )  # nothing typed is lost
    assert_accessible(coordinator)
    coordinator.get_by_label("Name of the group").fill(GROUP)
    coordinator.get_by_role("button", name="Set up the group").click()
    _heading(coordinator, GROUP)
    _banner(coordinator, "has been set up")
    expect(coordinator.locator("#agreement")).to_contain_text("In force for every member")
    group_path = re.sub(r"^https?://[^/]+", "", coordinator.url)
    assert re.fullmatch(r"/groups/[0-9a-f-]{36}", group_path), group_path
    assert_accessible(coordinator)

    # ... and invites two organisations.
    for organisation in (FELLGATE, POLICE):
        coordinator.get_by_role("link", name="Invite an organisation").click()
        _heading(coordinator, "Invite an organisation")
        assert_accessible(coordinator)
        coordinator.get_by_label("Organisation", exact=True).select_option(label=organisation)
        coordinator.get_by_role("button", name="Send the invitation").click()
        _banner(coordinator, f"{organisation} has been invited")
    expect(coordinator.locator("#member-list tr", has_text=POLICE)).to_contain_text("Invited")

    # --- their administrators accept ----------------------------------------------------
    _accept(new_context, sign_in_as, FELLGATE_ADMIN)
    _accept(new_context, sign_in_as, POLICE_ADMIN)

    # --- the coordinator names attendees ------------------------------------------------
    coordinator.goto(group_path)
    expect(coordinator.locator("#member-list tr", has_text=POLICE)).to_contain_text("Member")
    assert_accessible(coordinator)
    coordinator.get_by_role("link", name="Name attendees").click()
    _heading(coordinator, "Named attendees")
    assert_accessible(coordinator)
    for person in (f"Fergus Pell, {FELLGATE}", f"Sgt. Petra Nolan, {POLICE}"):
        coordinator.get_by_label("Person").select_option(label=person)
        coordinator.get_by_role("button", name="Name as attendee").click()
        _banner(coordinator, "is now a named attendee")
    expect(coordinator.locator("#attendee-table")).to_contain_text("Sgt. Petra Nolan")
    assert_accessible(coordinator)

    # --- yesterday's meeting, with a case on its agenda ---------------------------------
    coordinator.goto(group_path)
    coordinator.get_by_role("link", name="Schedule a meeting").click()
    _heading(coordinator, "Schedule a meeting")
    assert_accessible(coordinator)
    coordinator.get_by_label("Starts").fill(_yesterday(10))
    coordinator.get_by_label("Ends").fill(_yesterday(12))
    coordinator.get_by_role("button", name="Schedule the meeting").click()
    expect_error_summary(
        coordinator, {"#location": "Give the place of the meeting, an online link, or both."}
    )
    assert_accessible(coordinator)
    coordinator.get_by_label("Place").fill("Fellgate Civic Centre, Room 4")
    coordinator.get_by_role("button", name="Schedule the meeting").click()
    expect(coordinator.get_by_role("heading", level=1)).to_contain_text("Meeting on")
    meeting_path = re.sub(r"^https?://[^/]+", "", coordinator.url)
    expect(coordinator.locator("#calendar-link")).to_have_attribute(
        "href", meeting_path + "/calendar.ics"
    )
    assert_accessible(coordinator)

    coordinator.get_by_role("link", name="Add an agenda item").click()
    _heading(coordinator, "Add an agenda item")
    assert_accessible(coordinator)
    coordinator.get_by_label("Title").fill("Case: a speaker booked for a public lecture")
    coordinator.get_by_label("Case").select_option(
        label=f"Speaker: {CASE_SPEAKER} (held by {FELLGATE})"
    )
    coordinator.get_by_role("button", name="Add to the agenda").click()
    _banner(coordinator, "added to the agenda")
    case = coordinator.locator("#agenda-items [data-case-state]")
    expect(case).to_have_attribute("data-case-state", "shared")
    expect(case).to_contain_text(CASE_SPEAKER)
    assert_accessible(coordinator)

    # ... attendance ...
    coordinator.get_by_role("link", name="Record attendance").click()
    _heading(coordinator, "Record attendance")
    assert_accessible(coordinator)
    for person, answer in (
        ("Colm Ridley, Northshire Regional Prevent Coordinator (HE/FE)", "Attended"),
        (f"Fergus Pell, {FELLGATE}", "Attended"),
        (f"Sgt. Petra Nolan, {POLICE}", "Sent apologies"),
    ):
        coordinator.get_by_role("group", name=person).get_by_label(answer).check()
    coordinator.get_by_role("button", name="Save attendance").click()
    _banner(coordinator, "Attendance has been recorded")
    expect(coordinator.locator("#attendance-table tr", has_text="Petra")).to_contain_text(
        "Sent apologies"
    )

    # ... a decision and an action ...
    coordinator.get_by_role("link", name="Record a decision").click()
    _heading(coordinator, "Record a decision")
    assert_accessible(coordinator)
    coordinator.get_by_label("Decision").fill(
        "The police Prevent team will say by Friday whether anything affects agenda item 1."
    )
    coordinator.get_by_label("Whom it concerns").select_option(label=POLICE)
    coordinator.get_by_role("button", name="Record the decision").click()
    _banner(coordinator, "The decision has been recorded")
    coordinator.get_by_role("link", name="Record an action").click()
    _heading(coordinator, "Record an action")
    assert_accessible(coordinator)
    coordinator.get_by_label("What is to be done").fill("Check the speaker against police records")
    coordinator.get_by_label("Owner").select_option(label=f"Sgt. Petra Nolan, {POLICE}")
    due = (datetime.now(UTC).astimezone(UK) + timedelta(days=7)).date()
    coordinator.locator("#due_on").fill(str(due.day))
    coordinator.locator("#due_on-month").fill(str(due.month))
    coordinator.locator("#due_on-year").fill(str(due.year))
    coordinator.get_by_role("button", name="Record the action").click()
    _banner(coordinator, "The action has been recorded")

    # ... minutes, drafted, circulated and approved ...
    coordinator.get_by_role("link", name="Write the minutes").click()
    _heading(coordinator, "Minutes")
    assert_accessible(coordinator)
    coordinator.get_by_role("button", name="Save draft minutes").click()
    expect_error_summary(coordinator, {"#minutes": "Enter the minutes."})
    coordinator.get_by_label("Minutes").fill(
        "1. Case (agenda item 1): Fellgate described the booking; members shared what their "
        "agreements allow.\n2. The police will report back by Friday."
    )
    coordinator.get_by_role("button", name="Save draft minutes").click()
    _banner(coordinator, "draft minutes have been saved")
    coordinator.get_by_role("button", name="Circulate the draft minutes").click()
    _banner(coordinator, "circulated to the attendees")
    coordinator.get_by_role("button", name="Approve the minutes").click()
    _banner(coordinator, "The minutes are approved")
    expect(coordinator.locator("#minutes-status")).to_contain_text("Approved")
    expect(coordinator.get_by_role("link", name="Edit the draft minutes")).to_have_count(0)
    assert_accessible(coordinator)

    # ... and feedback to the members.
    coordinator.get_by_role("button", name="Send feedback to member organisations").click()
    _banner(coordinator, "Feedback has been sent")
    expect(coordinator.locator("#feedback-sent")).to_be_visible()
    assert_accessible(coordinator)

    # --- the police attendee reads the feedback and the case ----------------------------
    attendee = new_context().new_page()
    sign_in_as(attendee, POLICE_ATTENDEE)
    attendee.goto("/shared/inbox")
    link = attendee.get_by_role("link", name=re.compile(f"Feedback from the {GROUP} meeting"))
    expect(link).to_be_visible()
    link.click()
    _heading(attendee, f"Feedback for {POLICE}")
    expect(attendee.locator("#digest-decisions")).to_contain_text("The police Prevent team will")
    expect(attendee.locator("#digest-actions")).to_contain_text(
        "Check the speaker against police records"
    )
    assert_accessible(attendee)
    attendee.get_by_role("link", name="The meeting").click()
    case = attendee.locator("#agenda-items [data-case-state]")
    expect(case).to_have_attribute("data-case-state", "shared")
    expect(case).to_contain_text(CASE_SPEAKER)
    expect(case).to_contain_text("under agreement NSH-DSA-2026-05 v1")
    expect(case).not_to_contain_text("Topics")  # the police are not given the speaker's topics
    assert_accessible(attendee)
    attendee.get_by_role("link", name="Check the speaker against police records").click()
    _heading(attendee, "Check the speaker against police records")
    assert_accessible(attendee)
    attendee.get_by_label("In progress").check()
    attendee.get_by_label("Note").fill("Checking this week.")
    attendee.get_by_role("button", name="Save the update").click()
    _banner(attendee, "The action has been updated")
    expect(attendee.locator("#update-list")).to_contain_text("Checking this week.")

    # --- the Fellgate attendee sees the case as its own record ---------------------------
    fellgate = new_context().new_page()
    sign_in_as(fellgate, FELLGATE_ATTENDEE)
    fellgate.goto(meeting_path)
    expect(fellgate.locator("#agenda-items [data-case-state]")).to_have_attribute(
        "data-case-state", "own"
    )
    assert_accessible(fellgate)

    # --- the coordinator's regional dashboard -------------------------------------------
    coordinator.goto("/region")
    _heading(coordinator, "Northshire regional dashboard")
    # Nothing of the institutions' records is disclosed until a purpose is chosen.
    expect(coordinator.locator("#touring-needs-purpose")).to_be_visible()
    coordinator.get_by_label("Purpose").select_option("working_group_case_review")
    coordinator.get_by_role("button", name="Show").click()
    expect(coordinator.locator("#touring-table")).to_contain_text("Dr Kasimir Fenhollow")
    expect(
        coordinator.get_by_role("img", name=re.compile("Events decided each month, by outcome"))
    ).to_be_visible()
    assert_accessible(coordinator)
