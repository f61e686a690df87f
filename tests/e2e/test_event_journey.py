"""An event from draft to decision in a real browser: the events officer records it with a new
speaker, completes the self-assessment and submits it; the Prevent lead reviews it, adds a
mitigation and escalates it to a named senior officer; the senior officer, stopped once by the
freedom-of-speech guardrail, approves it with conditions. axe-core is clean on every page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, expect_error_summary

pytestmark = pytest.mark.e2e

ORGANISER = "events@uni-northshire.example"
PREVENT_LEAD = "prevent@uni-northshire.example"
# The signatory holds no records role: named senior officer, she sees only this event.
SENIOR_OFFICER = "signatory@uni-northshire.example"
SENIOR_OFFICER_NAME = "Simone Sayle"
TITLE = "Debate: rent, rights and the student city"
NEW_SPEAKER = "Dr Isolde Marchbank"
UK = ZoneInfo("Europe/London")


def _local(days: int, hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(UK).date()
    return f"{day.isoformat()}T{hour:02d}:00"


def _heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def _answer(page: Page, question: str, answer: str) -> None:
    page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()


def test_event_from_draft_to_approval_with_conditions(new_context, sign_in_as):
    # --- the events officer records the event --------------------------------------------
    organiser = new_context().new_page()
    sign_in_as(organiser, ORGANISER)
    organiser.goto("/events/")
    _heading(organiser, "Events")
    assert_accessible(organiser)
    organiser.get_by_role("link", name="Record an event").click()
    _heading(organiser, "Record an event")
    assert_accessible(organiser)

    organiser.get_by_label("Title").fill(TITLE)
    organiser.get_by_label("Description").fill(
        "A debate on housing and student rights, with an invited speaker and questions."
    )
    organiser.get_by_label("Tags (optional)").fill("debate, housing")
    _answer(organiser, "Who is organising it?", "Student society")
    organiser.get_by_label("Organiser's name").fill("Northshire Debating Society")
    organiser.get_by_label("Start", exact=True).fill(_local(30, 18))
    organiser.get_by_label("End", exact=True).fill(_local(30, 17))  # before the start
    _answer(organiser, "Where does it take place?", "On campus")
    organiser.get_by_label("Venue", exact=True).fill("Harbour Lecture Theatre")
    _answer(organiser, "Is the event branded or funded by the institution?", "No")
    _answer(organiser, "Who may attend?", "Open to the public")
    organiser.get_by_label("Expected audience size").fill("180")
    organiser.get_by_label("New speakers (optional)").fill(NEW_SPEAKER)
    organiser.get_by_label("Chair (optional)").fill("Professor Alma Riddington")
    _answer(organiser, "Will the event be recorded?", "Yes")
    _answer(organiser, "Will the event be streamed?", "No")
    organiser.get_by_role("button", name="Save draft").click()

    expect_error_summary(organiser, {"#ends_at": "The end must be after the start."})
    expect(organiser.get_by_label("Title")).to_have_value(TITLE)
    assert_accessible(organiser)
    organiser.get_by_label("End", exact=True).fill(_local(30, 20))
    organiser.get_by_role("button", name="Save draft").click()

    _heading(organiser, TITLE)
    expect(organiser.locator(".govuk-notification-banner")).to_contain_text(
        "The event has been recorded as a draft."
    )
    expect(organiser.locator("#speakers")).to_contain_text(NEW_SPEAKER)
    expect(organiser.locator("#event-status")).to_contain_text("Draft")
    event_path = re.sub(r"^https?://[^/]+", "", organiser.url)
    assert re.fullmatch(r"/events/[0-9a-f-]{36}", event_path), event_path
    assert_accessible(organiser)

    # ... completes the self-assessment from the task list ...
    organiser.get_by_role("link", name="Risk assessment").click()
    _heading(organiser, "Risk assessment")
    expect(organiser.locator(".govuk-task-list")).to_be_visible()
    assert_accessible(organiser)
    organiser.get_by_role("link", name="Organiser's self-assessment").click()
    _heading(organiser, "Organiser's self-assessment")
    assert_accessible(organiser)
    for group in organiser.locator("form .govuk-radios").all():
        group.get_by_label("No", exact=True).check()
    _answer(organiser, "Is a speaker touring several institutions?", "Not sure")
    organiser.get_by_role("button", name="Save self-assessment").click()
    expect_error_summary(
        organiser,
        {
            "#touring_speaker_detail": (
                "Give details of why you answered 'not sure' about a touring speaker."
            )
        },
    )
    assert_accessible(organiser)
    organiser.locator("#touring_speaker_detail").fill("Their website lists two other campuses.")
    organiser.get_by_role("button", name="Save self-assessment").click()
    _heading(organiser, "Risk assessment")
    first_task = organiser.locator(".govuk-task-list__item").first
    expect(first_task).to_contain_text("Completed")
    assert_accessible(organiser)

    # ... and submits it.
    organiser.get_by_role("link", name="Back to the event").click()
    organiser.get_by_role("button", name="Submit for review").click()
    expect(organiser.locator(".govuk-notification-banner")).to_contain_text(
        "The event has been submitted for review."
    )
    expect(organiser.locator("#event-status")).to_contain_text("Submitted")
    expect(organiser.locator("#lead-time")).to_contain_text("days from submission to the start")
    expect(organiser.get_by_role("link", name="Change event details")).to_have_count(0)
    assert_accessible(organiser)

    # --- the Prevent lead reviews, adds a mitigation and escalates -----------------------
    lead = new_context().new_page()
    sign_in_as(lead, PREVENT_LEAD)
    lead.goto("/events/?status=submitted")
    lead.get_by_role("link", name=TITLE).click()
    _heading(lead, TITLE)
    lead.get_by_role("link", name="Risk assessment").click()
    lead.get_by_role("link", name="Local review by the Prevent lead").click()
    _heading(lead, "Local review")
    expect(lead.locator("main")).to_contain_text("Their website lists two other campuses.")
    assert_accessible(lead)
    _answer(lead, "How likely is harm (including unlawful speech) at this event?", "3: possible")
    _answer(lead, "If harm happened, how serious would its impact be?", "4: major")
    lead.get_by_label("Review notes").fill(
        "A contested topic and a public audience; a strong chair and stewards are proportionate."
    )
    lead.get_by_role("button", name="Save local review").click()
    _heading(lead, "Risk assessment")
    expect(lead.locator("main")).to_contain_text("Risk rating: High")
    assert_accessible(lead)

    lead.get_by_role("link", name="Mitigations", exact=True).click()
    _heading(lead, "Mitigations")
    assert_accessible(lead)
    lead.get_by_role("link", name="Add a mitigation").click()
    _heading(lead, "Add a mitigation")
    assert_accessible(lead)
    _answer(lead, "Kind of mitigation", "Independent chair")
    lead.get_by_label("Details (optional)").fill(
        "Chairs the debate and protects time for questions."
    )
    lead.get_by_label("Who is responsible for it?").fill("Professor Alma Riddington")
    _answer(lead, "Where does it stand?", "Agreed")
    lead.get_by_role("button", name="Save mitigation").click()
    _heading(lead, "Mitigations")
    expect(lead.locator("#mitigation-table")).to_contain_text("Independent chair")
    assert_accessible(lead)

    lead.get_by_role("link", name="Back to the risk assessment").click()
    lead.get_by_role("link", name="Escalation to a senior officer").click()
    _heading(lead, "Escalate to a senior officer")
    assert_accessible(lead)
    lead.get_by_role("button", name="Escalate event").click()
    expect_error_summary(
        lead,
        {
            "#senior_officer_id": "Choose the senior officer who will decide.",
            "#escalation_reason": "Enter the reason for escalating.",
        },
    )
    assert_accessible(lead)
    lead.get_by_label("Senior officer who will decide").select_option(label=SENIOR_OFFICER_NAME)
    lead.get_by_label("Why is the event being escalated?").fill(
        "High rating and a public audience: a senior officer should decide."
    )
    lead.get_by_role("button", name="Escalate event").click()
    _heading(lead, "Risk assessment")
    expect(lead.locator("#escalation")).to_be_visible()
    expect(lead.locator("main")).to_contain_text(SENIOR_OFFICER_NAME)
    assert_accessible(lead)

    # --- the named senior officer decides ------------------------------------------------
    officer = new_context().new_page()
    sign_in_as(officer, SENIOR_OFFICER)
    officer.goto("/events/")
    expect(officer.locator("#events")).to_contain_text(TITLE)
    officer.get_by_role("link", name=TITLE).click()
    _heading(officer, TITLE)
    expect(officer.locator("#event-status")).to_contain_text("Escalated")
    assert_accessible(officer)
    officer.get_by_role("link", name="Record the decision").click()
    _heading(officer, "Record the decision")
    expect(officer.locator("#suggestion")).to_contain_text("Approving with conditions")
    expect(officer.get_by_label("Approved with conditions")).to_be_checked()
    expect(officer.get_by_label("Conditions the event must meet")).to_have_value(
        re.compile("Independent chair")
    )
    assert_accessible(officer)

    # A rejection without its reasons is refused: the guardrail names each missing piece.
    officer.get_by_label("Rejected").check()
    officer.get_by_label("Rationale").fill("The topic is contested.")
    officer.get_by_role("button", name="Record decision").click()
    expect_error_summary(
        officer,
        {
            "#lawful_speech_finding": (
                "A rejection must record the finding on lawful speech: why the speech would "
                "be unlawful, or why the risk could not be mitigated."
            ),
            "#mitigations_considered": (
                "A rejection must record which mitigations were considered and why each was "
                "not enough: choose at least one."
            ),
            "#reason_category": (
                "A rejection must record a reason category: health and safety, procedural, "
                "Prevent or other."
            ),
        },
    )
    assert_accessible(officer)

    officer.get_by_label("Approved with conditions").check()
    officer.get_by_label("Conditions the event must meet").fill(
        "An independent chair, Professor Alma Riddington, protects time for questions."
    )
    officer.get_by_label("Rationale").fill(
        "Lawful debate on a contested topic; the chair keeps it open and orderly."
    )
    officer.get_by_role("button", name="Record decision").click()

    _heading(officer, TITLE)
    expect(officer.locator(".govuk-notification-banner")).to_contain_text(
        "The decision has been recorded."
    )
    expect(officer.locator("#event-status")).to_contain_text("Decided")
    expect(officer.locator("#event-status")).to_contain_text("Approved with conditions")
    expect(officer.locator("#decision")).to_be_visible()
    expect(officer.locator("#timeline h3")).to_have_text(
        ["Decided", "Escalated", "Under review", "Submitted", "Draft"]
    )
    assert_accessible(officer)

    # The organiser sees the outcome and appeals the conditions ...
    organiser.reload()
    expect(organiser.locator("#event-status")).to_contain_text("Approved with conditions")
    organiser.get_by_role("link", name="Lodge an appeal against this decision").click()
    _heading(organiser, "Lodge an appeal")
    assert_accessible(organiser)
    organiser.get_by_label("Grounds for the appeal").fill(
        "The society already provides a trained chair; the condition duplicates it."
    )
    organiser.get_by_role("button", name="Lodge appeal").click()
    expect(organiser.locator("#pending-appeal")).to_contain_text("Its outcome is due by")
    assert_accessible(organiser)

    # ... and the Prevent lead, who did not make the decision, upholds it.
    lead.goto(event_path)
    lead.get_by_role("link", name="Decide the appeal").click()
    _heading(lead, "Decide the appeal")
    assert_accessible(lead)
    _answer(lead, "Outcome of the appeal", "Upheld (the decision stands)")
    lead.get_by_label("Rationale").fill("An independent chair is a proportionate condition.")
    lead.get_by_role("button", name="Decide appeal").click()
    expect(lead.locator(".govuk-notification-banner")).to_contain_text(
        "The appeal has been decided."
    )
    expect(lead.locator("main")).to_contain_text("Upheld (the decision stands)")
    expect(lead.locator("#event-status")).to_contain_text("Approved with conditions")
    assert_accessible(lead)
