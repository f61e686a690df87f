"""API rate limits per partner client: a token's client has its own budget wherever it calls
from, anything else is counted by address, and going over answers 429 as a problem document
with Retry-After.

These tests build an app of their own with rate limiting on and a tiny limit (the suite's app
has it off), on a database of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from hub.core import migrations
from hub.core.db import db
from hub.core.extensions import limiter as shared_limiter
from hub.core.security import Actor
from partners import services
from partners.oauth import clients, rate_limits
from tests.conftest import app_config, dispose_database, fresh_database_url
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
        application.extensions["hub_db_engine"].dispose()
        dispose_database(database_server, url)


@pytest.fixture
def api(limited_app) -> Iterator[Any]:
    """A test client with a fresh budget for everyone."""
    limited_app.extensions[rate_limits.EXTENSION].reset()
    with limited_app.app_context():
        yield limited_app.test_client()
        db.session.remove()


_count = iter(range(1_000_000))


def _token(api, scopes: str = "speakers:read") -> dict[str, str]:
    """A new client of a new organisation, and a bearer token for it."""
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
    oauth_client, _ = clients.register_client(
        operator,
        organisation,
        {"name": "Events system", "jwks": jwks_of(key), "scopes": scopes.split()},
    )
    db.session.commit()
    response = api.post("/oauth/token", data=token_form(oauth_client.client_id, key))
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['access_token']}"}


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
