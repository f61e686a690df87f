"""Building what a partner system sends: keys, client assertions, DPoP proofs."""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

from partners.oauth.dpop import access_token_hash

ISSUER = "http://127.0.0.1:8000"


def new_key(kind: str = "Ed25519") -> ECKey | OKPKey:
    """A client key pair: Ed25519 (EdDSA) or P-256 (ES256)."""
    key = OKPKey.generate_key("Ed25519") if kind == "Ed25519" else ECKey.generate_key("P-256")
    key.ensure_kid()
    return key


def alg_of(key: ECKey | OKPKey) -> str:
    return "EdDSA" if isinstance(key, OKPKey) else "ES256"


def jwks_of(*keys: ECKey | OKPKey) -> dict[str, Any]:
    """The public JWKS a client registers."""
    return {"keys": [{**k.as_dict(private=False), "kid": k.kid} for k in keys]}


def assertion(
    client_id: str,
    key: ECKey | OKPKey,
    *,
    aud: str | list[str] = ISSUER,
    lifetime: int = 60,
    iat: float | None = None,
    jti: str | None = None,
    **extra: Any,
) -> str:
    """A private_key_jwt client assertion (RFC 7523)."""
    now = int(iat if iat is not None else time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or uuid.uuid4().hex,
        **extra,
    }
    return jwt.encode({"alg": alg_of(key), "kid": key.kid}, claims, key, algorithms=[alg_of(key)])


def dpop_proof(
    key: ECKey | OKPKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
    nonce: str | None = None,
    **extra: Any,
) -> str:
    """A DPoP proof (RFC 9449)."""
    claims: dict[str, Any] = {
        "jti": jti or uuid.uuid4().hex,
        "htm": method,
        "htu": url,
        "iat": int(iat if iat is not None else time.time()),
        **extra,
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": alg_of(key), "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=[alg_of(key)])


def token_form(
    client_id: str, key: ECKey | OKPKey, scope: str | None = None, **assertion_options: Any
) -> dict[str, str]:
    """The token request body for client credentials with private_key_jwt."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(client_id, key, **assertion_options),
    }
    if scope:
        form["scope"] = scope
    return form


def register_partner(organisation: Any, admin: Any, scopes: str, **data: Any) -> tuple[Any, Any]:
    """Register a private_key_jwt client of `organisation` (by its administrator `admin`, a
    Person) holding `scopes`; returns the client and its private key. Flushes, never commits."""
    from core.db import db
    from partners import signin
    from partners.oauth import clients

    key = new_key()
    client, _ = clients.register_client(
        signin.actor_for(admin),
        organisation,
        {"name": f"System {uuid.uuid4().hex[:6]}", "jwks": jwks_of(key), "scopes": scopes.split()}
        | data,
    )
    db.session.flush()
    return client, key


def bearer_token(http: Any, client_id: str, key: ECKey | OKPKey, scope: str | None = None) -> str:
    """An access token from the hub's real token endpoint (`http`: a Flask test client)."""
    response = http.post("/oauth/token", data=token_form(client_id, key, scope))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["access_token"]
