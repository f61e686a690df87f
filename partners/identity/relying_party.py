"""The hub as an OpenID Connect relying party, with Authlib's Flask client.

Discovery (cached briefly per issuer), the authorization request (code flow, PKCE S256, state
and nonce), the token request (client secret or private_key_jwt) and ID token validation
(signature against the provider's JWKS, issuer, audience, expiry, nonce). Every failure raises
`ProviderRefusal` carrying the audit reason code; nothing here touches the database.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwk
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_CACHE_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 10
CLOCK_SKEW_SECONDS = 60
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})

# RFC 8176 authentication method references, by factor category. "mfa" says so outright;
# otherwise two different categories make multi-factor (a password and a one-time code, a
# hardware key unlocked with a PIN or a fingerprint). One category alone, however strong,
# is one factor: the hub then asks for its own TOTP code.
AMR_CATEGORIES = {
    "knowledge": frozenset({"pwd", "pin", "kba"}),
    "possession": frozenset({"otp", "hwk", "swk", "sms", "tel", "sc", "pop"}),
    "inherence": frozenset({"fpt", "face", "iris", "retina", "vbm", "bio"}),
}


class ProviderRefusal(Exception):
    """The provider's answer cannot be trusted; `reason` is the audit reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ProviderSettings:
    """What the relying party needs to know about one provider (read from the model)."""

    issuer: str
    client_id: str
    auth_method: str  # "client_secret_basic" | "private_key_jwt"
    credential: str  # the client secret, or the private key (JWK JSON or PEM)
    scopes: str


def issuer_problem(issuer: str, *, development: bool) -> str | None:
    """Why `issuer` cannot be trusted as an issuer URL, or None if it can.

    https only; plain http only for loopback addresses, and only in development and test.
    """
    parts = urlsplit(issuer)
    if not parts.netloc or parts.query or parts.fragment or parts.username:
        return "Enter the issuer URL, like https://login.example.ac.uk/tenant/v2.0."
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and development:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return "The issuer URL must start with https:// (http is for development only)."
    return "The issuer URL must start with https://."


def mfa_asserted(amr: Any) -> bool:
    """True if the `amr` claim asserts multi-factor authentication (see AMR_CATEGORIES)."""
    if not isinstance(amr, list):
        return False
    methods = {str(value).lower() for value in amr}
    if "mfa" in methods:
        return True
    categories = {name for name, members in AMR_CATEGORIES.items() if methods & members}
    return len(categories) >= 2


# --- discovery --------------------------------------------------------------------------

_discovery_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_discovery_lock = threading.Lock()


def discover(issuer: str, *, development: bool) -> dict[str, Any]:
    """The provider's OpenID configuration; its `issuer` must be exactly the one trusted."""
    problem = issuer_problem(issuer, development=development)
    if problem:
        raise ProviderRefusal("issuer_not_allowed", problem)
    now = time.monotonic()
    with _discovery_lock:
        cached = _discovery_cache.get(issuer)
    if cached and now - cached[0] < DISCOVERY_CACHE_SECONDS:
        return dict(cached[1])
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        metadata = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderRefusal(
            "provider_unreachable",
            "Your organisation's sign-in service could not be reached. Try again later.",
        ) from exc
    if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
        # OpenID Connect Discovery 1.0, section 4.3: the issuer must match exactly.
        raise ProviderRefusal(
            "wrong_issuer",
            "Your organisation's sign-in service describes itself as a different issuer.",
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise ProviderRefusal(
                "provider_misconfigured",
                f"Your organisation's sign-in service does not publish its {key}.",
            )
    with _discovery_lock:
        _discovery_cache[issuer] = (now, metadata)
    return dict(metadata)


def forget_discovery(issuer: str | None = None) -> None:
    """Drop cached discovery documents (after a provider's settings change)."""
    with _discovery_lock:
        if issuer is None:
            _discovery_cache.clear()
        else:
            _discovery_cache.pop(issuer, None)


# --- the client -------------------------------------------------------------------------


def _client(settings: ProviderSettings, metadata: dict[str, Any]) -> FlaskOAuth2App:
    """Authlib's Flask OAuth 2.0 / OIDC client for one provider, from its discovered metadata.

    The hub keeps state, nonce and verifier itself (server-side, single use), so Authlib's
    session-based state storage is not used.
    """
    client_kwargs: dict[str, Any] = {
        "scope": settings.scopes,
        "code_challenge_method": "S256",
        "default_timeout": HTTP_TIMEOUT_SECONDS,
        "token_endpoint_auth_method": settings.auth_method,
    }
    auth_methods = None
    credential: Any = settings.credential
    if settings.auth_method == "private_key_jwt":
        credential = load_private_key(settings.credential)
        auth_methods = [PrivateKeyJWT(metadata["token_endpoint"], alg=_key_alg(credential))]
    return FlaskOAuth2App(
        FlaskIntegration(f"idp:{settings.issuer}"),
        name=f"idp:{settings.issuer}",
        client_id=settings.client_id,
        client_secret=credential,
        client_kwargs=client_kwargs,
        client_auth_methods=auth_methods,
        **metadata,
    )


def load_private_key(value: str) -> Any:
    """A joserfc private key from a JWK (JSON) or PEM; ValueError if it is not one."""
    text = value.strip()
    candidates: list[tuple[Any, str | None]]
    if text.startswith("{"):
        try:
            candidates = [(json.loads(text), None)]
        except ValueError as exc:
            raise ValueError("not JSON") from exc
    else:
        candidates = [(text, kind) for kind in ("RSA", "EC", "OKP")]
    for data, kind in candidates:
        try:
            key = jwk.import_key(data, kind) if kind else jwk.import_key(data)
        except Exception:  # noqa: S112 (try the next key type)
            continue
        if key.key_type in {"RSA", "EC", "OKP"} and key.is_private:
            return key
    raise ValueError("not a private key")


def private_key_problem(value: str) -> str | None:
    """Why `value` is not a private key the hub can sign client assertions with."""
    try:
        load_private_key(value)
    except ValueError:
        return "Enter a private key (RSA, EC or Ed25519) as a JWK (JSON) or PEM."
    return None


def _key_alg(key: Any) -> str:
    if key.key_type == "RSA":
        return "RS256"
    if key.key_type == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[key.as_dict()["crv"]]
    return "EdDSA"


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what to keep for the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


def authorization_request(
    settings: ProviderSettings, redirect_uri: str, *, development: bool, login_hint: str = ""
) -> AuthorizationRequest:
    """The authorization code request, with PKCE (S256), a fresh state and nonce."""
    metadata = discover(settings.issuer, development=development)
    extra: dict[str, str] = {}
    if login_hint:
        extra["login_hint"] = login_hint
    created = _client(settings, metadata).create_authorization_url(
        redirect_uri,
        state=generate_token(32),
        nonce=generate_token(32),
        code_verifier=generate_token(64),
        **extra,
    )
    return AuthorizationRequest(
        url=created["url"],
        state=created["state"],
        nonce=created["nonce"],
        code_verifier=created["code_verifier"],
    )


def check_response_issuer(
    settings: ProviderSettings, iss: str | None, *, development: bool
) -> None:
    """RFC 9207: when the provider says it sends `iss`, it must be there and be its issuer."""
    metadata = discover(settings.issuer, development=development)
    if iss is not None and iss != settings.issuer:
        raise ProviderRefusal(
            "wrong_issuer",
            "The answer came from a different sign-in service than your organisation's.",
        )
    if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
        raise ProviderRefusal(
            "issuer_missing",
            "The answer from the sign-in service did not say which service sent it.",
        )


def redeem_code(
    settings: ProviderSettings,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    nonce: str,
    development: bool,
) -> dict[str, Any]:
    """Exchange the code for tokens and return the validated ID token's claims."""
    metadata = discover(settings.issuer, development=development)
    client = _client(settings, metadata)
    try:
        token = client.fetch_access_token(
            redirect_uri=redirect_uri, code=code, code_verifier=code_verifier
        )
    except (OAuthError, requests.RequestException, ValueError) as exc:
        raise ProviderRefusal(
            "token_request_failed",
            "Your organisation's sign-in service did not accept the hub's request.",
        ) from exc
    if "id_token" not in token:
        raise ProviderRefusal("id_token_missing", "The sign-in service sent no ID token.")
    claims_options = {
        "iss": {"essential": True, "value": settings.issuer},
        "aud": {"essential": True, "value": settings.client_id},
        "sub": {"essential": True},
        "nonce": {"essential": True, "value": nonce},
    }
    try:
        claims = client.parse_id_token(
            token, nonce=nonce, claims_options=claims_options, leeway=CLOCK_SKEW_SECONDS
        )
    except ExpiredTokenError as exc:
        raise ProviderRefusal("id_token_expired", "The sign-in has expired.") from exc
    except (InvalidClaimError, MissingClaimError, ClaimError) as exc:
        raise _claim_refusal(getattr(exc, "claim", "")) from exc
    except (JoseError, ValueError, requests.RequestException) as exc:
        raise ProviderRefusal(
            "id_token_invalid",
            "The sign-in service's ID token could not be verified.",
        ) from exc
    return dict(claims)


def _claim_refusal(claim: str) -> ProviderRefusal:
    reasons = {
        "iss": ("wrong_issuer", "The ID token was issued by a different sign-in service."),
        "aud": ("wrong_audience", "The ID token was not issued to the hub."),
        "azp": ("wrong_audience", "The ID token was not issued to the hub."),
        "nonce": ("nonce_mismatch", "The ID token does not belong to this sign-in."),
        "exp": ("id_token_expired", "The sign-in has expired."),
        "iat": ("id_token_not_yet_valid", "The ID token is not valid yet."),
        "nbf": ("id_token_not_yet_valid", "The ID token is not valid yet."),
    }
    reason, detail = reasons.get(claim, ("id_token_invalid", "The ID token is not valid."))
    return ProviderRefusal(reason, detail)
