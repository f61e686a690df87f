"""Signing in and out in a real browser: the two steps, errors, CSRF refusal, sign-out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, expect_error_summary
from tests.e2e.conftest import LiveHub, submit_code, submit_password

pytestmark = pytest.mark.e2e


def test_sign_in_with_password_and_code_reaches_the_dashboard(page: Page, live_hub: LiveHub):
    account = live_hub.account("events@uni-northshire.example")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert_accessible(page)

    submit_password(page, account.email, live_hub.password)
    expect(page).to_have_url(re.compile(r"/sign-in/code"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your security code")
    assert_accessible(page)

    submit_code(page, account.totp_secret)
    expect(page).to_have_url(live_hub.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".govuk-caption-l")).to_have_text("University of Northshire")
    expect(page.locator("#roles .govuk-summary-list__key")).to_have_text(["Events officer"])
    expect(page.locator(".govuk-phase-banner")).to_contain_text(
        "Signed in as Evan Eventide, University of Northshire."
    )
    assert_accessible(page)


def test_wrong_password_shows_the_error_summary(page: Page, live_hub: LiveHub):
    account = live_hub.account("prevent@ravensmoor.example")
    page.goto("/sign-in")

    submit_password(page, account.email, live_hub.password + "-wrong")

    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect_error_summary(page, {"#email": "The email address or password is not right."})
    expect(page.locator("#email-error")).to_contain_text("The email address or password")
    expect(page.get_by_label("Email address")).to_have_value(account.email)
    assert_accessible(page)

    # The summary's link takes the person to the field.
    page.locator('.govuk-error-summary a[href="#email"]').click()
    expect(page.get_by_label("Email address")).to_be_focused()


def test_empty_sign_in_form_links_each_field(page: Page):
    page.goto("/sign-in")
    page.get_by_role("button", name="Continue").click()

    expect_error_summary(
        page, {"#email": "Enter your email address.", "#password": "Enter your password."}
    )


def test_form_without_csrf_token_is_refused(page: Page, live_hub: LiveHub):
    account = live_hub.account("signatory@uni-northshire.example")
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(account.email)
    page.get_by_label("Password", exact=True).fill(live_hub.password)
    page.evaluate("() => document.querySelector('input[name=csrf_token]').remove()")

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Continue").click()

    assert posted.value.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Your form could not be sent")
    expect(page).to_have_title(re.compile(r"^Your form could not be sent"))
    assert_accessible(page)
    # The correct password did not sign anyone in.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))


def test_signed_in_form_without_csrf_token_is_refused(page: Page, sign_in_as):
    """Sign-out is a signed-in form: without its token it is refused and the session stays."""
    sign_in_as(page, "auditor@uni-northshire.example")
    page.evaluate(
        "() => document.querySelector('.hub-inline-form input[name=csrf_token]').remove()"
    )

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign out").click()

    assert posted.value.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Your form could not be sent")
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def test_sign_out_ends_the_session_on_the_server(new_context, live_hub: LiveHub, sign_in_as):
    context = new_context()
    page = context.new_page()
    sign_in_as(page, "dpo@uni-northshire.example")
    cookies = context.cookies()
    assert any(c["name"] == "hub_session" for c in cookies)

    # Control: the cookie alone carries the session into another browser while it lasts.
    before = new_context()
    before.add_cookies(cookies)
    replay = before.new_page()
    replay.goto("/")
    expect(replay.get_by_role("heading", level=1)).to_have_text("Dashboard")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "You have signed out."
    )
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    # Replaying the cookie from before sign-out, in a fresh browser, gets nobody in.
    after = new_context()
    after.add_cookies(cookies)
    stale = after.new_page()
    stale.goto("/")
    expect(stale).to_have_url(re.compile(r"/sign-in\?next=/$"))
    expect(stale.get_by_role("heading", level=1)).to_have_text("Sign in")
