"""The authorization server (Authlib), set to the FAPI 2.0 / RFC 9700 bar rather than its
defaults: client credentials only; private_key_jwt (EdDSA or ES256, `aud` the issuer, `jti`
single-use, five minutes at most); five-minute RFC 9068 JWT access tokens signed by the hub;
DPoP-bound tokens for clients registered as such; no refresh tokens."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import cachetools
import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidScopeError,
    OAuth2Error,
    grants,
)
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, current_app, g, has_request_context
from flask import request as http_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from audit import services as audit
from audit.actions import OAUTH_REVOKE, OAUTH_TOKEN
from core.db import db, utcnow
from core.security import Actor, ActorKind
from partners import outbound
from partners import signing_keys as keys
from partners.models import ClientAuthMethod, OAuthClient, RevokedToken, UsedJti
from partners.oauth import replay, standing
from partners.oauth.scopes import SCOPES, allowed_for
from partners.oauth.standing import ClientStanding

CLIENT_ALGORITHMS = ["ES256", "EdDSA", "Ed25519"]
MAX_ASSERTION_LIFETIME = 300  # seconds
AUTH_METHODS = [m.value for m in ClientAuthMethod]
JWKS_CACHE_SECONDS = 300
JWKS_FETCH_SECONDS = 5.0
JWKS_MAX_BYTES = 64 * 1024
#: Access tokens whose signature a worker remembers having checked (see `_verified`).
VERIFIED_TOKENS = 4096

_jwks_cache: dict[str, tuple[float, dict[str, Any]]] = {}
log = logging.getLogger(__name__)


def issuer() -> str:
    """The authorization server's issuer identifier: the hub's base URL."""
    return current_app.config["HUB_SETTINGS"].base_url.rstrip("/")


def api_audience() -> str:
    """The `aud` of every access token: the hub's API."""
    return issuer() + "/api"


class Client(ClientMixin):
    """Authlib's view of a registered partner client."""

    def __init__(self, model: ClientStanding) -> None:
        self.model = model

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        # Never more than the client holds, nor than its organisation's kind allows today.
        held = self.model.scope_set & allowed_for(self.model.organisation.kind.value)
        wanted = set(scope_to_list(scope)) if scope else held
        return list_to_scope(sorted(wanted & held))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        from partners import signin

        if not self.model.secret_hash:
            return False
        try:
            return signin.password_hasher().verify(self.model.secret_hash, client_secret)
        except Exception:  # argon2 raises on mismatch: a wrong secret, nothing more
            return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.model.auth_method.value

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


def query_client(client_id: str) -> Client | None:
    """An active client of an active organisation (suspension takes effect at once)."""
    model = standing.client(client_id)
    if model is None or not model.is_active or not model.organisation.is_active:
        g.oauth_refusal_reason = "client_unknown_or_suspended"
        return None
    g.oauth_client_id = model.client_id
    return Client(model)


def claimed_client_reference(claimed: str | None) -> str | None:
    """How the audit log names a client id a caller claimed: as itself when it names a
    registered client, else by a keyed pseudonym (a caller can type anything there, a name
    and a date of birth included, and the log is never erased)."""
    if not claimed:
        return None
    if len(claimed) <= 64 and standing.client(claimed) is not None:
        return claimed
    return "unregistered:" + audit.subject_pseudonym("claimed-client-id", claimed)[:32]


def client_key_set(model: ClientStanding) -> KeySet:
    """A client's public keys: registered inline, or fetched from its jwks_uri (cached).

    The fetch follows `partners.outbound` (no private network, no redirect off the host, at
    most JWKS_MAX_BYTES within JWKS_FETCH_SECONDS). Whatever goes wrong, the client is told one
    thing, and the refusal of its token request is audited with the reason `jwks_unavailable`;
    the cause goes to the hub's log only (it would tell closed ports and services apart)."""
    if model.jwks:
        return KeySet.import_key_set(model.jwks)
    uri = model.jwks_uri or ""
    cached = _jwks_cache.get(uri)
    if cached and time.monotonic() - cached[0] < JWKS_CACHE_SECONDS:
        return KeySet.import_key_set(cached[1])
    development = current_app.config["HUB_SETTINGS"].is_development
    try:
        body = outbound.fetch(
            uri,
            allow_loopback=development,
            max_bytes=JWKS_MAX_BYTES,
            timeout=JWKS_FETCH_SECONDS,
        )
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JSON Web Key Set")
        key_set = KeySet.import_key_set({"keys": data["keys"]})
    except (outbound.OutboundError, ValueError, TypeError, KeyError, JoseError) as exc:
        log.warning("client %s: keys not fetched from its jwks_uri: %s", model.client_id, exc)
        g.oauth_refusal_reason = "jwks_unavailable"
        raise InvalidClientError(
            description="The client's keys could not be fetched from its jwks_uri."
        ) from exc
    _jwks_cache[uri] = (time.monotonic(), {"keys": data["keys"]})
    return key_set


class PrivateKeyJwt(JWTBearerClientAssertion):
    """RFC 7523 client authentication, tightened: only EdDSA/ES256, `aud` exactly the issuer
    (a string or a one-element array), `iat` required, at most five minutes from `iat` to
    `exp`, and each `jti` used once."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        return [issuer()]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return client_key_set(client.model)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=CLIENT_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(
                description="The client assertion's signature does not "
                "verify with the client's keys."
            ) from exc
        claims = token.claims
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise InvalidClientError(description="The client assertion needs iat and exp.")
        if exp - iat > MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(
                description="The client assertion may live five minutes at most."
            )
        if iat > time.time() + self.leeway:
            raise InvalidClientError(description="The client assertion is from the future.")
        # RFC 7523 allows an array of audiences; FAPI 2.0 narrows it to the issuer alone, so an
        # assertion made for several servers (any of which could replay it here) is refused.
        if claims.get("aud") not in (issuer(), [issuer()]):
            raise InvalidClientError(
                description="The client assertion's aud must be the issuer, and only the issuer."
            )
        self.verify_claims(claims)
        return claims

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        expires = datetime.fromtimestamp(float(claims["exp"]) + self.leeway, UTC)
        try:
            # Committed with the token's audit entry, or with the refusal's (a spent id stays
            # spent after a rollback): one commit per token request.
            replay.claim("assertion", f"{claims['sub']}:{jti}", expires)
        except replay.Replayed:
            return False
        return True


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449's error for a missing or bad proof at the token endpoint."""

    error = "invalid_dpop_proof"
    status_code = 400


class ClientCredentials(grants.ClientCredentialsGrant):
    """The only grant: a partner system acting for its own organisation."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


def generate_token(
    grant_type: str,
    client: Client,
    user: Any = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """An RFC 9068 access token signed by the hub (no refresh token)."""
    # Authlib hands over the scope as requested: narrow it to what the client may hold.
    scope = client.get_allowed_scope(scope)
    if not scope:
        raise InvalidScopeError("None of the requested scopes is granted to this client.")
    kid, key = keys.signing_key()
    lifetime = int(keys.token_lifetime().total_seconds())
    now = int(time.time())
    if client.model.issued_before_revocation(now):
        # Reinstated within the second of its revocation: `iat` has whole seconds, so date the
        # token from the next one, or it would count as revoked.
        now += 1
    claims: dict[str, Any] = {
        "iss": issuer(),
        "sub": client.get_client_id(),
        "aud": api_audience(),
        "client_id": client.get_client_id(),
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": scope or "",
        "org": str(client.model.organisation_id),
    }
    jkt = g.get("dpop_jkt")
    if client.model.dpop_bound and not jkt:
        raise InvalidDPoPProofError("This client's tokens are DPoP-bound: send a DPoP proof.")
    if jkt:
        claims["cnf"] = {"jkt": jkt}
    token = jwt.encode(
        {"alg": keys.ALGORITHM, "typ": "at+jwt", "kid": kid},
        claims,
        key,
        algorithms=[keys.ALGORITHM],
    )
    g.issued_claims = claims
    return {
        "access_token": token,
        "token_type": "DPoP" if jkt else "Bearer",
        "expires_in": lifetime,
        "scope": scope or "",
    }


def save_token(token: dict[str, Any], request: Any) -> None:
    """Access tokens are not stored (they are self-contained); issuance is audited."""
    claims = g.get("issued_claims", {})
    client = request.client.model
    audit.record(
        client_actor(client),
        OAUTH_TOKEN,
        "granted",
        resource_type="oauth_client",
        resource_ids=[client.client_id],
        resource_org=str(client.organisation_id),
        scopes=sorted(scope_to_list(token.get("scope")) or []),
        dpop="yes" if "cnf" in claims else "no",
        token_id=claims.get("jti", ""),
    )


def client_actor(client: OAuthClient | ClientStanding, **extra: Any) -> Actor:
    """The Actor a partner client acts as: in a request, with that request's id (every entry
    of one request carries its `X-Request-Id`) and the caller's address."""
    if has_request_context():
        extra.setdefault("request_id", g.get("request_id") or str(uuid.uuid4()))
        extra.setdefault("remote_addr", http_request.remote_addr)
    organisation = client.organisation
    return Actor(
        kind=ActorKind.CLIENT,
        id=client.client_id,
        label=f"client:{client.client_id}",
        org_id=str(organisation.id),
        org_slug=organisation.slug,
        org_kind=organisation.kind.value,
        **extra,
    )


# --- token introspection and revocation --------------------------------------------------


class TokenClaims(dict):
    """A decoded access token, in the shape Authlib's endpoints expect."""

    def check_client(self, client: Client) -> bool:
        return self.get("client_id") == client.get_client_id()

    def get_scope(self) -> str:
        return self.get("scope", "")

    def get_expires_in(self) -> int:
        return int(self["exp"] - self["iat"])

    def is_expired(self) -> bool:
        return self["exp"] <= time.time()

    def is_revoked(self) -> bool:
        return standing.is_revoked(self["jti"])


def decode_access_token(token: str, *, allow_expired: bool = False) -> TokenClaims | None:
    """The claims of an access token this hub issued, or None if it is not one."""
    try:
        key_set = keys.key_set()
    except JoseError:  # no key yet: no token can be the hub's
        return None
    claims = _verified(token, key_set, issuer(), api_audience())
    if claims is None or (not allow_expired and claims.is_expired()):
        return None
    return TokenClaims(claims)  # a copy: the verified claims are shared by later requests


def _verified_key(token: str, key_set: KeySet, issuer: str, audience: str) -> tuple[Any, ...]:
    # A key id is its key's RFC 7638 thumbprint: the ids name the keys exactly.
    return (token, tuple(key.kid for key in key_set.keys), issuer, audience)


@cachetools.cached(
    cachetools.LRUCache(maxsize=VERIFIED_TOKENS), key=_verified_key, lock=threading.Lock()
)
def _verified(token: str, key_set: KeySet, issuer: str, audience: str) -> TokenClaims | None:
    """The claims of `token` if its signature verifies under `key_set` and it is an access
    token of `issuer` for `audience`, however old. Kept per process for the token and the key
    ids it was checked against: a token's bytes never change, so its signature is checked
    once, and a key that is retired or withdrawn is no longer among the ids asked for. What can
    change (expiry, revocation, the client's standing) is checked by the caller every time."""
    try:
        decoded = jwt.decode(token, key_set, algorithms=[keys.ALGORITHM])
    except (JoseError, ValueError):
        return None
    if decoded.header.get("typ") != "at+jwt":
        return None
    claims = TokenClaims(decoded.claims)
    if claims.get("iss") != issuer or claims.get("aud") != audience:
        return None
    if not isinstance(claims.get("exp"), int) or not isinstance(claims.get("jti"), str):
        return None
    return claims


class Revocation(RevocationEndpoint):
    """RFC 7009: a client revokes its own token; the `jti` is denied until it expires."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenClaims | None:
        return decode_access_token(token_string, allow_expired=True)

    def revoke_token(self, token: TokenClaims, request: Any) -> None:
        if db.session.get(RevokedToken, token["jti"]) is None:
            db.session.add(
                RevokedToken(
                    jti=token["jti"],
                    client_id=token["client_id"],
                    expires_at=datetime.fromtimestamp(token["exp"], UTC) + timedelta(minutes=1),
                )
            )
        client = request.client.model
        audit.record(
            client_actor(client),
            OAUTH_REVOKE,
            "granted",
            resource_type="oauth_client",
            resource_ids=[client.client_id],
            resource_org=str(client.organisation_id),
            token_id=token["jti"],
        )


class Introspection(IntrospectionEndpoint):
    """RFC 7662: a client (or another client of its organisation) asks whether a token is live."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenClaims | None:
        return decode_access_token(token_string, allow_expired=True)

    def check_permission(self, token: TokenClaims, client: Client, request: Any) -> bool:
        return token.get("org") == str(client.model.organisation_id)

    def introspect_token(self, token: TokenClaims) -> dict[str, Any]:
        model = standing.client(token.get("client_id", ""))
        live = (
            model is not None
            and model.is_active
            and model.organisation.is_active
            and not model.issued_before_revocation(token.get("iat", 0))
        )
        if not live:
            return {"active": False}
        body = {"active": True, "token_type": "DPoP" if "cnf" in token else "Bearer"}
        for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "org", "cnf"):
            if name in token:
                body[name] = token[name]
        return body


def metadata() -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    base = issuer()
    return {
        "issuer": base,
        "token_endpoint": base + "/oauth/token",
        "revocation_endpoint": base + "/oauth/revoke",
        "introspection_endpoint": base + "/oauth/introspect",
        "jwks_uri": base + "/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "scopes_supported": sorted(SCOPES),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "dpop_signing_alg_values_supported": ["EdDSA", "ES256"],
        "authorization_response_iss_parameter_supported": False,
        "service_documentation": base + "/api/docs",
    }


def init_app(app: Flask) -> None:
    """Give the app its authorization server, with only what the hub allows."""
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = False
    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt())
    server.register_grant(ClientCredentials)
    server.register_token_generator("client_credentials", generate_token)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions["hub_oauth_server"] = server


def authorization_server() -> AuthorizationServer:
    """The current app's authorization server."""
    return current_app.extensions["hub_oauth_server"]


def purge_expired() -> int:
    """Forget revoked tokens and single-use ids that can no longer matter."""
    now = utcnow()
    removed = db.session.execute(sa.delete(RevokedToken).where(RevokedToken.expires_at < now))
    used = db.session.execute(sa.delete(UsedJti).where(UsedJti.expires_at < now))
    return (removed.rowcount or 0) + (used.rowcount or 0)
