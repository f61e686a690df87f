"""/api/docs in a real browser (issue 14, item 9): a styled page with one heading of its own,
the getting-started guide, an example on the operations, no Authorize dialog offering a client
secret, a favicon, and axe-core clean, folded and with an operation open and tried out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, axe_violations, describe

pytestmark = pytest.mark.e2e

READER = "events@ravensmoor.example"  # Rosa Quill, events officer
SHARED_SPEAKER = "#operations-shared-api-get_api_v1_shared_speakers__speaker_id_"


def _open_docs(page: Page) -> None:
    page.goto("/api/docs")
    expect(page.locator(".opblock").first).to_be_visible()


def _assert_axe_clean(page: Page) -> None:
    """No violation of any impact (assert_accessible fails on serious and critical ones)."""
    assert_accessible(page)
    found = axe_violations(page)
    assert not found, describe(found)


def test_the_docs_page_is_styled_and_says_how_to_start(page: Page):
    _open_docs(page)
    # One heading, the document's title, styled (the stray unstyled one is gone).
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_count(1)
    expect(heading).to_contain_text("Prevent Information Sharing Hub API")
    size = heading.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 32, size
    expect(page).to_have_title(re.compile(r"^API documentation . Prevent Information Sharing Hub$"))
    # The favicon.
    icon = page.locator('link[rel="icon"]')
    expect(icon).to_have_attribute("href", "/static/favicon.svg")
    assert page.request.get("/static/favicon.svg").ok
    # Getting started: registering a key, the purpose and on-behalf-of headers, DPoP.
    guide = page.locator(".information-container")
    expect(guide.get_by_role("heading", name="Getting started")).to_be_visible()
    for words in ("Register your system with a key", "Hub-Purpose", "Hub-On-Behalf-Of", "DPoP"):
        expect(guide).to_contain_text(words)
    expect(guide).to_contain_text("required with partner tokens only")
    # No Authorize dialog, and nothing offering a client secret.
    expect(page.get_by_role("button", name="Authorize")).to_have_count(0)
    expect(page.locator(".authorization__btn")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("client_secret")
    _assert_axe_clean(page)


def test_an_open_operation_shows_examples_and_stays_accessible(page: Page, sign_in_as):
    sign_in_as(page, READER)
    _open_docs(page)
    operation = page.locator(SHARED_SPEAKER)
    operation.locator(".opblock-summary-control").click()
    body = operation.locator(".opblock-body")
    expect(body).to_be_visible()
    # The hand-written example of what a partner gets, with the holder's contact.
    expect(body).to_contain_text("NSH-DSA-2026-01")
    expect(body).to_contain_text("dpo@uni-northshire.example")
    # Hub-On-Behalf-Of is documented, and not as required (partner tokens only).
    row = operation.locator('tr[data-param-name="Hub-On-Behalf-Of"]')
    expect(row).to_contain_text("Required with a partner access token")
    expect(row.locator(".parameter__name.required")).to_have_count(0)
    _assert_axe_clean(page)
    operation.get_by_role("button", name="Try it out").click()
    expect(operation.locator('select[aria-label="Hub-Purpose (header)"]')).to_be_visible()
    _assert_axe_clean(page)


def test_writes_cannot_be_tried_from_the_page(page: Page):
    _open_docs(page)
    operation = page.locator("#operations-speakers-api-post_api_v1_speakers")
    operation.locator(".opblock-summary-control").click()
    expect(operation.locator(".opblock-body")).to_be_visible()
    expect(operation.get_by_role("button", name="Try it out")).to_have_count(0)
    expect(operation.locator(".opblock-body")).to_contain_text("Dr Ember Quillfeather")
