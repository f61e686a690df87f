"""A partner's speaker record seen through an agreement, in a real browser: Ravensmoor's events
officer searches for one of the University of Northshire's speakers for speaker due diligence
and sees exactly the fields the demo agreement NSH-DSA-2026-01 schedules for Ravensmoor, each
minimised as scheduled. Ravensmoor's DPO suspends the agreement, and the very next search and
the same record's page show nothing of Northshire's. Lifting the suspension restores the view.

Speaker due diligence between the two universities is covered by NSH-DSA-2026-01 alone in the
demo (the working group's agreement names only case review), so suspending it must stop it.
The hub is this file's own, freshly seeded (tests/e2e/conftest.py): the second agreement for the
same purpose that the agreement journey makes is in that journey's hub, not this one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from agreements.fields import field_spec
from tests.e2e.accessibility import assert_accessible, expect_error_summary

pytestmark = pytest.mark.e2e

READER = "events@ravensmoor.example"  # Rosa Quill, events officer
RAVENSMOOR_DPO = "dpo@ravensmoor.example"  # Ruth Cawley
AGREEMENT = "NSH-DSA-2026-01"
SPEAKER = "Dr Ember Quillfeather"
PURPOSE = "speaker_due_diligence"
#: What NSH-DSA-2026-01 gives Ravensmoor of Northshire's speakers (the name is the heading;
#: past appearances are listed in their own section).
SCHEDULED = {
    "aliases": None,
    "affiliations": "masked",
    "topics": "pseudonymised",
    "sources": "masked",
}


def _search(page: Page) -> None:
    page.goto("/shared/speakers")
    page.get_by_label("Speaker's name or other name").fill("Quillfeathr Ember")  # misspelt
    page.locator("#purpose").select_option(PURPOSE)
    page.get_by_role("button", name="Search").click()


def _shared_fields(page: Page) -> dict[str, str]:
    """The 'What is shared' list: label -> the value cell's text."""
    listing = page.locator("h2:has-text('What is shared') + dl")
    rows = listing.locator(".govuk-summary-list__row")
    return {
        rows.nth(i).locator("dt").inner_text().strip(): rows.nth(i).locator("dd").inner_text()
        for i in range(rows.count())
    }


def test_a_partner_sees_only_scheduled_fields_until_a_dpo_suspends(new_context, sign_in_as):
    reader = new_context().new_page()
    sign_in_as(reader, READER)

    # --- the events officer finds Northshire's speaker for due diligence ----------------
    _search(reader)
    hit = reader.locator("#results tr", has_text="University of Northshire")
    expect(hit).to_contain_text(SPEAKER)
    expect(hit).to_contain_text(f"{AGREEMENT} v1")

    assert_accessible(reader)
    hit.get_by_role("link", name=SPEAKER).click()

    expect(reader.get_by_role("heading", level=1)).to_contain_text(SPEAKER)
    expect(reader.locator(".hub-shared-under").first).to_contain_text(AGREEMENT)
    record_path = re.sub(r"^https?://[^/]+", "", reader.url)
    shown = _shared_fields(reader)
    withheld = shown.pop("Withheld under this agreement", "")  # the fields not scheduled
    assert "Topics" not in withheld and "Public sources" not in withheld
    expected = {field_spec("speaker", name).label: how for name, how in SCHEDULED.items()}
    assert set(shown) == set(expected), shown  # nothing beyond the schedule
    for label, how in expected.items():
        if how is None:
            assert "masked" not in shown[label] and "pseudonymised" not in shown[label]
        else:
            assert how in shown[label], (label, shown[label])
    topics = shown[field_spec("speaker", "topics").label]
    # The value itself never shown; its pseudonym as a short label (the code in a closed details).
    assert "folk history" not in topics and "Topic A" in topics and "psn:" not in topics
    assert_accessible(reader)

    # --- Ravensmoor's DPO suspends the agreement ----------------------------------------
    dpo = new_context().new_page()
    sign_in_as(dpo, RAVENSMOOR_DPO)
    dpo.goto("/agreements/")
    dpo.locator("#register tr", has_text=AGREEMENT).get_by_role("link").first.click()
    agreement_path = re.sub(r"^https?://[^/]+", "", dpo.url)
    dpo.get_by_role("link", name="Suspend sharing").click()
    dpo.get_by_role("button", name="Suspend sharing").click()
    expect_error_summary(dpo, {"#reason": re.compile(r".+")})
    dpo.get_by_label("Reason for suspending").fill(
        "A possible breach is being investigated: sharing stops until it is closed."
    )
    dpo.get_by_role("button", name="Suspend sharing").click()
    expect(dpo.locator(".govuk-notification-banner--success")).to_contain_text("suspended")
    expect(dpo.locator("#agreement-status")).to_contain_text("Suspended")
    assert_accessible(dpo)

    try:
        # --- the next search and the same page show nothing of Northshire's -------------
        # The purpose is no longer offered (no agreement in force names it for Ravensmoor);
        # a search that states it anyway finds nothing of Northshire's.
        reader.goto("/shared/speakers")
        expect(reader.locator(f'#purpose option[value="{PURPOSE}"]')).to_have_count(0)
        reader.goto(f"/shared/speakers?q=Quillfeathr+Ember&purpose={PURPOSE}")
        expect(reader.locator("main")).not_to_contain_text(SPEAKER)
        expect(reader.locator("main")).not_to_contain_text("University of Northshire")
        response = reader.goto(record_path)
        assert response is not None and response.status == 404
        expect(reader.locator("main")).to_contain_text("There is no such record that you may see")
        expect(reader.locator("main")).not_to_contain_text(SPEAKER)
    finally:
        # --- lifting the suspension restores the view (and the demo) --------------------
        dpo.goto(agreement_path)
        dpo.get_by_role("button", name="Lift the suspension").click()
        expect(dpo.locator("#agreement-status")).to_contain_text("Active")

    _search(reader)
    expect(reader.locator("#results tr", has_text="University of Northshire")).to_contain_text(
        SPEAKER
    )
