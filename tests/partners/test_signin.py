"""Signing in: passwords, second factor, throttling without account enumeration, sessions."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from partners import services, signin
from partners.models import Person, SignInThrottle, Status, WebSession
from tests.conftest import TEST_PASSWORD, actor_of, csrf_from, next_totp_code


def _last_entry(action: str) -> AuditEntry:
    return db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq.desc())
    )


def _sign_in_page_error(response) -> str:
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html
    return html


def test_sign_in_with_password_and_totp_reaches_dashboard(client, make_org, make_person):
    person = make_person(make_org(), ["events_officer"])
    client.sign_in(person)
    html = client.get("/").get_data(as_text=True)
    assert "Events officer" in html and person.organisation.name in html
    assert _last_entry("sign_in.mfa").outcome == "granted"


def test_password_alone_does_not_sign_in_when_mfa_is_on(client, make_org, make_person):
    person = make_person(make_org())
    response = client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert response.headers["Location"].startswith("/sign-in/code")
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_password_shows_error_summary_and_is_audited(client, make_org, make_person):
    person = make_person(make_org())
    response = client.submit("/sign-in", {"email": person.email, "password": "nope nope nope"})
    assert response.status_code == 200
    assert signin.GENERIC_FAILURE in _sign_in_page_error(response)
    entry = _last_entry("sign_in.password")
    assert entry.outcome == "failed" and entry.reason == "bad_credentials"
    assert person.email.encode() not in entry.leaf


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, make_org, make_person):
    person = make_person(make_org())
    known = client.submit("/sign-in", {"email": person.email, "password": "wrong-password-1"})
    unknown = client.submit(
        "/sign-in", {"email": "nobody@nowhere.example", "password": "wrong-password-1"}
    )

    def strip(response):
        html = response.get_data(as_text=True)
        return html.replace(person.email, "").replace("nobody@nowhere.example", "")

    assert known.status_code == unknown.status_code == 200
    assert csrf_stripped(strip(known)) == csrf_stripped(strip(unknown))


def csrf_stripped(html: str) -> str:
    import re

    return re.sub(r'value="[^"]*"', "", html)


@pytest.mark.parametrize("exists", [True, False], ids=["known-email", "unknown-email"])
def test_repeated_failures_slow_down_then_lock_alike(app, client, make_org, make_person, exists):
    settings = app.config["HUB_SETTINGS"]
    email = make_person(make_org()).email if exists else "ghost@nowhere.example"
    messages = []
    for _ in range(settings.lockout_threshold + 1):
        # Skip the waiting period so each attempt counts (as if time had passed).
        db.session.execute(
            sa.update(SignInThrottle)
            .where(SignInThrottle.key == services.token_hash("sign-in:" + email))
            .values(next_allowed_at=None)
        )
        response = client.submit("/sign-in", {"email": email, "password": "wrong-password-x"})
        messages.append(response.get_data(as_text=True))
    assert "locked" in messages[-1]
    assert _last_entry("sign_in.password").reason == "locked"


def test_slow_down_applies_after_three_failures(client, make_org, make_person):
    email = make_person(make_org()).email
    for _ in range(3):
        client.submit("/sign-in", {"email": email, "password": "wrong-password-x"})
    response = client.submit("/sign-in", {"email": email, "password": TEST_PASSWORD})
    assert "Wait" in response.get_data(as_text=True)  # even the right password waits
    assert _last_entry("sign_in.password").reason == "throttled"


def test_locked_account_refuses_the_right_password(client, app, make_org, make_person):
    person = make_person(make_org())
    throttle = signin._throttle_for(services.token_hash("sign-in:" + person.email))
    throttle.locked_until = signin.utcnow() + timedelta(minutes=5)
    db.session.flush()
    response = client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert "locked" in response.get_data(as_text=True)


def test_wrong_totp_code_is_refused(client, make_org, make_person):
    person = make_person(make_org())
    client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    response = client.submit("/sign-in/code", {"code": "000000"})
    assert response.status_code == 200
    assert "The code is not right" in _sign_in_page_error(response)
    assert client.get("/").status_code == 302


def test_a_totp_code_cannot_be_replayed(client, new_client, make_org, make_person):
    person = make_person(make_org())
    code = next_totp_code(person)
    client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert client.submit("/sign-in/code", {"code": code}).status_code == 302
    other = new_client()
    other.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    response = other.submit("/sign-in/code", {"code": code})
    assert response.status_code == 200 and "not right" in response.get_data(as_text=True)
    assert other.get("/").status_code == 302
    refused = _last_entry("sign_in.mfa")
    assert refused.outcome == "failed" and refused.reason == "code_reused"
    throttle = db.session.get(SignInThrottle, services.token_hash(f"mfa:{person.id}"))
    db.session.refresh(throttle)
    assert throttle.failures == 1  # a replay counts towards the lockout


def test_recovery_code_works_once(client, new_client, make_org, make_person, app_ctx):
    person = make_person(make_org(), mfa=False)
    secret = signin.begin_totp_enrolment(person)
    codes = signin.confirm_totp_enrolment(actor_of(person), person, pyotp.TOTP(secret).now())
    assert len(codes) == 10
    client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert client.submit("/sign-in/code", {"code": codes[0]}).status_code == 302
    again = new_client()
    again.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert again.submit("/sign-in/code", {"code": codes[0]}).status_code == 200
    assert again.get("/").status_code == 302
    assert signin.remaining_recovery_codes(person) == 9


def test_first_sign_in_without_mfa_must_enrol(client, make_org, make_person):
    person = make_person(make_org(), mfa=False)
    response = client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/account/two-factor/setup"
    page = client.get("/account/two-factor/setup").get_data(as_text=True)
    assert "<svg" in page  # the QR code, inline (no script)
    assert client.get("/").status_code == 302  # nothing else until enrolled
    secret = page.split('id="totp-secret">')[1].split("<")[0].replace(" ", "")
    token = csrf_from(page)
    response = client.post(
        "/account/two-factor/setup", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 200
    assert "recovery-codes" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200
    assert _last_entry("mfa.enrol").outcome == "granted"


def test_mfa_can_be_turned_off_by_configuration(app, client, make_org, make_person):
    person = make_person(make_org(), mfa=False)
    app.config["HUB_SETTINGS"].require_mfa = False
    try:
        response = client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
        assert response.headers["Location"] == "/"
        assert client.get("/").status_code == 200
    finally:
        app.config["HUB_SETTINGS"].require_mfa = True


def test_sign_in_issues_a_new_session_identifier(client, make_org, make_person):
    person = make_person(make_org())
    client.get("/sign-in")
    before = client.client.get_cookie("hub_session").value
    client.sign_in(person)
    after = client.client.get_cookie("hub_session").value
    assert before != after
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(WebSession).where(WebSession.person_id == person.id)
    )
    assert count == 1


def test_sign_out_ends_the_session_on_the_server(client, new_client, make_org, make_person):
    person = make_person(make_org())
    client.sign_in(person)
    stolen = client.client.get_cookie("hub_session").value
    client.sign_out()
    assert client.get("/").status_code == 302
    replay = new_client()
    replay.client.set_cookie("hub_session", stolen)
    assert replay.get("/").status_code == 302  # the old cookie is worthless
    assert _last_entry("sign_out").outcome == "granted"


@pytest.mark.parametrize("target", ["person", "organisation"])
def test_suspension_takes_effect_on_the_next_request(client, make_org, make_person, system, target):
    org = make_org()
    make_person(org, ["org_admin"])
    person = make_person(org)
    client.sign_in(person)
    assert client.get("/").status_code == 200
    if target == "person":
        services.set_person_status(system, person, Status.SUSPENDED)
    else:
        services.set_organisation_status(system, org, Status.SUSPENDED)
    db.session.flush()
    assert client.get("/").status_code == 302
    response = client.submit("/sign-in", {"email": person.email, "password": TEST_PASSWORD})
    assert "suspended" in response.get_data(as_text=True)


def test_open_redirect_after_sign_in_is_refused(client, make_org, make_person):
    person = make_person(make_org())
    page = client.get("/sign-in?next=//evil.example/").get_data(as_text=True)
    response = client.post(
        "/sign-in?next=//evil.example/",
        data={"csrf_token": csrf_from(page), "email": person.email, "password": TEST_PASSWORD},
    )
    response = client.submit("/sign-in/code?next=//evil.example/", {"code": next_totp_code(person)})
    assert response.headers["Location"] == "/"


def test_enrolment_link_sets_password_then_requires_totp(client, system, make_org):
    org = make_org()
    new = services.create_person(
        system, org, {"name": "New Starter", "email": "new@t.example", "roles": ["dpo"]}
    )
    db.session.flush()
    link = f"/enrol/{new.enrolment_token}"
    weak = client.submit(link, {"password": "short", "confirm": "short"})
    assert "at least 12 characters" in weak.get_data(as_text=True)
    response = client.submit(
        link, {"password": "lantern meadow copper", "confirm": "lantern meadow copper"}
    )
    assert response.headers["Location"] == "/account/two-factor/setup"
    assert client.get(link).status_code == 404  # used up
    fresh = db.session.scalar(
        sa.select(Person)
        .where(Person.id == new.person.id)
        .execution_options(populate_existing=True)
    )
    assert fresh.password_hash.startswith("$argon2id$")


def test_password_hash_is_argon2id(make_org, make_person):
    person = make_person(make_org())
    assert person.password_hash.startswith("$argon2id$")


def test_totp_secret_is_encrypted_at_rest(make_org, make_person):
    person = make_person(make_org())
    secret = signin.totp_secret(person)
    assert secret.encode() not in person.totp_secret_encrypted
