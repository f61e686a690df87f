"""Sign-in locks an administrator can see and lift: who is locked out, when they last signed in,
unlocking (audited), and a new enrolment link lifting a lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db, utcnow
from core.errors import PermissionDenied
from partners import lockout, services, signin
from partners.models import SignInThrottle
from tests.conftest import TEST_PASSWORD, actor_of


def _lock(key: str, minutes: int = 15) -> None:
    throttle = signin._throttle_for(key)
    throttle.failures = 10
    throttle.locked_until = utcnow() + timedelta(minutes=minutes)
    db.session.flush()


def _entries(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
    )


@pytest.mark.parametrize("counter", ["password", "code"])
def test_locked_out_names_a_person_locked_by_either_counter(make_org, make_person, counter):
    org = make_org()
    locked, free = make_person(org), make_person(org)
    key = (
        lockout.password_key(locked.email) if counter == "password" else lockout.code_key(locked.id)
    )
    _lock(key)
    locks = lockout.locked_out([locked, free])
    assert set(locks) == {locked.id}


def test_an_expired_lock_is_not_a_lock(make_org, make_person):
    person = make_person(make_org())
    _lock(lockout.password_key(person.email), minutes=-1)
    assert lockout.locked_out([person]) == {}


def test_too_many_wrong_passwords_show_the_person_as_locked_out(app, client, make_org, make_person):
    person = make_person(make_org())
    for _ in range(app.config["HUB_SETTINGS"].lockout_threshold):
        throttle = signin._throttle_for(lockout.password_key(person.email))
        throttle.next_allowed_at = None  # skip the slow-down between attempts, not the count
        db.session.flush()
        client.submit("/sign-in", {"email": person.email, "password": "wrong-password-x"})
    assert person.id in lockout.locked_out([person])


def test_an_administrator_sees_locks_and_last_sign_in_and_unlocks(client, make_org, make_person):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    locked = make_person(org, name="Locked Person")
    _lock(lockout.password_key(locked.email))
    client.sign_in(admin)
    page = client.get(f"/organisations/{org.slug}").get_data(as_text=True)
    assert "Locked out" in page and "Unlock sign-in" in page
    assert "Last signed in" in page  # the administrator, who just signed in
    assert "Never signed in" in page  # the locked person

    response = client.submit(f"/people/{locked.id}/unlock", {})
    assert response.status_code == 302
    assert lockout.locked_out([locked]) == {}
    entry = _entries("person.unlock")[-1]
    assert entry.outcome == "granted" and str(admin.id) in entry.actor
    assert str(locked.id) in entry.resource_ids
    page = client.get(f"/organisations/{org.slug}").get_data(as_text=True)
    assert "Unlock sign-in" not in page

    # The person can now sign in with the right password.
    assert signin.authenticate_password(actor_of(admin), locked.email, TEST_PASSWORD).ok


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("org_admin", True),
        ("hub_admin", True),
        ("events_officer", False),
        ("dpo", False),
        ("auditor", False),
        ("other_org_admin", False),
    ],
)
def test_the_organisations_administrators_and_hub_administrators_unlock(
    make_org, make_person, who, allowed
):
    org = make_org()
    locked = make_person(org)
    _lock(lockout.password_key(locked.email))
    if who == "other_org_admin":
        actor = actor_of(make_person(make_org(), ["org_admin"]))
    elif who == "hub_admin":
        actor = actor_of(make_person(make_org(kind="hub"), ["org_admin"]))
    else:
        actor = actor_of(make_person(org, [who]))
    if allowed:
        assert services.unlock_person(actor, locked) is True
        assert lockout.locked_out([locked]) == {}
    else:
        with pytest.raises(PermissionDenied):
            services.unlock_person(actor, locked)
        assert locked.id in lockout.locked_out([locked])


def test_unlock_page_refusal_is_audited(client, make_org, make_person):
    org = make_org()
    officer = make_person(org, ["events_officer"])
    locked = make_person(org)
    _lock(lockout.password_key(locked.email))
    client.sign_in(officer)
    response = client.submit(f"/people/{locked.id}/unlock", {})
    assert response.status_code == 403
    entry = _entries("person.unlock")[-1]
    assert entry.outcome == "denied"
    assert locked.id in lockout.locked_out([locked])


def test_a_new_enrolment_link_lifts_a_lock(make_org, make_person):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    locked = make_person(org)
    _lock(lockout.password_key(locked.email))
    _lock(lockout.code_key(locked.id))
    services.issue_enrolment_link(actor_of(admin), locked)
    assert lockout.locked_out([locked]) == {}
    rows = db.session.scalars(
        sa.select(SignInThrottle).where(
            SignInThrottle.key.in_(
                [lockout.password_key(locked.email), lockout.code_key(locked.id)]
            )
        )
    ).all()
    assert rows and all(row.failures == 0 and row.locked_until is None for row in rows)
