"""Two universities make a data-sharing agreement in a real browser: the University of
Northshire's signatory drafts it with Ravensmoor University as the other party (the data
schedule field by field, stopped once by a missing section), proposes it, and approves it
after re-entering her password (refused once for a wrong one); Ravensmoor's signatory reads
and approves it, and it is active and signed. axe-core is clean on every agreements page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from agreements.content import SECTIONS
from agreements.documents import SECTION_HEADINGS
from tests.e2e.accessibility import assert_accessible, expect_error_summary

pytestmark = pytest.mark.e2e

NORTHSHIRE_SIGNATORY = "signatory@uni-northshire.example"  # Simone Sayle
RAVENSMOOR_SIGNATORY = "prevent@ravensmoor.example"  # Ravi Hollin
REFERENCE = "NSH-DSA-E2E-01"
TITLE = "Northshire and Ravensmoor: speaker due diligence"
UK = ZoneInfo("Europe/London")


def _local(days: int, hour: int = 9) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(UK).date()
    return f"{day.isoformat()}T{hour:02d}:00"


def _heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def _banner(page: Page) -> None:
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()


def test_two_universities_draft_and_approve_an_agreement(new_context, sign_in_as, live_hub):
    # --- the University of Northshire's signatory drafts -------------------------------
    drafter = new_context().new_page()
    sign_in_as(drafter, NORTHSHIRE_SIGNATORY)
    drafter.goto("/agreements/")
    _heading(drafter, "Data-sharing agreements")
    expect(drafter.locator("#register")).to_contain_text("NSH-DSA-2026-01")  # the demo's
    assert_accessible(drafter)
    drafter.get_by_role("link", name="Draft an agreement").click()
    _heading(drafter, "Draft a data-sharing agreement")
    expect(drafter.locator("#parties-0-organisation_id")).to_have_value(
        re.compile(r"[0-9a-f-]{36}")
    )
    expect(drafter.locator("#no-directions")).to_be_visible()
    assert_accessible(drafter)

    drafter.get_by_label("Reference", exact=True).fill(REFERENCE)
    drafter.get_by_label("Title", exact=True).fill(TITLE)
    drafter.get_by_label("Reciprocal protocol").check()
    drafter.locator("#parties-1-organisation_id").select_option(label="Ravensmoor University")
    drafter.get_by_role("button", name="Update the schedule for these parties").click()

    # The form now offers Ravensmoor's signatories and the schedule in both directions.
    expect(drafter.locator("#parties-1-designated_person")).to_have_value("Ruth Cawley")
    expect(drafter.locator("#parties-1-organisation_id")).to_have_value(re.compile(r".+"))
    expect(drafter.locator("#schedule-0-1-speaker")).to_be_visible()
    expect(drafter.locator("#schedule-1-0-speaker")).to_be_visible()
    expect(drafter.get_by_role("heading", name="From University of Northshire to Ravensmoor "
                               "University")).to_be_visible()  # fmt: skip
    expect(drafter.get_by_label("Title", exact=True)).to_have_value(TITLE)  # nothing typed is lost
    assert_accessible(drafter)

    drafter.locator("#parties-1-role").select_option("controller")
    drafter.locator("#parties-1-signatory_id").select_option(label="Ravi Hollin")
    drafter.get_by_label("Due diligence on an external speaker before an invitation").check()
    drafter.get_by_label("Assessing the risk of an event with external speakers").check()
    drafter.locator("#lawful_basis-article_6").fill(
        "UK GDPR Article 6(1)(e): public task, the Prevent duty."
    )
    drafter.locator("#lawful_basis-article_9").fill("Article 9(2)(g): substantial public interest.")
    drafter.locator("#lawful_basis-schedule_1").fill("DPA 2018 Schedule 1, paragraph 10.")
    for key in SECTIONS:
        if key != "necessity":  # left out: the form says what is missing
            drafter.get_by_label(SECTION_HEADINGS[key], exact=True).fill(
                f"The parties agree the {SECTION_HEADINGS[key].lower()} set out here."
            )
    drafter.get_by_label("In force from", exact=True).fill(_local(-1))
    drafter.get_by_label("Ends", exact=True).fill(_local(365, 17))
    drafter.get_by_label("Review by", exact=True).fill(_local(180)[:10])
    drafter.locator("#schedule-0-1-speaker-display_name").select_option("full")
    drafter.locator("#schedule-0-1-speaker-aliases").select_option("masked")
    drafter.locator("#schedule-0-1-speaker-topics").select_option("pseudonymised")
    drafter.locator("#schedule-1-0-speaker-display_name").select_option("full")
    drafter.locator("#schedule-1-0-speaker-sources").select_option("masked")
    drafter.locator("#schedule-1-0-assessment").select_option("existence_only")
    drafter.get_by_role("button", name="Save draft").click()

    expect_error_summary(
        drafter, {"#necessity": "Enter why the sharing is necessary and proportionate."}
    )
    expect(drafter.locator("#schedule-0-1-speaker-aliases")).to_have_value("masked")
    assert_accessible(drafter)
    drafter.get_by_label(SECTION_HEADINGS["necessity"], exact=True).fill(
        "Partners avoid repeating checks; only the scheduled fields are shared."
    )
    drafter.get_by_role("button", name="Save draft").click()

    _heading(drafter, TITLE)
    _banner(drafter)
    expect(drafter.locator("#agreement-status")).to_contain_text("Draft")
    expect(drafter.locator("#parties")).to_contain_text("Ravi Hollin")
    given = drafter.locator(
        "table", has_text="Speaker records from University of Northshire to Ravensmoor University"
    )
    topics = given.locator("tr", has_text="Topics")
    expect(topics).to_contain_text("Pseudonymised")
    expect(topics).to_contain_text("Special category")
    expect(drafter.locator("main")).to_contain_text("Risk assessment: existence only")
    agreement_path = re.sub(r"^https?://[^/]+", "", drafter.url)
    assert re.fullmatch(r"/agreements/[0-9a-f-]{36}", agreement_path), agreement_path
    assert_accessible(drafter)

    # ... proposes it, which freezes the content ...
    drafter.get_by_role("button", name="Propose for approval").click()
    _banner(drafter)
    expect(drafter.locator("#agreement-status")).to_contain_text("Awaiting approval")
    content_hash = drafter.locator("#content-hash").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash), content_hash
    expect(drafter.get_by_role("link", name="Edit the draft")).to_have_count(0)
    assert_accessible(drafter)

    # ... and approves it for her university, with her password.
    drafter.get_by_role("link", name="Approve for your organisation").click()
    _heading(drafter, "Approve this agreement")
    expect(drafter.locator("#approved-hash")).to_have_text(content_hash)
    assert_accessible(drafter)
    drafter.get_by_label("Your password").fill("not-the-password")
    drafter.get_by_role("button", name="Approve agreement").click()
    expect_error_summary(drafter, {"#password": "The password is not right."})
    assert_accessible(drafter)
    drafter.get_by_label("Your password").fill(live_hub.password)
    drafter.get_by_role("button", name="Approve agreement").click()
    _heading(drafter, TITLE)
    expect(drafter.locator(".govuk-notification-banner--success")).to_contain_text(
        "comes into force once every party has approved it"
    )
    expect(drafter.locator("#parties tr", has_text="University of Northshire")).to_contain_text(
        "Approved"
    )
    expect(drafter.locator("#parties tr", has_text="Ravensmoor University")).to_contain_text(
        "Not approved"
    )
    assert_accessible(drafter)

    # --- Ravensmoor's signatory reads and approves -------------------------------------
    other = new_context().new_page()
    sign_in_as(other, RAVENSMOOR_SIGNATORY)
    other.goto("/agreements/")
    row = other.locator("#register tr", has_text=REFERENCE)
    expect(row).to_contain_text("Awaiting approval")
    assert_accessible(other)
    row.get_by_role("link").click()
    _heading(other, TITLE)
    assert_accessible(other)
    other.get_by_role("link", name="Approve for your organisation").click()
    _heading(other, "Approve this agreement")
    expect(other.locator("#approved-hash")).to_have_text(content_hash)
    other.get_by_label("Your password").fill(live_hub.password)
    other.get_by_role("button", name="Approve agreement").click()

    _heading(other, TITLE)
    expect(other.locator(".govuk-notification-banner--success")).to_contain_text(
        "Every party has now approved it"
    )
    expect(other.locator("#agreement-status")).to_contain_text("Active")
    expect(other.locator("#signature")).to_contain_text("is as the hub signed it")
    expect(other.get_by_role("link", name="Signed agreement (JSON)")).to_be_visible()
    expect(other.get_by_role("link", name="Agreement document (PDF)")).to_be_visible()
    expect(other.locator("#statistics")).to_be_visible()
    assert_accessible(other)

    # Terminating asks for a reason (the signatory thinks better of it and goes back).
    other.get_by_role("link", name="Terminate").click()
    _heading(other, "Terminate this agreement")
    assert_accessible(other)
    other.get_by_role("button", name="Terminate agreement").click()
    expect_error_summary(other, {"#reason": "Give the reason for terminating."})
    assert_accessible(other)
    other.get_by_role("link", name="Back").click()
    expect(other.locator("#agreement-status")).to_contain_text("Active")

    # The drafter sees it active too.
    drafter.goto(agreement_path)
    expect(drafter.locator("#agreement-status")).to_contain_text("Active")
    expect(drafter.locator("#changes")).to_contain_text("Approved by every party")
