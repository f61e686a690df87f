"""Shared fixtures: a migrated database per test run (SQLite or PostgreSQL), a savepoint per test,
factories for organisations and people (records: tests/factories.py; agreements:
tests/agreement_factories.py), and a client that signs in through the real pages."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from audit.models import AuditEntry
from core import background, migrations
from core.db import db
from core.security import Actor
from partners import services, signin
from partners.models import Organisation, Person

pytest_plugins = ["tests.agreement_factories", "tests.factories", "tests.mail"]

TEST_PASSWORD = "correct horse battery staple"
POSTGRES_ENV = "HUB_TEST_DATABASE"


# --- the database ------------------------------------------------------------------------


def _postgres_reachable(server_url: str) -> bool:
    engine = sa.create_engine(
        server_url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def create_postgres_database(server_url: str, name: str) -> str:
    """Create an empty database `name` on the server; returns its URL."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, name: str) -> None:
    """Drop a database made by `create_postgres_database`."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(scope="session")
def database_server() -> str | None:
    """The PostgreSQL server URL under test, or None when the suite runs on SQLite."""
    server_url = os.environ.get(POSTGRES_ENV)
    if not server_url:
        return None
    if not _postgres_reachable(server_url):
        message = f"PostgreSQL at {server_url} is unreachable"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI requires it)", pytrace=False)
        pytest.skip(message)
    return server_url


def fresh_database_url(database_server: str | None, tmp_path: Path, label: str) -> str:
    """A new, empty database on the engine under test."""
    if database_server is None:
        return f"sqlite:///{tmp_path / f'{label}.sqlite3'}"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"hub_test_{label}_{worker}_{uuid.uuid4().hex[:8]}"
    return create_postgres_database(database_server, name)


def dispose_database(database_server: str | None, url: str) -> None:
    """Drop a database made by `fresh_database_url` (SQLite files go with the tmp dir)."""
    if database_server is not None:
        drop_postgres_database(database_server, sa.make_url(url).database)


def close_app(app: Flask) -> None:
    """End a test app: stop its background threads, then close its engine's connections. A
    thread's round still running holds a connection the dispose cannot close; it would be
    collected, unclosed, in some later test (a ResourceWarning there, failing that test)."""

    background.stop_all(app)
    app.extensions["hub_db_engine"].dispose()


REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not _redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (scripts/ensure-services)")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


def clear_of_a_window_end(seconds: int = 60, margin: float = 5.0) -> None:
    """Wait for the next window of `seconds` if the current one ends within `margin` seconds.
    Rate-limit windows follow the clock (`core.budgets`): a test counting calls up to a limit
    must not have a window end in the middle of its count."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.05)


def app_config(url: str, instance: Path, **overrides: Any) -> dict[str, Any]:
    """Settings for a test app: cheap password hashing, no rate limits unless asked."""
    config: dict[str, Any] = {
        "env": "test",
        "database_url": url,
        "instance_path": instance,
        "password_time_cost": 1,
        "password_memory_kib": 8,
        "secret_key": "test-secret-key-not-for-production",
        "RATELIMIT_ENABLED": False,
        # Tests integrate audit entries when they mean to (no timer thread per test app).
        "audit_integrate_interval_seconds": 0,
        # Tests deliver email when they mean to (no sender thread per test app).
        "mail_send_after_commit": False,
        "mail_send_interval_seconds": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def app(database_server: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app and one migrated database for the run; each test rolls back its changes."""
    from hub.app import create_app

    base = tmp_path_factory.mktemp("hub")
    url = fresh_database_url(database_server, base, "suite")
    application = create_app(app_config(url, base / "instance"))
    application.test_client_class = IsolatedClient
    with application.app_context():
        migrations.upgrade(url)
    yield application
    db.session.remove()
    close_app(application)
    dispose_database(database_server, url)


@pytest.fixture(autouse=True)
def _rollback(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run each test inside a transaction that is rolled back (services' commits are savepoints)."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    connection = app.extensions["hub_db_engine"].connect()
    transaction = connection.begin()
    db.bind(connection, join_transaction_mode="create_savepoint")
    with app.app_context():
        yield
    db.session.remove()
    transaction.rollback()
    connection.close()
    db.bind(None)


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    """A request-less app context (for calling services directly)."""
    with app.test_request_context():
        yield


# --- factories ---------------------------------------------------------------------------


@pytest.fixture
def system(app: Flask) -> Actor:
    """The hub's own operator."""
    return Actor.system("test")


_counter = iter(range(1_000_000))


@pytest.fixture
def make_org(app: Flask, system: Actor):
    """Create an organisation: make_org(kind="university", **overrides)."""

    def factory(kind: str = "university", **overrides: Any) -> Organisation:
        n = next(_counter)
        data = {
            "name": f"Test {kind.replace('_', ' ').title()} {n}",
            "slug": f"test-{kind.replace('_', '-')}-{n}",
            "kind": kind,
            "region": "Testshire",
            "dp_contact_name": "Test Contact",
            "dp_contact_email": f"dpo{n}@test-org.example",
        }
        data.update(overrides)
        return services.create_organisation(system, data)

    return factory


@pytest.fixture
def make_person(app: Flask, system: Actor):
    """Create a person who can sign in: make_person(org, roles=[...], mfa=True, **overrides)."""

    def factory(
        organisation: Organisation,
        roles: list[str] | None = None,
        *,
        mfa: bool = True,
        password: str = TEST_PASSWORD,
        **overrides: Any,
    ) -> Person:
        n = next(_counter)
        data = {
            "name": f"Person {n}",
            "email": f"person{n}@test-org.example",
            "roles": roles or ["events_officer"],
        }
        data.update(overrides)
        person = services.create_person(system, organisation, data).person
        person.password_hash = signin.hash_password(password)
        if mfa:
            signin.set_totp_secret(person, pyotp.random_base32())
        db.session.flush()
        return person

    return factory


@pytest.fixture
def answer_advisory(make_org, make_person):
    """Ask, route and answer an advisory request through the services, as the three parties
    do: answer_advisory(asker, speaker, police_lead, rating="amber", rationale="...") returns
    the request (its `rating` is the police's). The region's coordinator is the one the hub
    would choose (made if the region has none)."""
    from hub.records.advisory import services as advisory

    def factory(
        asker: Person,
        speaker: Any,
        police_lead: Person,
        *,
        rating: str = "amber",
        rationale: str = "Protests at two venues.",
        expires_in_days: int = 180,
    ) -> Any:
        region = asker.organisation.region
        coordinator_org = db.session.scalar(
            sa.select(Organisation).where(
                Organisation.kind == "regional_coordinator", Organisation.region == region
            )
        )
        if coordinator_org is None:
            make_org(kind="regional_coordinator", region=region)
        request = advisory.submit_request(
            actor_of(asker), {"speaker_id": str(speaker.id), "question": "Anything known?"}
        )
        coordinator = make_person(
            db.session.get(Organisation, request.coordinator_org_id), ["coordinator"]
        )
        advisory.route_request(
            actor_of(coordinator),
            request,
            {"police_org_id": str(police_lead.organisation_id), "routing_note": "For you."},
        )
        expires = advisory.local_today() + timedelta(days=expires_in_days)
        advisory.answer_request(
            actor_of(police_lead),
            request,
            {"rating": rating, "rationale": rationale, "expires_on": expires.isoformat()},
        )
        return request

    return factory


def actor_of(person: Person) -> Actor:
    """The Actor a person acts as once signed in."""
    return signin.actor_for(person)


# --- the audit log, as tests read it -----------------------------------------------------


def audit_entries(action: str, since: int = 0, outcome: str | None = None) -> list[AuditEntry]:
    """Entries with `action` (and `outcome`, if given) written after sequence number `since`,
    oldest first."""
    query = sa.select(AuditEntry).where(AuditEntry.action == action, AuditEntry.seq > since)
    if outcome is not None:
        query = query.where(AuditEntry.outcome == outcome)
    return list(db.session.scalars(query.order_by(AuditEntry.seq)))


def last_seq() -> int:
    """The newest audit sequence number (to find what a step wrote)."""
    return db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0


# --- clients -----------------------------------------------------------------------------


CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_PATTERN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def page_html(response: Any) -> str:
    """A page's HTML with its CSRF tokens blanked: a token is signed with the second it was
    made, so two otherwise identical pages differ when a second ticks between them."""
    return re.sub(r'(name="csrf_token" value=")[^"]*"', r'\1"', response.get_data(as_text=True))


def next_totp_code(person: Person) -> str:
    """A code the hub will accept now: each time step is accepted only once per person."""
    fresh = db.session.scalar(
        sa.select(Person).where(Person.id == person.id).execution_options(populate_existing=True)
    )
    totp = pyotp.TOTP(signin.totp_secret(fresh))
    now = totp.timecode(datetime.now(UTC))
    step = now if fresh.totp_last_step is None else max(now - 1, fresh.totp_last_step + 1)
    assert step <= now + 1, "more than two sign-ins in one 30-second window"
    return totp.generate_otp(step)


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own `g` and database session), as in
    production, even though the test itself holds one open for its factories."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


class HubClient:
    """A test client that fills in forms the way a browser would (with their CSRF token)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """A raw POST (no CSRF token added)."""
        return self.client.post(path, **kwargs)

    def submit(
        self, page: str, data: dict[str, Any], action: str | None = None, **kwargs: Any
    ) -> Any:
        """GET `page`, take its CSRF token, POST `data` to `action` (default: the page)."""
        response = self.client.get(page)
        token = csrf_from(response.get_data(as_text=True))
        return self.client.post(action or page, data={"csrf_token": token, **data}, **kwargs)

    def sign_in(self, person: Person, password: str = TEST_PASSWORD) -> Any:
        """Sign in through the real pages: password, then the TOTP code."""
        response = self.submit("/sign-in", {"email": person.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        if response.headers["Location"].startswith("/sign-in/code"):
            response = self.submit("/sign-in/code", {"code": next_totp_code(person)})
            assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return response

    def sign_out(self) -> Any:
        return self.submit("/account", {}, action="/sign-out")

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the JSON API with this client's session (adding the CSRF header for writes)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if method.upper() not in {"GET", "HEAD", "OPTIONS"}:
            match = CSRF_PATTERN.search(self.client.get("/account").get_data(as_text=True))
            if match:  # signed in: a session-cookie write needs the token, as from a page
                headers.setdefault("X-CSRFToken", match.group(1))
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)


class IsolatedCliRunner(FlaskCliRunner):
    """Each command gets its own app context and session, as when run from a shell."""

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        with self.app.app_context():
            return super().invoke(*args, **kwargs)


@pytest.fixture
def cli(app: Flask) -> IsolatedCliRunner:
    """Run `flask` commands against the test database."""
    return IsolatedCliRunner(app)


@pytest.fixture
def client(app: Flask) -> HubClient:
    """A fresh browser-like client."""
    return HubClient(app.test_client())


@pytest.fixture
def new_client(app: Flask):
    """Make further independent clients (several people signed in at once)."""
    return lambda: HubClient(app.test_client())
