"""Replacing the authenticator app (and with it the recovery codes) needs the password and a
current code again: a signed-in session alone is not enough."""

from __future__ import annotations

import json

import pyotp
import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from core.errors import PermissionDenied
from partners import services, signin
from partners.models import Person, RecoveryCode, SignInThrottle, WebSession
from tests.conftest import TEST_PASSWORD, actor_of, csrf_from, next_totp_code

SETUP = "/account/two-factor/setup"
CONFIRM = "/account/two-factor/confirm"


def _fresh(person: Person) -> Person:
    return db.session.scalar(
        sa.select(Person).where(Person.id == person.id).execution_options(populate_existing=True)
    )


def _entries(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
    )


def _failures(key: str) -> int:
    throttle = db.session.get(SignInThrottle, services.token_hash(key))
    if throttle is None:
        return 0
    db.session.refresh(throttle)
    return throttle.failures


def _recovery_codes(person: Person) -> list[str]:
    """Give `person` recovery codes (as enrolling does) and return them."""
    codes = signin._replace_recovery_codes(person)
    db.session.flush()
    return codes


def _new_secret_from(page: str) -> str:
    return page.split('id="totp-secret">')[1].split("<")[0].replace(" ", "")


@pytest.fixture
def signed_in(client, make_org, make_person):
    person = make_person(make_org(), ["events_officer"])
    client.sign_in(person)
    return person


def test_a_signed_in_session_alone_cannot_replace_the_authenticator(client, signed_in):
    secret_before = signin.totp_secret(signed_in)

    response = client.get(SETUP)
    assert response.status_code == 302 and response.headers["Location"] == CONFIRM
    # Even a code from a new secret, posted straight to the setup page, changes nothing.
    secret = signin.begin_totp_enrolment(signed_in)
    token = csrf_from(client.get("/account").get_data(as_text=True))
    response = client.post(SETUP, data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.headers["Location"] == CONFIRM
    assert signin.totp_secret(_fresh(signed_in)) == secret_before
    assert not [e for e in _entries("mfa.enrol") if e.outcome == "granted"]


def test_the_account_page_leads_to_confirming_it_is_you(client, signed_in):
    html = client.get("/account").get_data(as_text=True)
    assert f'href="{CONFIRM}"' in html
    page = client.get(CONFIRM).get_data(as_text=True)
    assert "Confirm it is you" in page
    assert 'name="password"' in page and 'name="code"' in page


def test_password_and_current_code_let_the_person_replace_it_once(client, signed_in):
    old_codes = _recovery_codes(signed_in)
    secret_before = signin.totp_secret(signed_in)

    response = client.submit(
        CONFIRM, {"password": TEST_PASSWORD, "code": next_totp_code(signed_in)}
    )
    assert response.status_code == 302 and response.headers["Location"] == SETUP
    page = client.get(SETUP).get_data(as_text=True)
    assert "replaces your current authenticator" in page
    new_secret = _new_secret_from(page)
    response = client.post(
        SETUP, data={"csrf_token": csrf_from(page), "code": pyotp.TOTP(new_secret).now()}
    )
    assert response.status_code == 200 and "recovery-codes" in response.get_data(as_text=True)

    person = _fresh(signed_in)
    assert signin.totp_secret(person) == new_secret != secret_before
    hashes = set(
        db.session.scalars(
            sa.select(RecoveryCode.code_hash).where(RecoveryCode.person_id == person.id)
        )
    )
    assert not hashes & {services.token_hash("recovery:" + code) for code in old_codes}
    [granted] = [e for e in _entries("mfa.reauthenticate") if e.outcome == "granted"]
    assert json.loads(granted.details)["method"] == "totp"
    [enrolled] = [e for e in _entries("mfa.enrol") if e.outcome == "granted"]
    assert json.loads(enrolled.details)["replaced"] == "yes"
    # The confirmation was used up by the replacement.
    assert client.get(SETUP).headers["Location"] == CONFIRM


def test_a_lost_authenticator_is_replaced_with_the_password_and_a_recovery_code(client, signed_in):
    codes = _recovery_codes(signed_in)
    response = client.submit(CONFIRM, {"password": TEST_PASSWORD, "code": codes[3]})
    assert response.status_code == 302 and response.headers["Location"] == SETUP
    assert client.get(SETUP).status_code == 200
    assert signin.remaining_recovery_codes(signed_in) == len(codes) - 1
    [granted] = [e for e in _entries("mfa.reauthenticate") if e.outcome == "granted"]
    assert json.loads(granted.details)["method"] == "recovery_code"


@pytest.mark.parametrize(
    ("answers", "messages", "reason"),
    [
        (
            {"password": "", "code": ""},
            {
                "password": "Enter your password.",
                "code": "Enter the code from your authenticator app, or a recovery code.",
            },
            None,
        ),
        (
            {"password": "not my password", "code": "CURRENT"},
            {"password": "The password is not right."},
            "bad_password",
        ),
        (
            {"password": TEST_PASSWORD, "code": "000000"},
            {"code": "The code is not right"},
            "bad_code",
        ),
        (
            {"password": TEST_PASSWORD, "code": "aaaa-bbbb-cccc-dddd"},
            {"code": "The code is not right"},
            "bad_code",
        ),
    ],
    ids=["empty", "wrong-password", "wrong-code", "wrong-recovery-code"],
)
def test_wrong_answers_show_the_error_summary_count_and_are_audited(
    client, signed_in, answers, messages, reason
):
    if answers["code"] == "CURRENT":
        answers = {**answers, "code": next_totp_code(signed_in)}
    response = client.submit(CONFIRM, answers)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "govuk-error-summary" in html
    for field, message in messages.items():
        assert f'href="#{field}"' in html and f'id="{field}-error"' in html
        assert message in html
    assert client.get(SETUP).headers["Location"] == CONFIRM  # still not allowed

    failed = [e for e in _entries("mfa.reauthenticate") if e.outcome == "failed"]
    assert [e.reason for e in failed] == ([reason] if reason else [])
    password_failures = _failures("sign-in:" + signed_in.email)
    code_failures = _failures(f"mfa:{signed_in.id}")
    assert (password_failures, code_failures) == {
        None: (0, 0),
        "bad_password": (1, 0),
        "bad_code": (0, 1),
    }[reason]


def test_wrong_passwords_lock_sign_in_and_re_authentication_alike(
    app, client, new_client, signed_in
):
    settings = app.config["HUB_SETTINGS"]
    key = services.token_hash("sign-in:" + signed_in.email)
    for _ in range(settings.lockout_threshold):
        db.session.execute(
            sa.update(SignInThrottle).where(SignInThrottle.key == key).values(next_allowed_at=None)
        )
        client.submit(CONFIRM, {"password": "wrong password!", "code": "000000"})
    # Now even the right answers wait, here and on the sign-in page.
    response = client.submit(
        CONFIRM, {"password": TEST_PASSWORD, "code": next_totp_code(signed_in)}
    )
    assert response.status_code == 200 and "locked" in response.get_data(as_text=True)
    assert _entries("mfa.reauthenticate")[-1].reason == "locked"
    other = new_client()
    response = other.submit("/sign-in", {"email": signed_in.email, "password": TEST_PASSWORD})
    assert "locked" in response.get_data(as_text=True)


def test_a_re_authentication_expires(client, signed_in):
    response = client.submit(
        CONFIRM, {"password": TEST_PASSWORD, "code": next_totp_code(signed_in)}
    )
    assert response.headers["Location"] == SETUP
    db.session.execute(
        sa.update(WebSession)
        .where(WebSession.person_id == signed_in.id)
        .values(reauthenticated_at=signin.utcnow() - signin.REAUTHENTICATION_LIFETIME)
    )
    assert client.get(SETUP).headers["Location"] == CONFIRM


def test_the_service_refuses_a_replacement_without_re_authentication(app_ctx, signed_in):
    secret = signin.begin_totp_enrolment(signed_in)
    with pytest.raises(PermissionDenied) as refused:
        signin.confirm_totp_enrolment(actor_of(signed_in), signed_in, pyotp.TOTP(secret).now())
    assert refused.value.reason == "reauthentication_required"
    assert refused.value.audit["action"] == "mfa.enrol"
