"""An organisation administrator adds a person, who then enrols through the one-time link the hub
emails them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, expect_error_summary
from tests.e2e.conftest import LiveHub, sign_in, totp_code

pytestmark = pytest.mark.e2e

NEW_NAME = "Nia Newcombe"
NEW_EMAIL = "nia.newcombe@uni-northshire.example"
NEW_PASSWORD = "kestrel orchard granite lantern"


def test_org_admin_adds_a_person_who_enrols(new_context, live_hub: LiveHub, sign_in_as):
    admin = new_context().new_page()
    sign_in_as(admin, "admin@uni-northshire.example")

    admin.get_by_role("link", name="People", exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("University of Northshire")
    admin.get_by_role("link", name="Add a person", exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Add a person")
    assert_accessible(admin)

    admin.get_by_label("Full name").fill(NEW_NAME)
    admin.get_by_label("Email address").fill(NEW_EMAIL)
    admin.get_by_label("Events officer").check()
    admin.get_by_label("Prevent lead").check()
    admin.get_by_role("button", name="Add person").click()

    expect(admin.locator(".govuk-panel__title")).to_have_text(f"{NEW_NAME} has been added")
    expect(admin.locator("#enrolment-emailed")).to_contain_text(
        f"We are emailing a one-time link to {NEW_EMAIL}"
    )
    shown = admin.locator("#enrolment-link").inner_text().strip()  # the fallback, if mail fails
    assert_accessible(admin)

    # The link arrives by email (the hub sends after the request commits).
    assert live_hub.mail is not None
    [email] = live_hub.mail.wait_for(NEW_EMAIL)
    assert email.subject == "Your account on the Prevent Information Sharing Hub"
    found = re.search(re.escape(live_hub.base_url) + r"/enrol/[^/\s]+", email.text)
    assert found, email.text
    link = found.group(0)
    assert link == shown and f'href="{link}"' in email.html

    admin.get_by_role("link", name="Back to University of Northshire").click()
    row = admin.locator("#people tr", has_text=NEW_EMAIL)
    expect(row).to_contain_text("Events officer, Prevent lead")
    expect(row).to_contain_text("Invited")

    # The new person, in their own browser, follows the link from their email.
    page = new_context().new_page()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    expect(page.locator("main")).to_contain_text(NEW_EMAIL)
    assert_accessible(page)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/account/two-factor/setup$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    assert_accessible(page)
    page.get_by_text("I cannot scan the QR code").click()
    key = page.locator("#totp-secret")
    expect(key).to_be_visible()
    secret = key.inner_text().replace(" ", "")
    page.get_by_label("Enter the 6-digit code your app shows").fill(totp_code(secret))
    page.get_by_role("button", name="Confirm and continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Authenticator app set up")
    expect(page.locator("#recovery-codes li")).not_to_have_count(0)
    recovery_codes = page.locator("#recovery-codes li").all_inner_texts()
    assert_accessible(page)
    page.get_by_role("link", name="I have saved my recovery codes").click()

    expect(page).to_have_url(live_hub.url("/"))
    expect(page.locator(".govuk-caption-l")).to_have_text("University of Northshire")
    expect(page.locator("#roles .govuk-summary-list__key")).to_have_text(
        ["Events officer", "Prevent lead"]
    )
    expect(page.locator(".govuk-phase-banner")).to_contain_text(f"Signed in as {NEW_NAME}")

    # The chosen password and the new authenticator work for a later sign-in.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, NEW_EMAIL, NEW_PASSWORD, secret)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # And the administrator now sees them as active.
    admin.reload()
    expect(admin.locator("#people tr", has_text=NEW_EMAIL)).to_contain_text("Active")

    # Their phone is lost: replacing the authenticator asks for the password and, instead of
    # a code from the lost app, one of the recovery codes.
    replace_lost_authenticator(page, recovery_codes[0], secret)


def replace_lost_authenticator(page: Page, recovery_code: str, old_secret: str) -> None:
    page.get_by_role("link", name="Your account").click()
    page.get_by_role("link", name="Replace authenticator app and recovery codes").click()
    expect(page).to_have_url(re.compile(r"/account/two-factor/confirm$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    assert_accessible(page)

    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD + " typo")
    page.get_by_label("Security code").fill(recovery_code)
    page.get_by_role("button", name="Continue").click()
    expect_error_summary(page, {"#password": "The password is not right."})
    assert_accessible(page)

    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Security code").fill(recovery_code)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/account/two-factor/setup$"))
    expect(page.locator(".govuk-warning-text")).to_contain_text("replaces your current")
    page.get_by_text("I cannot scan the QR code").click()
    new_secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert new_secret != old_secret
    page.get_by_label("Enter the 6-digit code your app shows").fill(totp_code(new_secret))
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.locator("#recovery-codes li")).not_to_have_count(0)
    assert recovery_code not in page.locator("#recovery-codes li").all_inner_texts()

    page.get_by_role("link", name="I have saved my recovery codes").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, NEW_EMAIL, NEW_PASSWORD, new_secret)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def test_empty_add_person_form_links_each_field(page: Page, sign_in_as):
    sign_in_as(page, "admin@ravensmoor.example")
    page.goto("/organisations/ravensmoor-university/people/new")
    page.get_by_role("button", name="Add person").click()

    expect_error_summary(
        page,
        {
            "#name": "Enter the person's full name.",
            "#email": "Enter an email address.",
            "#roles": "Choose at least one role.",
        },
    )
    for field in ("name", "email", "roles"):
        expect(page.locator(f"#{field}-error")).to_be_visible()
    assert_accessible(page)

    page.locator('.govuk-error-summary a[href="#roles"]').click()
    expect(page.locator("#roles")).to_be_focused()
