"""One second-factor code, sent by several sessions at the same instant, signs in one of them.

These tests run against a database of their own with committed rows (not the per-test
rolled-back savepoint), each session a separate client whose requests use their own database
connection, as gunicorn workers do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from core import migrations
from core.db import db
from core.security import Actor
from partners import services, signin
from partners.models import RecoveryCode, WebSession
from tests.conftest import (
    TEST_PASSWORD,
    HubClient,
    IsolatedClient,
    app_config,
    close_app,
    csrf_from,
    dispose_database,
    fresh_database_url,
)

SESSIONS = 8


@dataclass
class Hub:
    app: Flask
    person_id: str
    email: str
    secret: str
    recovery_codes: list[str]


@pytest.fixture
def hub(database_server: str | None, tmp_path: Path) -> Iterator[Hub]:
    """A migrated database of its own holding one committed person with an authenticator."""
    from hub.app import create_app

    if database_server is None:
        pytest.skip("concurrent transactions are PostgreSQL's; SQLite runs one writer at a time")
    url = fresh_database_url(database_server, tmp_path, "signin_race")
    app = create_app(app_config(url, tmp_path / "instance", audit_integrate_after_commit=False))
    app.test_client_class = IsolatedClient
    try:
        with app.app_context():
            migrations.upgrade(url)
        with app.test_request_context():
            system = Actor.system("test")
            org = services.create_organisation(
                system,
                {
                    "name": "Race University",
                    "slug": "race-university",
                    "kind": "university",
                    "region": "Testshire",
                    "dp_contact_name": "Test Contact",
                    "dp_contact_email": "dpo@race.example",
                },
            )
            person = services.create_person(
                system, org, {"name": "Rae Sing", "email": "rae@race.example", "roles": ["dpo"]}
            ).person
            person.password_hash = signin.hash_password(TEST_PASSWORD)
            secret = signin.begin_totp_enrolment(person)
            # Confirmed with the previous step's code, so that the current step is unused.
            totp = pyotp.TOTP(secret)
            previous = totp.generate_otp(totp.timecode(datetime.now(UTC)) - 1)
            codes = signin.confirm_totp_enrolment(signin.actor_for(person), person, previous)
            db.session.commit()
            hub = Hub(app, str(person.id), person.email, secret, codes)
        yield hub
    finally:
        db.session.remove()
        close_app(app)
        dispose_database(database_server, url)


def _pending_sessions(hub: Hub) -> list[tuple[HubClient, str]]:
    """SESSIONS browsers past the password step, each holding the code page's CSRF token."""
    pending = []
    for _ in range(SESSIONS):
        client = HubClient(hub.app.test_client())
        response = client.submit("/sign-in", {"email": hub.email, "password": TEST_PASSWORD})
        assert response.headers["Location"].startswith("/sign-in/code")
        token = csrf_from(client.get("/sign-in/code").get_data(as_text=True))
        pending.append((client, token))
    return pending


def _mistype_a_code(hub: Hub) -> None:
    """One earlier wrong code, as happens: the person's failure counter now exists."""
    client = HubClient(hub.app.test_client())
    client.submit("/sign-in", {"email": hub.email, "password": TEST_PASSWORD})
    assert client.submit("/sign-in/code", {"code": "000000"}).status_code == 200


def _send_at_once(pending: list[tuple[HubClient, str]], code: str) -> list[int]:
    barrier = threading.Barrier(len(pending))

    def send(item: tuple[HubClient, str]) -> int:
        client, token = item
        barrier.wait()
        response = client.post("/sign-in/code", data={"csrf_token": token, "code": code})
        return response.status_code

    with ThreadPoolExecutor(len(pending)) as pool:
        return list(pool.map(send, pending))


def _signed_in_sessions(hub: Hub) -> int:
    with hub.app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(WebSession)
            .where(WebSession.person_id == hub.person_id, WebSession.mfa_at.is_not(None))
        )


@pytest.mark.postgresql_only
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["totp", "recovery_code"])
def test_one_code_sent_by_many_sessions_at_once_signs_in_exactly_one(hub: Hub, kind: str):
    _mistype_a_code(hub)
    pending = _pending_sessions(hub)
    code = pyotp.TOTP(hub.secret).now() if kind == "totp" else hub.recovery_codes[0]

    statuses = _send_at_once(pending, code)

    assert sorted(statuses) == [200] * (SESSIONS - 1) + [302], statuses
    assert _signed_in_sessions(hub) == 1
    assert sum(client.get("/").status_code == 200 for client, _ in pending) == 1
    if kind == "recovery_code":
        with hub.app.app_context():
            used = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.person_id == hub.person_id, RecoveryCode.used_at.is_not(None))
            )
        assert used == 1
