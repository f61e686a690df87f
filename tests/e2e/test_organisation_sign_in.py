"""Signing in with an organisation's own account in a real browser: the students' union's
administrator connects its OpenID provider (a real `oidc-provider` process), then a member of
staff who has never been to the hub signs in through the provider's page and lands on the
dashboard, the provider's multi-factor sign-in standing in for the hub's code."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.accessibility import assert_accessible, expect_error_summary
from tests.e2e.conftest import LiveHub
from tests.partners.identity.oidc_provider import running_provider

pytestmark = pytest.mark.e2e

ADMIN = "admin@northshire-su.example"
ORG_SLUG = "northshire-su"
STAFF_EMAIL = "new.starter@northshire-su.example"
STAFF_NAME = "Nia Starter"
PASSWORD = "provider-password-1"
CLIENT_ID = "prevent-hub"
CLIENT_SECRET = "e2e-client-secret-from-the-provider"


@pytest.fixture(scope="module")
def provider_issuer(live_hub: LiveHub) -> Iterator[str]:
    config = {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [live_hub.url("/sign-in/oidc/callback")],
            }
        ],
        "accounts": {
            "starter": {
                "email": STAFF_EMAIL,
                "password": PASSWORD,
                "name": STAFF_NAME,
                "amr": ["pwd", "hwk"],
            }
        },
    }
    with running_provider(config) as provider:
        yield provider.issuer


def test_staff_sign_in_with_their_organisations_account(
    new_context, live_hub: LiveHub, sign_in_as, provider_issuer: str
):
    admin = new_context().new_page()
    sign_in_as(admin, ADMIN)
    admin.goto(f"/organisations/{ORG_SLUG}")
    admin.get_by_role("link", name="Organisation sign-in (identity provider)").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Organisation sign-in")
    expect(admin.locator("#redirect-uri")).to_contain_text(live_hub.url("/sign-in/oidc/callback"))
    assert_accessible(admin)

    # A mistake first: the error summary links the field.
    admin.get_by_label("Issuer URL").fill("login.example")
    admin.get_by_role("button", name="Save organisation sign-in").click()
    expect_error_summary(
        admin,
        {
            "#issuer": "The issuer URL must be a web address starting with https:// or http://.",
            "#client_id": "Enter the client ID the provider gave the hub.",
            "#client_secret": "Enter the client secret the provider gave the hub.",
            "#allowed_domains": "Enter at least one email domain your organisation's people "
            "sign in with.",
        },
    )
    assert_accessible(admin)

    admin.get_by_label("Issuer URL").fill(provider_issuer)
    admin.get_by_label("Client ID").fill(CLIENT_ID)
    admin.get_by_label("Client secret", exact=True).fill(CLIENT_SECRET)
    admin.get_by_label("Allowed email domains").fill("northshire-su.example")
    admin.get_by_role("button", name="Save organisation sign-in").click()
    expect(admin.locator(".govuk-notification-banner")).to_contain_text(
        "can now sign in with their organisation's account"
    )
    expect(admin.get_by_label("Issuer URL")).to_have_value(provider_issuer)

    staff = new_context().new_page()
    staff.goto("/")
    staff.get_by_role("link", name="Sign in with your organisation's account").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(
        "Sign in with your organisation's account"
    )
    assert_accessible(staff)
    staff.get_by_label("Work email address").fill(STAFF_EMAIL)
    staff.get_by_role("button", name="Continue").click()

    # The provider's own page, with the address passed on as a hint.
    staff.wait_for_url(re.compile(re.escape(provider_issuer) + r"/interaction/"))
    expect(staff.get_by_label("Email address")).to_have_value(STAFF_EMAIL)
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_role("button", name="Sign in").click()

    staff.wait_for_url(live_hub.url("/"))
    expect(staff.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(staff.locator(".govuk-phase-banner")).to_contain_text(f"Signed in as {STAFF_NAME}")
    assert_accessible(staff)


def test_a_refused_sign_in_explains_itself(page: Page, provider_issuer: str):
    page.goto("/sign-in/oidc/callback?state=forged&code=x")
    expect(page.get_by_role("heading", level=1)).to_have_text("You could not be signed in")
    expect(page.locator("#refusal-reason")).to_have_text("state_mismatch")
    assert_accessible(page)
