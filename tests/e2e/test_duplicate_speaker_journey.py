"""A speaker typed into the event form who is likely already recorded (issue 14, item 4): the
events officer records an event naming "Toby Wrenfeld", a misspelling of the demo speaker
Professor Tobias Wrenfield's alias; the form asks "Is it one of these?" with the existing
record; the officer picks it, and the event names that record; no speaker is created.
axe-core is clean on every page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible

pytestmark = pytest.mark.e2e

OFFICER = "events@uni-northshire.example"
EXISTING = "Professor Tobias Wrenfield"  # hub/records/demo.py, alias "Toby Wrenfield"
TYPED = "Toby Wrenfeld"
TITLE = "Talk: regional policy after the mills"
UK = ZoneInfo("Europe/London")


def _local(days: int, hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(UK).date()
    return f"{day.isoformat()}T{hour:02d}:00"


def _answer(page: Page, question: str, answer: str) -> None:
    page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()


def _speaker_count(page: Page) -> int:
    page.goto("/speakers/")
    heading = page.get_by_role("heading", name=re.compile(r"^All speakers \(\d+\)$"))
    expect(heading).to_be_visible()
    assert_accessible(page)
    return int(re.search(r"\((\d+)\)", heading.inner_text()).group(1))


def test_a_likely_duplicate_speaker_is_picked_from_the_records_not_created(page: Page, sign_in_as):
    sign_in_as(page, OFFICER)
    before = _speaker_count(page)

    page.goto("/events/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Record an event")
    assert_accessible(page)
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description").fill("A talk on regional policy, with questions after.")
    _answer(page, "Who is organising it?", "Staff")
    page.get_by_label("Organiser's name").fill("Department of Economics")
    page.get_by_label("Start", exact=True).fill(_local(40, 18))
    page.get_by_label("End", exact=True).fill(_local(40, 20))
    _answer(page, "Where does it take place?", "On campus")
    page.get_by_label("Venue", exact=True).fill("Mill Lecture Theatre")
    _answer(page, "Is the event branded or funded by the institution?", "Yes")
    _answer(page, "Who may attend?", "Internal (staff and students only)")
    page.get_by_label("Expected audience size").fill("90")
    page.get_by_label("New speakers (optional)").fill(TYPED)
    _answer(page, "Will the event be recorded?", "No")
    _answer(page, "Will the event be streamed?", "No")
    page.get_by_role("button", name="Save draft").click()

    # The form asks first, naming the existing record; nothing has been saved.
    banner = page.locator("#duplicates")
    expect(banner).to_contain_text("Is it one of these?")
    question = page.get_by_role("group", name=f"Is \u2018{TYPED}\u2019 one of these speakers?")
    expect(question.get_by_label(EXISTING, exact=True)).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    assert_accessible(page)

    question.get_by_label(EXISTING, exact=True).check()
    banner.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator(".govuk-notification-banner")).to_contain_text(
        "The event has been recorded as a draft."
    )
    speakers = page.locator("#speakers")
    expect(speakers).to_contain_text(EXISTING)
    expect(speakers).not_to_contain_text(TYPED)
    assert_accessible(page)

    # No speaker was created: the organisation holds as many records as before.
    assert _speaker_count(page) == before
