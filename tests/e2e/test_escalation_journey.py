"""An escalation finds its senior officer: the Prevent lead takes an event from the queue of
local reviews, reviews it and escalates it by name; the senior officer is emailed (no speaker
or event named in the email) and finds the decision waiting on their dashboard, counted in
the navigation, and reached from the email's link too."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import LiveHub

pytestmark = pytest.mark.e2e

PREVENT_LEAD = "prevent@uni-northshire.example"
SENIOR_OFFICER = "signatory@uni-northshire.example"
SENIOR_OFFICER_NAME = "Simone Sayle"
TITLE = "Regional Money, Regional Power"  # the demo's submitted event at Northshire
SPEAKER = "Tobias Wrenfield"


def _heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def _answer(page: Page, question: str, answer: str) -> None:
    page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()


def _waiting(page: Page, section: str) -> int:
    """The count beside a navigation link (0 when there is none)."""
    link = page.locator(".govuk-service-navigation__link", has_text=section)
    count = link.locator(".hub-count")
    return int(count.inner_text().split()[0]) if count.count() else 0


def _email_with(live_hub: LiveHub, address: str, text: str, timeout: float = 15.0):
    """The first email to `address` whose plain text holds `text`, waiting for it to arrive."""
    assert live_hub.mail is not None
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        arrived = live_hub.mail.wait_for(address, count, max(deadline - time.monotonic(), 0.1))
        found = [m for m in arrived if text in m.text]
        if found:
            return found[0]
        count = len(arrived) + 1


def test_an_escalation_reaches_the_senior_officers_queue_and_inbox(
    new_context, live_hub: LiveHub, sign_in_as
):
    officer = new_context().new_page()
    sign_in_as(officer, SENIOR_OFFICER)
    decisions_before = _waiting(officer, "Events")  # the demo has one escalated already

    # --- the Prevent lead finds the event in their queue, reviews and escalates it --------
    lead = new_context().new_page()
    sign_in_as(lead, PREVENT_LEAD)
    queue = lead.locator("#queue-local-reviews")
    expect(queue).to_contain_text("Events waiting for local review")
    assert _waiting(lead, "Events") >= 1
    assert_accessible(lead)
    queue.get_by_role("link", name=TITLE).click()
    _heading(lead, "Risk assessment")
    event_path = re.search(r"/events/[0-9a-f-]{36}", lead.url).group(0)
    lead.get_by_role("link", name="Local review by the Prevent lead").click()
    _heading(lead, "Local review")
    _answer(lead, "How likely is harm (including unlawful speech) at this event?", "3: possible")
    _answer(lead, "If harm happened, how serious would its impact be?", "4: major")
    lead.get_by_label("Review notes").fill("A public audience of 200 on a contested topic.")
    lead.get_by_role("button", name="Save local review").click()
    _heading(lead, "Risk assessment")
    lead.get_by_role("link", name="Escalation to a senior officer").click()
    _heading(lead, "Escalate to a senior officer")
    choices = lead.get_by_label("Senior officer who will decide").locator("option")
    expect(choices.filter(has_text=SENIOR_OFFICER_NAME)).to_have_count(1)
    expect(choices.filter(has_text="Priya Lathom")).to_have_count(0)  # not the escalator
    expect(choices.filter(has_text="Dara Protheroe")).to_have_count(0)  # not a senior officer
    assert_accessible(lead)
    lead.get_by_label("Senior officer who will decide").select_option(label=SENIOR_OFFICER_NAME)
    lead.get_by_label("Why is the event being escalated?").fill(
        "A large public audience and a contested topic: a senior officer should decide."
    )
    lead.get_by_role("button", name="Escalate event").click()
    _heading(lead, "Risk assessment")
    expect(lead.locator("main")).to_contain_text(SENIOR_OFFICER_NAME)

    # --- the senior officer is emailed, without the event's or speaker's name -------------
    # (The demo's own notices to them, queued when it was seeded, arrive too: find this one.)
    decision_url = f"{live_hub.base_url}{event_path}/decision"
    email = _email_with(live_hub, SENIOR_OFFICER, decision_url)
    assert email.subject == "An event is waiting for your decision"
    assert decision_url in email.html
    for body in (email.text, email.html):
        assert TITLE not in body and SPEAKER not in body

    # --- ... and finds the decision waiting on their dashboard ----------------------------
    officer.goto("/")
    decisions = officer.locator("#queue-decisions")
    expect(decisions).to_contain_text("Decisions waiting for you")
    expect(decisions).to_contain_text(TITLE)
    expect(decisions).to_contain_text("Decide before")
    assert _waiting(officer, "Events") == decisions_before + 1
    assert_accessible(officer)
    decisions.get_by_role("link", name=TITLE).click()
    _heading(officer, "Record the decision")
    assert officer.url == decision_url
    assert_accessible(officer)

    # The email's link opens the same page in the officer's browser.
    officer.goto(decision_url)
    _heading(officer, "Record the decision")
