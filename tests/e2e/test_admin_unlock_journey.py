"""An administrator finds a colleague locked out of signing in and unlocks them; the colleague
then signs in. The hub here locks an address after three wrong passwords, so the journey does
not wait through the slow-down the default ten would bring."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import LiveHub, sign_in, submit_password

pytestmark = pytest.mark.e2e

SERVER_SETTINGS = {"HUB_LOCKOUT_THRESHOLD": "3"}
LOCKED_EMAIL = "auditor@uni-northshire.example"
LOCKED_NAME = "Aldous Checkley"


def test_an_administrator_unlocks_a_colleague_who_then_signs_in(
    new_context, live_hub: LiveHub, sign_in_as
):
    colleague = new_context().new_page()
    colleague.goto("/sign-in")
    for _ in range(3):
        submit_password(colleague, LOCKED_EMAIL, "not the password at all")
    submit_password(colleague, LOCKED_EMAIL, live_hub.password)
    expect(colleague.locator(".govuk-error-summary")).to_contain_text("locked")

    admin = new_context().new_page()
    sign_in_as(admin, "admin@uni-northshire.example")
    queue = admin.locator("#queue-locked-out")
    expect(queue).to_contain_text("People locked out of signing in")
    expect(queue).to_contain_text(LOCKED_NAME)
    expect(admin.get_by_role("link", name="People 1 waiting for you")).to_be_visible()
    assert_accessible(admin)

    queue.get_by_role("link", name=LOCKED_NAME).click()
    row = admin.locator("#people tr", has_text=LOCKED_EMAIL)
    expect(row).to_contain_text("Locked out")
    expect(admin.locator("#people")).to_contain_text("Last signed in")
    assert_accessible(admin)
    row.get_by_role("button", name=f"Unlock sign-in for {LOCKED_NAME}").click()

    expect(admin.locator(".govuk-notification-banner")).to_contain_text(
        f"{LOCKED_NAME} can sign in again."
    )
    row = admin.locator("#people tr", has_text=LOCKED_EMAIL)
    expect(row).not_to_contain_text("Locked out")
    expect(row.get_by_role("button", name=f"Unlock sign-in for {LOCKED_NAME}")).to_have_count(0)
    assert_accessible(admin)

    account = live_hub.account(LOCKED_EMAIL)
    sign_in(colleague, account.email, live_hub.password, account.totp_secret)
    expect(colleague).to_have_url(live_hub.url("/"))
    expect(colleague.locator(".govuk-phase-banner")).to_contain_text(f"Signed in as {LOCKED_NAME}")
