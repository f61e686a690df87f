"""API rate limits per partner client: a token's client has its own budget wherever it calls
from, anything else is counted by address, and going over answers 429 as a problem document
with Retry-After.

These tests build an app of their own with rate limiting on and a tiny limit (the suite's app
has it off), on a database of their own.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from audit.models import AuditEntry
from core import migrations
from core.db import db
from core.extensions import limiter as shared_limiter
from core.security import Actor
from partners import services
from partners.oauth import clients, rate_limits
from tests.conftest import (
    app_config,
    clear_of_a_window_end,
    close_app,
    dispose_database,
    fresh_database_url,
)
from tests.oauth_helpers import jwks_of, new_key, token_form

LIMIT = 3


@pytest.fixture(scope="module")
def limited_app(database_server, tmp_path_factory) -> Iterator[Flask]:
    """An app whose API allows LIMIT calls a minute per client."""
    from hub.app import create_app

    # The shared limiter is one object for every app in the process; give it back as it was,
    # so that the suite's own app stays unlimited after this module.
    saved = (shared_limiter.enabled, shared_limiter.initialized)
    base = tmp_path_factory.mktemp("limits")
    url = fresh_database_url(database_server, base, "limits")
    application = create_app(
        app_config(
            url,
            base / "instance",
            RATELIMIT_ENABLED=True,
            api_rate_limit=f"{LIMIT} per minute",
            oauth_rate_limit=f"{LIMIT} per minute",
            ratelimit_storage_uri="memory://",
        )
    )
    rate_limits.init_app(application)  # idempotent once the app factory calls it itself
    with application.app_context():
        migrations.upgrade(url)
    try:
        yield application
    finally:
        shared_limiter.enabled, shared_limiter.initialized = saved
        db.session.remove()
        close_app(application)
        dispose_database(database_server, url)


@pytest.fixture
def api(limited_app) -> Iterator[Any]:
    """A test client with a fresh budget for everyone, in a window that does not end within
    the test's count."""
    clear_of_a_window_end()
    limited_app.extensions[rate_limits.EXTENSION].reset()
    shared_limiter.reset()  # the authorization server's budgets
    with limited_app.app_context():
        yield limited_app.test_client()
        db.session.remove()


_count = iter(range(1_000_000))


def _token(api, scopes: str = "speakers:read") -> dict[str, str]:
    """A new client of a new organisation, and a bearer token for it."""
    oauth_client, key, _secret = _client(scopes)
    response = api.post("/oauth/token", data=token_form(oauth_client.client_id, key))
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def _client(scopes: str = "speakers:read", **data: Any) -> tuple[Any, Any, str | None]:
    """A new client of a new organisation (committed): the client, its key and, for a
    client_secret_basic client, its secret."""
    n = next(_count)
    operator = Actor.system("test")
    organisation = services.create_organisation(
        operator,
        {
            "name": f"Rate Limit University {n}",
            "slug": f"rate-limit-{n}",
            "kind": "university",
            "region": "Testshire",
            "dp_contact_name": "Test Contact",
            "dp_contact_email": f"dpo{n}@rate-limit.example",
        },
    )
    key = new_key()
    oauth_client, secret = clients.register_client(
        operator,
        organisation,
        {"name": "Events system", "jwks": jwks_of(key), "scopes": scopes.split(), **data},
    )
    db.session.commit()
    return oauth_client, key, secret


def test_a_client_over_its_limit_gets_429_with_retry_after_as_a_problem(api):
    headers = _token(api)
    for _ in range(LIMIT):
        ok = api.get("/api/v1/me", headers=headers)
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Limit"] == str(LIMIT)
    response = api.get("/api/v1/me", headers=headers)
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["status"] == 429
    assert problem["type"].endswith("/too-many-requests")
    assert problem["title"] == "Too Many Requests"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_each_client_has_its_own_budget_from_the_same_address(api):
    first, second = _token(api), _token(api)
    for _ in range(LIMIT):
        assert api.get("/api/v1/me", headers=first).status_code == 200
    assert api.get("/api/v1/me", headers=first).status_code == 429
    assert api.get("/api/v1/me", headers=second).status_code == 200


def test_a_client_keeps_its_budget_whatever_address_it_calls_from(api):
    headers = _token(api)
    for n in range(LIMIT):
        address = {"REMOTE_ADDR": f"192.0.2.{n + 1}"}
        assert api.get("/api/v1/me", headers=headers, environ_base=address).status_code == 200
    refused = api.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.99"})
    assert refused.status_code == 429


def test_the_limit_is_shared_by_every_api_endpoint(api):
    headers = _token(api, "notifications:read audit:verify")
    assert api.get("/api/v1/me", headers=headers).status_code == 200
    assert api.get("/api/v1/notifications", headers=headers).status_code == 200
    assert api.get("/api/v1/audit/checkpoint", headers=headers).status_code == 200
    assert api.get("/api/v1/notifications", headers=headers).status_code == 429


def test_calls_without_a_token_are_counted_by_address(api):
    here, there = {"REMOTE_ADDR": "198.51.100.7"}, {"REMOTE_ADDR": "198.51.100.8"}
    for _ in range(LIMIT):
        assert api.get("/api/v1/me", environ_base=here).status_code == 401
    limited = api.get("/api/v1/me", environ_base=here)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert "Retry-After" in limited.headers
    assert api.get("/api/v1/me", environ_base=there).status_code == 401


def test_pages_and_the_token_endpoint_are_not_under_the_api_limit(api):
    for _ in range(LIMIT + 2):
        assert api.get("/sign-in").status_code == 200
        assert api.get("/.well-known/oauth-authorization-server").status_code == 200


def test_the_limit_follows_the_setting(api, limited_app, monkeypatch):
    monkeypatch.setattr(limited_app.config["HUB_SETTINGS"], "api_rate_limit", "1 per minute")
    headers = _token(api)
    assert api.get("/api/v1/me", headers=headers).status_code == 200
    assert api.get("/api/v1/me", headers=headers).status_code == 429


def test_init_app_is_idempotent(limited_app):
    before = list(limited_app.before_request_funcs[None])
    assert rate_limits.init_app(limited_app) is limited_app.extensions[rate_limits.EXTENSION]
    assert limited_app.before_request_funcs[None] == before


def test_the_check_runs_after_token_authentication(limited_app):
    from partners.oauth import resource

    hooks = limited_app.before_request_funcs[None]
    limiter = limited_app.extensions[rate_limits.EXTENSION]
    positions = [i for i, hook in enumerate(hooks) if getattr(hook, "__self__", None) is limiter]
    assert positions, "the API limiter is not checking requests"
    assert hooks.index(resource.authenticate_api_request) < positions[0]


# --- the authorization server's endpoints ------------------------------------------------------


def _address(n: int) -> dict[str, str]:
    return {"REMOTE_ADDR": f"203.0.113.{n % 250 + 1}"}


def _assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith("/too-many-requests")
    assert 0 < int(response.headers["Retry-After"]) <= 60


def _throttle_entries(action: str = "oauth.token") -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.reason == "rate_limited")
            .order_by(AuditEntry.seq)
        )
    )


def test_token_requests_are_limited_per_client_wherever_they_come_from(api):
    oauth_client, key, _ = _client()
    for n in range(LIMIT):
        form = token_form(oauth_client.client_id, key)
        assert api.post("/oauth/token", data=form, environ_base=_address(n)).status_code == 200
    form = token_form(oauth_client.client_id, key)
    _assert_throttled(api.post("/oauth/token", data=form, environ_base=_address(99)))


def test_token_requests_are_limited_per_address_whatever_ids_they_claim(api):
    here, there = _address(1), _address(2)
    for n in range(LIMIT):
        form = {"grant_type": "client_credentials", "client_id": f"hubc_guess{n}"}
        assert api.post("/oauth/token", data=form, environ_base=here).status_code in (400, 401)
    form = {"grant_type": "client_credentials", "client_id": "hubc_guess-next"}
    _assert_throttled(api.post("/oauth/token", data=form, environ_base=here))
    assert api.post("/oauth/token", data=form, environ_base=there).status_code != 429


def test_a_secret_guess_over_the_limit_is_refused_before_it_is_checked(api):
    oauth_client, _key, secret = _client(auth_method="client_secret_basic", jwks=None)
    form = {"grant_type": "client_credentials"}

    def basic(password: str) -> dict[str, str]:
        raw = f"{oauth_client.client_id}:{password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    for n in range(LIMIT):
        guess = api.post(
            "/oauth/token", data=form, headers=basic(f"guess{n}"), environ_base=_address(n)
        )
        assert guess.status_code == 401
    # Throttled before the secret is looked at: even the right one waits.
    right = api.post("/oauth/token", data=form, headers=basic(secret), environ_base=_address(50))
    _assert_throttled(right)


def test_revocation_and_introspection_share_the_token_endpoints_budget(api):
    oauth_client, key, _ = _client()
    token = api.post("/oauth/token", data=token_form(oauth_client.client_id, key)).json
    credentials = {
        k: v for k, v in token_form(oauth_client.client_id, key).items() if k != "grant_type"
    }
    for n in range(1, LIMIT):
        introspect = {
            **credentials,
            "client_assertion": token_form(oauth_client.client_id, key)["client_assertion"],
            "token": token["access_token"],
        }
        response = api.post("/oauth/introspect", data=introspect, environ_base=_address(n))
        assert response.status_code == 200, response.get_data(as_text=True)
    revoke = {**credentials, "token": token["access_token"]}
    _assert_throttled(api.post("/oauth/revoke", data=revoke, environ_base=_address(60)))
    _assert_throttled(api.post("/oauth/introspect", data=revoke, environ_base=_address(61)))


def test_refusals_are_audited_once_per_window_with_the_count_left_unrecorded(
    api, limited_app, monkeypatch
):
    monkeypatch.setattr(limited_app.config["HUB_SETTINGS"], "oauth_rate_limit", "2 per 2 second")
    oauth_client, key, _ = _client()
    before = len(_throttle_entries())

    addresses = iter(range(1_000))

    def ask() -> int:  # each from an address of its own: only the client's budget counts
        form = token_form(oauth_client.client_id, key)
        return api.post(
            "/oauth/token", data=form, environ_base=_address(next(addresses))
        ).status_code

    assert [ask() for _ in range(6)] == [200, 200, 429, 429, 429, 429]
    [first] = _throttle_entries()[before:]
    assert first.outcome == "denied" and json.loads(first.resource_ids) == [oauth_client.client_id]
    details = json.loads(first.details)
    assert details["keyed_by"] == "client" and details["refused_unrecorded"] == 0
    assert details["limit"] == "2 per 2 second"
    deadline = time.monotonic() + 5
    while ask() == 429:  # until the next window
        assert time.monotonic() < deadline, "the window never ended"
        time.sleep(0.1)
    while ask() != 429:
        pass
    entries = _throttle_entries()[before:]
    assert len(entries) == 2
    assert json.loads(entries[1].details)["refused_unrecorded"] >= 3


def _api_refusals() -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == "api.access", AuditEntry.reason == "rate_limited")
            .order_by(AuditEntry.seq)
        )
    )


def _next_window(seconds: int) -> None:
    """Wait for the start of the next window of `seconds` (windows are aligned to the clock)."""
    time.sleep(seconds - time.time() % seconds + 0.05)


def test_api_refusals_are_audited_once_per_window_with_the_count_left_unrecorded(
    api, limited_app, monkeypatch
):
    monkeypatch.setattr(limited_app.config["HUB_SETTINGS"], "api_rate_limit", "2 per 3 second")
    oauth_client, key, _ = _client()
    client_id = oauth_client.client_id
    token = api.post("/oauth/token", data=token_form(client_id, key)).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    before = len(_api_refusals())

    def ask() -> int:
        return api.get("/api/v1/me", headers=headers).status_code

    _next_window(3)
    assert [ask() for _ in range(6)] == [200, 200, 429, 429, 429, 429]
    [first] = _api_refusals()[before:]
    assert first.outcome == "denied" and json.loads(first.resource_ids) == [client_id]
    assert first.actor == f"client:{client_id}"
    details = json.loads(first.details)
    assert details["keyed_by"] == "client" and details["refused_unrecorded"] == 0
    assert details["limit"] == "2 per 3 second" and details["path"] == "/api/v1/me"

    _next_window(3)
    assert [ask() for _ in range(3)] == [200, 200, 429]
    entries = _api_refusals()[before:]
    assert len(entries) == 2
    # The three refusals after the first one of the last window were counted, not recorded.
    assert json.loads(entries[1].details)["refused_unrecorded"] == 3


def test_api_refusals_of_callers_without_a_token_are_audited_by_address(api, limited_app):
    before = len(_api_refusals())
    here = {"REMOTE_ADDR": "198.51.100.77"}
    answers = [api.get("/api/v1/me", environ_base=here).status_code for _ in range(LIMIT + 2)]
    assert answers[-2:] == [429, 429]
    [entry] = _api_refusals()[before:]
    assert json.loads(entry.details)["keyed_by"] == "address"
    assert entry.actor == "anonymous" and not json.loads(entry.resource_ids or "[]")


def test_with_redis_away_each_process_counts_on_its_own_and_answers(
    api, limited_app, monkeypatch, caplog
):
    from core.budgets import Budgets

    unreachable = Budgets("redis://127.0.0.1:9/0", prefix="hub-api")  # nothing listens there
    monkeypatch.setattr(limited_app.extensions[rate_limits.EXTENSION], "budgets", unreachable)
    headers = _token(api)
    answers = [api.get("/api/v1/me", headers=headers) for _ in range(LIMIT + 1)]
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    assert answers[0].headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
    assert "counting in this process" in caplog.text
