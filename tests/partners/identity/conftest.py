"""Fixtures: two real OpenID providers (sharing signing keys, as tenants of one service do),
organisations that trust the first, and helpers to walk a sign-in through both sides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from joserfc.jwk import ECKey, RSAKey

from audit.models import AuditEntry
from core.db import db
from partners.identity import services
from partners.identity.views import CALLBACK_PATH
from tests.partners.identity.oidc_provider import log_in_at_provider, running_provider

DOMAIN = "fellwater.example"
PASSWORD = "provider-password-1"
CLIENT_ID = "prevent-hub"
CLIENT_SECRET = "a-long-client-secret-for-the-test-provider"
KEY_CLIENT_ID = "prevent-hub-key"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "mfa": {"email": f"mfa.user@{DOMAIN}", "amr": ["pwd", "otp"], "name": "Mina Factor"},
    "pwd": {"email": f"pwd.user@{DOMAIN}", "amr": ["pwd"], "name": "Pat Word"},
    "existing": {"email": f"Existing.User@{DOMAIN}", "amr": ["pwd"]},
    "expired": {"email": f"late.user@{DOMAIN}", "amr": ["mfa"], "id_token_ttl": -600},
    "outsider": {"email": "someone@elsewhere.example", "amr": ["mfa"]},
    "shared": {"email": "alice@shared.example", "amr": ["mfa"]},
    "lead": {"email": f"lead@{DOMAIN}", "amr": ["mfa"], "groups": ["prevent-team", "staff"]},
}


@dataclass
class Providers:
    """The provider the organisation trusts (`trusted`), another one (`other`), and the
    hub's private key registered with `trusted` for private_key_jwt."""

    trusted: str
    other: str
    hub_key: dict[str, Any]


def _config(redirect_uri: str, jwks: dict[str, Any], hub_public: dict[str, Any]) -> dict:
    accounts = {name: {**account, "password": PASSWORD} for name, account in ACCOUNTS.items()}
    return {
        "port": 0,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [redirect_uri],
            },
            {
                "client_id": KEY_CLIENT_ID,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [hub_public]},
                "redirect_uris": [redirect_uri],
            },
        ],
        "accounts": accounts,
        "jwks": jwks,
    }


@pytest.fixture(scope="module")
def providers(app) -> Iterator[Providers]:
    """Two provider processes for the module; the same signing key, different issuers."""
    redirect_uri = app.config["HUB_SETTINGS"].base_url.rstrip("/") + CALLBACK_PATH
    signing = RSAKey.generate_key(2048, private=True)
    jwks = {"keys": [{**signing.as_dict(private=True), "kid": "shared-1", "alg": "RS256"}]}
    hub_key = ECKey.generate_key("P-256", private=True)
    hub_private = {**hub_key.as_dict(private=True), "kid": "hub-1"}
    hub_public = {**hub_key.as_dict(private=False), "kid": "hub-1"}
    config = _config(redirect_uri, jwks, hub_public)
    with running_provider(config) as trusted, running_provider(config) as other:
        yield Providers(trusted.issuer, other.issuer, hub_private)


@pytest.fixture
def callback_prefix(app) -> str:
    return app.config["HUB_SETTINGS"].base_url.rstrip("/") + CALLBACK_PATH


@pytest.fixture
def trusting_org(make_org, system, providers):
    """An organisation that trusts the `trusted` provider for fellwater.example addresses."""

    def factory(**overrides: Any):
        org = make_org(kind="university")
        data = {
            "issuer": providers.trusted,
            "client_id": CLIENT_ID,
            "client_auth_method": "client_secret_basic",
            "client_secret": CLIENT_SECRET,
            "allowed_domains": DOMAIN,
            "role_policy": "hub",
        }
        data.update(overrides)
        services.configure_provider(system, org, data)
        db.session.flush()
        return org

    return factory


@dataclass
class Flow:
    """One sign-in walked through: the hub's redirect, the provider, the hub's callback."""

    authorization_url: str
    callback_url: str = ""

    @property
    def callback_path(self) -> str:
        parts = urlsplit(self.callback_url)
        return f"{parts.path}?{parts.query}"


@pytest.fixture
def sign_in_with_provider(callback_prefix):
    """Start at the hub with an email, log in at the provider, return the Flow (callback not
    yet delivered). `tamper` may change the authorization URL first (as an attacker could)."""

    def walk(client, account: str, *, tamper=None, email: str | None = None) -> Flow:
        address = email or ACCOUNTS[account]["email"]
        response = client.submit("/sign-in/organisation", {"email": address})
        assert response.status_code == 302, response.get_data(as_text=True)[:3000]
        flow = Flow(response.headers["Location"])
        url = tamper(flow.authorization_url) if tamper else flow.authorization_url
        flow.callback_url = log_in_at_provider(
            url, ACCOUNTS[account]["email"], PASSWORD, stop_at=callback_prefix
        )
        return flow

    return walk


def entries(action: str, *, after: int = 0) -> list[AuditEntry]:
    """Audit entries for `action`, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
        )
    )


def last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0


def details(entry: AuditEntry) -> dict[str, Any]:
    return json.loads(entry.details) if entry.details else {}
