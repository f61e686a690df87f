"""Registering and managing partner clients: keys, scopes, DPoP binding, revocation."""

from __future__ import annotations

import json
import secrets
from typing import Any

import sqlalchemy as sa
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from audit import services as audit
from audit.actions import OAUTH_CLIENT_CREATE, OAUTH_CLIENT_READ, OAUTH_CLIENT_ROTATE
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.security import Actor
from core.validation import Checker
from partners import outbound, permissions, signin
from partners.models import ClientAuthMethod, OAuthClient, Organisation, Status
from partners.oauth.scopes import SCOPES, allowed_for

MAX_KEYS = 5


def _deny(
    action: str, detail: str, organisation: Organisation, client: OAuthClient | None = None
) -> PermissionDenied:
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={
            "action": action,
            "resource_type": "oauth_client",
            "resource_ids": [client.client_id] if client else [],
            "resource_org": str(organisation.id),
        },
    )


def _refs(client: OAuthClient) -> dict[str, Any]:
    return {
        "resource_type": "oauth_client",
        "resource_ids": [client.client_id],
        "resource_org": str(client.organisation_id),
    }


def check_jwks(check: Checker, key: str, value: Any) -> dict[str, Any] | None:
    """A client's public keys: a JWKS of Ed25519 or P-256 public keys, each with a `kid`."""
    if value in (None, "", {}):
        return None
    try:
        data = json.loads(value) if isinstance(value, str) else value
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list) or not keys:
            raise ValueError("a JWKS is an object with a non-empty 'keys' list")
        if len(keys) > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} keys")
        kids = set()
        for item in keys:
            if not isinstance(item, dict):
                raise ValueError("each key must be an object")
            if any(name in item for name in ("d", "p", "q", "k")):
                raise ValueError("the JWKS contains private key material: send public keys only")
            if not (item.get("kty") == "OKP" and item.get("crv") == "Ed25519") and not (
                item.get("kty") == "EC" and item.get("crv") == "P-256"
            ):
                raise ValueError("keys must be Ed25519 (EdDSA) or P-256 (ES256)")
            if not item.get("kid"):
                raise ValueError("every key needs a kid")
            if item["kid"] in kids:
                raise ValueError(f"the kid {item['kid']!r} appears twice")
            kids.add(item["kid"])
        KeySet.import_key_set({"keys": keys})
    except (ValueError, TypeError, JoseError) as exc:
        check.add(key, f"Give the client's public keys as a JWKS: {exc}.")
        return None
    return {"keys": keys}


def check_jwks_uri(check: Checker, key: str, allow_http_loopback: bool) -> str | None:
    """A URL where the client publishes its keys: https, never a private network's address in
    any form (plain http, and this machine, only in development and tests), the rule webhook
    addresses follow (`partners.outbound`)."""
    return (
        outbound.check_url(
            check,
            key,
            "the address of the client's keys",
            example="https://systems.example.ac.uk/jwks.json",
            allow_loopback=allow_http_loopback,
            required=False,
        )
        or None
    )


def _check_scopes(check: Checker, organisation: Organisation, value: Any) -> list[str]:
    requested = check.strings("scopes", "scopes", max_items=len(SCOPES))
    allowed = allowed_for(organisation.kind.value)
    for scope in requested:
        if scope not in SCOPES:
            check.add("scopes", f"'{scope}' is not a scope ({', '.join(sorted(SCOPES))}).")
        elif scope not in allowed:
            check.add(
                "scopes", f"A {organisation.kind.value} organisation's clients cannot hold {scope}."
            )
    if not requested:
        check.add("scopes", "Choose at least one scope.")
    return sorted(set(requested) & allowed)


def register_client(
    actor: Actor, organisation: Organisation, data: dict[str, Any]
) -> tuple[OAuthClient, str | None]:
    """Register a partner system for `organisation`; returns the client and, only for a
    client_secret_basic client, its secret (shown once)."""
    if not permissions.can_manage_people(actor, organisation):
        raise _deny(
            "oauth_client.create",
            "Only the organisation's administrators can register clients.",
            organisation,
        )
    check = Checker(data)
    name = check.text("name", "the client's name")
    method = (
        check.choice(
            "auth_method", ClientAuthMethod, "how the client authenticates", required=False
        )
        or ClientAuthMethod.PRIVATE_KEY_JWT
    )
    jwks = check_jwks(check, "jwks", data.get("jwks"))
    jwks_uri = check_jwks_uri(check, "jwks_uri", current_app.config["HUB_SETTINGS"].is_development)
    if (
        method == ClientAuthMethod.PRIVATE_KEY_JWT
        and not (jwks or jwks_uri)
        and check.ok("jwks", "jwks_uri")
    ):
        check.add("jwks", "Give the client's public keys (a JWKS) or the address of its keys.")
    if jwks and jwks_uri:
        check.add("jwks_uri", "Give the keys or their address, not both.")
    scopes = _check_scopes(check, organisation, data.get("scopes"))
    dpop_bound = check.boolean("dpop_bound", "DPoP")
    check.raise_if_any()
    if not organisation.is_active:
        raise Conflict("The organisation is suspended.")
    secret = None
    client = OAuthClient(
        client_id="hubc_" + secrets.token_urlsafe(18),
        organisation_id=organisation.id,
        name=name,
        auth_method=method,
        jwks=jwks,
        jwks_uri=jwks_uri,
        scopes=" ".join(scopes),
        dpop_bound=dpop_bound,
        status=Status.ACTIVE,
        created_by_id=actor.person_id,
    )
    if method == ClientAuthMethod.CLIENT_SECRET_BASIC:
        secret = secrets.token_urlsafe(32)
        client.secret_hash = signin.password_hasher().hash(secret)
    db.session.add(client)
    db.session.flush()
    audit.record(
        actor,
        OAUTH_CLIENT_CREATE,
        "granted",
        **_refs(client),
        scopes=scopes,
        auth_method=method.value,
        dpop=str(dpop_bound).lower(),
    )
    return client, secret


def get_client(actor: Actor, client_id: str) -> OAuthClient:
    """A client of the actor's organisation (hub administrators see all)."""
    client = db.session.scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise NotFound("There is no such client.")
    if not permissions.can_view_people(actor, client.organisation):
        raise NotFound(
            "There is no such client.",
            reason="not_owner",
            audit={"action": OAUTH_CLIENT_READ, **_refs(client)},
        )
    return client


def list_clients(actor: Actor, organisation: Organisation) -> list[OAuthClient]:
    """An organisation's clients, for its own people."""
    if not permissions.can_view_people(actor, organisation):
        raise _deny(
            "oauth_client.list", "You cannot see another organisation's clients.", organisation
        )
    return list(
        db.session.scalars(
            sa.select(OAuthClient)
            .where(OAuthClient.organisation_id == organisation.id)
            .order_by(OAuthClient.name)
        )
    )


def rotate_keys(actor: Actor, client: OAuthClient, data: dict[str, Any]) -> OAuthClient:
    """Replace a client's public keys (old assertions stop verifying at once)."""
    if not permissions.can_manage_people(actor, client.organisation):
        raise _deny(
            "oauth_client.rotate",
            "Only the organisation's administrators can rotate keys.",
            client.organisation,
            client,
        )
    check = Checker(data)
    jwks = check_jwks(check, "jwks", data.get("jwks"))
    if jwks is None and check.ok("jwks"):
        check.add("jwks", "Give the client's new public keys (a JWKS).")
    check.raise_if_any()
    client.jwks = jwks
    client.jwks_uri = None
    db.session.flush()
    audit.record(
        actor,
        OAUTH_CLIENT_ROTATE,
        "granted",
        **_refs(client),
        keys=len(jwks["keys"]) if jwks else 0,
    )
    return client


def set_status(actor: Actor, client: OAuthClient, status: Status) -> OAuthClient:
    """Revoke (suspend) or reinstate a client; its tokens stop working on the next request, and
    reinstating it does not bring them back (only tokens issued afterwards work)."""
    action = "oauth_client.revoke" if status == Status.SUSPENDED else "oauth_client.reinstate"
    if not permissions.can_manage_people(actor, client.organisation):
        raise _deny(
            action,
            "Only the organisation's administrators can do this.",
            client.organisation,
            client,
        )
    client.status = status
    if status == Status.SUSPENDED:
        client.revoked_at = utcnow()
    db.session.flush()
    audit.record(actor, action, "granted", **_refs(client))
    return client
