"""The DPO's daily audit review, in a real browser (issue 14).

Ravensmoor's events officer looks up one of the University of Northshire's speakers for
speaker due diligence, which discloses the record under NSH-DSA-2026-01. Northshire's DPO then
opens the audit review, filters it to disclosures (in words), saves the filter, opens an entry
whose title matches the list, asks "explain this access" (who, under which agreement and
purpose, which fields, what else they read that day), and checks the narrow-screen layout.
Downloading the log six times in a day trips the bulk-export flag (on a fresh hub no spike is
flagged: there is no baseline yet); the DPO marks it reviewed with a note, and the review is
itself in the log, by id, without the note. Every page visited is axe-clean.

The hub is this file's own (tests/e2e/conftest.py), so nothing here depends on other journeys.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, expect_error_summary

pytestmark = pytest.mark.e2e

READER = "events@ravensmoor.example"  # Rosa Quill, events officer
READER_NAME = "Rosa Quill"
READER_ORG = "Ravensmoor University"
DPO = "dpo@uni-northshire.example"  # Dara Protheroe
AGREEMENT = "NSH-DSA-2026-01"
SPEAKER = "Dr Ember Quillfeather"
PURPOSE = "speaker_due_diligence"
PURPOSE_WORDS = "Due diligence on an external speaker before an invitation"
DISCLOSURE = "Disclosure to another organisation"
NOTE = "Asked Dara's team: the six downloads were the quarterly board pack."
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 375, "height": 800}


def _disclose_a_speaker(page: Page) -> None:
    """Ravensmoor's events officer finds and opens Northshire's speaker (two disclosures)."""
    page.goto("/shared/speakers")
    page.get_by_label("Speaker's name or other name").fill("Quillfeathr Ember")
    page.locator("#purpose").select_option(PURPOSE)
    page.get_by_role("button", name="Search").click()
    hit = page.locator("#results tr", has_text="University of Northshire")
    expect(hit).to_contain_text(SPEAKER)
    assert_accessible(page)
    hit.get_by_role("link", name=SPEAKER).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(SPEAKER)
    assert_accessible(page)


def _fits_the_page(page: Page) -> None:
    """Nothing is wider than the window (no sideways scrolling)."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_a_dpo_reviews_explains_and_marks_a_flag_reviewed(new_context, sign_in_as):
    reader = new_context().new_page()
    sign_in_as(reader, READER)
    _disclose_a_speaker(reader)

    dpo = new_context().new_page()
    dpo.set_viewport_size(WIDE)
    sign_in_as(dpo, DPO)

    # --- the review: names and words, no ids, in the 960px column -----------------------
    dpo.goto("/audit/")
    expect(dpo.get_by_role("heading", level=1)).to_have_text("Audit log")
    assert_accessible(dpo)
    dpo.get_by_label("Action").select_option(label=DISCLOSURE)
    dpo.get_by_label("Purpose").select_option(label=PURPOSE_WORDS)
    dpo.get_by_role("button", name="Apply filters").click()
    table = dpo.locator("#entries")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows.first).to_contain_text(READER_NAME)
    expect(rows.first).to_contain_text(READER_ORG)
    expect(rows.first).to_contain_text(DISCLOSURE)
    expect(rows.first).to_contain_text(f"{AGREEMENT} v1")
    expect(rows.first).to_contain_text(PURPOSE_WORDS)
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", table.inner_text()), "an id in the list"
    assert table.bounding_box()["width"] <= 960
    _fits_the_page(dpo)
    assert_accessible(dpo)

    # --- save the filters for tomorrow ---------------------------------------------------
    dpo.get_by_role("link", name="Save these filters").click()
    expect(dpo.locator("#filters-to-save")).to_contain_text(DISCLOSURE)
    assert_accessible(dpo)
    dpo.get_by_role("button", name="Save filters").click()
    expect_error_summary(dpo, {"#name": "Enter a name for the filter."})
    assert_accessible(dpo)
    dpo.get_by_label("Name for these filters").fill("Speakers we disclosed")
    dpo.get_by_role("button", name="Save filters").click()
    expect(dpo.locator(".govuk-notification-banner")).to_contain_text("Filter saved")
    saved = dpo.locator("#saved-filters").get_by_role("link", name="Speakers we disclosed")
    expect(saved).to_be_visible()
    dpo.goto("/audit/")
    dpo.locator("#saved-filters").get_by_role("link", name="Speakers we disclosed").click()
    expect(dpo.get_by_label("Action")).to_have_value("disclosure")
    assert_accessible(dpo)

    # --- the narrow screen: a summary list per entry ------------------------------------
    dpo.set_viewport_size(NARROW)
    expect(dpo.locator("#entries")).to_be_hidden()
    card = dpo.locator(".hub-audit-narrow .govuk-summary-card").first
    expect(card).to_be_visible()
    expect(card).to_contain_text(READER_NAME)
    _fits_the_page(dpo)
    assert_accessible(dpo)
    dpo.set_viewport_size(WIDE)

    # --- open an entry: its title matches the list --------------------------------------
    first = dpo.locator("#entries tbody tr").first
    link = first.get_by_role("link", name=re.compile(r"^Entry \d+$"))
    number = link.inner_text().split()[1]
    link.click()
    expect(dpo.get_by_role("heading", level=1)).to_have_text(f"Entry {number}: {DISCLOSURE}")
    expect(dpo).to_have_title(re.compile(rf"^Entry {number}: {DISCLOSURE}"))
    _fits_the_page(dpo)
    assert_accessible(dpo)

    # --- explain this access -------------------------------------------------------------
    dpo.get_by_role("link", name="Explain this access").click()
    expect(dpo.locator("#explain-who")).to_have_text(f"{READER_NAME}, {READER_ORG}")
    agreement = dpo.locator("#explain-agreement")
    expect(agreement.get_by_role("link", name=f"{AGREEMENT} v1")).to_be_visible()
    expect(dpo.locator("#explain-purpose")).to_have_text(PURPOSE_WORDS)
    expect(dpo.locator("#explain-fields li").first).to_be_visible()
    # The search and the record's page each disclosed it: the other is listed, as a link.
    expect(dpo.locator("#same-day a").first).to_be_visible()
    assert_accessible(dpo)
    agreement.get_by_role("link", name=f"{AGREEMENT} v1").click()
    expect(dpo.locator("main")).to_contain_text(AGREEMENT)
    dpo.go_back()

    # --- a flag: six downloads in a day --------------------------------------------------
    dpo.goto("/audit/activity")
    spikes = dpo.locator("#flags-spike")
    expect(spikes).to_contain_text("0 flagged")  # a fresh hub has no baseline to exceed
    assert "threshold 0.0" not in dpo.content()
    for _ in range(6):
        response = dpo.request.get("/audit/export.csv?action=disclosure")
        assert response.ok and response.headers["content-type"].startswith("text/csv")
    dpo.reload()
    flag = dpo.locator("#flags-bulk_export li", has_text="6 exports in one day")
    expect(flag).to_contain_text("Not reviewed")
    assert_accessible(dpo)
    flag.get_by_role("link", name=re.compile("^Mark as reviewed")).click()
    expect(dpo.get_by_role("heading", level=1)).to_have_text("Mark a flag as reviewed")
    assert_accessible(dpo)
    dpo.get_by_role("button", name="Mark as reviewed").click()
    expect_error_summary(dpo, {"#note": "Enter what you found."})
    assert_accessible(dpo)
    dpo.get_by_label("What did you find?").fill(NOTE)
    dpo.get_by_role("button", name="Mark as reviewed").click()
    reviewed = dpo.locator("#flags-bulk_export li", has_text="6 exports in one day")
    expect(reviewed).to_contain_text("Reviewed")
    expect(reviewed).to_contain_text(NOTE)
    assert_accessible(dpo)

    # --- the review is itself audited, by id, without the note ---------------------------
    dpo.goto("/audit/")
    dpo.get_by_label("Action").select_option(label="Unusual-access flag marked reviewed")
    dpo.get_by_role("button", name="Apply filters").click()
    review_rows = dpo.locator("#entries tbody tr")
    # The refused attempt (no note) and the review itself.
    expect(review_rows).to_have_count(2)
    expect(review_rows.filter(has_text="Denied")).to_have_count(1)
    dpo.get_by_label("Outcome").select_option("granted")
    dpo.get_by_role("button", name="Apply filters").click()
    expect(review_rows).to_have_count(1)
    review_rows.first.get_by_role("link", name=re.compile(r"^Entry \d+$")).click()
    expect(dpo.get_by_role("heading", level=1)).to_contain_text(
        "Unusual-access flag marked reviewed"
    )
    assert "quarterly board pack" not in dpo.content()
    expect(dpo.locator("#summary")).to_contain_text("Audit flag review")
    assert_accessible(dpo)
