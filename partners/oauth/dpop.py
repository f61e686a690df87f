"""DPoP (RFC 9449): proofs of possession that bind access tokens to a client's key.

Authlib has no DPoP support, so the checks are here: the proof is a JWT of type `dpop+jwt`
signed with the public key in its own header; it names the method and URL it is for, is fresh,
is used once (`partners.oauth.replay`), carries the hash of the access token it accompanies,
and (when the hub asks for one) the nonce the hub last gave.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from partners.oauth import replay

ALGORITHMS = ("ES256", "EdDSA", "Ed25519")
IAT_WINDOW = 60  # seconds either side of now
NONCE_LIFETIME = 300  # seconds


class DPoPError(Exception):
    """A DPoP proof that does not hold; `error` is the RFC 9449 error code."""

    def __init__(self, description: str, error: str = "invalid_dpop_proof") -> None:
        super().__init__(description)
        self.description = description
        self.error = error


@dataclass(frozen=True)
class Proof:
    """A checked proof: the thumbprint of its key and its id."""

    jkt: str
    jti: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_hash(token: str) -> str:
    """The `ath` claim: base64url of SHA-256 of the access token."""
    return b64url(hashlib.sha256(token.encode()).digest())


def normalise_url(url: str) -> str:
    """`htu` is compared without query and fragment, scheme and host lower-cased."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def _nonce_key() -> bytes:
    return current_app.config["SECRET_KEY"].encode() + b"\x00dpop-nonce"


def new_nonce(now: float | None = None) -> str:
    """A nonce the client must echo (stateless: a timestamp and its MAC)."""
    stamp = int(now if now is not None else time.time()).to_bytes(8, "big")
    mac = hmac.new(_nonce_key(), stamp, hashlib.sha256).digest()[:16]
    return b64url(stamp + mac + secrets.token_bytes(4))


def nonce_is_fresh(nonce: str, now: float | None = None) -> bool:
    """True for a nonce this hub issued within the last five minutes."""
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except ValueError:
        return False
    if len(raw) != 28:
        return False
    stamp, mac = raw[:8], raw[8:24]
    expected = hmac.new(_nonce_key(), stamp, hashlib.sha256).digest()[:16]
    age = (now if now is not None else time.time()) - int.from_bytes(stamp, "big")
    return hmac.compare_digest(mac, expected) and -IAT_WINDOW <= age <= NONCE_LIFETIME


def nonce_required() -> bool:
    """Whether this hub asks every DPoP proof for a nonce (HUB_DPOP_REQUIRE_NONCE)."""
    return bool(current_app.config["HUB_SETTINGS"].dpop_require_nonce)


def thumbprint(jwk_dict: dict) -> str:
    """RFC 7638 thumbprint of a public key."""
    key = _public_key(jwk_dict)
    return key.thumbprint()


def _public_key(jwk_dict: dict) -> ECKey | OKPKey:
    if not isinstance(jwk_dict, dict):
        raise DPoPError("The proof has no jwk header.")
    if any(name in jwk_dict for name in ("d", "p", "q")):
        raise DPoPError("The proof's jwk contains a private key.")
    kty = jwk_dict.get("kty")
    try:
        if kty == "EC" and jwk_dict.get("crv") == "P-256":
            return ECKey.import_key(jwk_dict)
        if kty == "OKP" and jwk_dict.get("crv") == "Ed25519":
            return OKPKey.import_key(jwk_dict)
    except (JoseError, ValueError) as exc:
        raise DPoPError(f"The proof's jwk is not a valid key: {exc}") from exc
    raise DPoPError("The proof's key must be an ES256 (P-256) or Ed25519 key.")


def verify(
    proof: str | None,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    now: float | None = None,
) -> Proof:
    """Check a DPoP proof for a request; raises DPoPError with the reason."""
    if not proof:
        raise DPoPError("A DPoP proof is required.")
    if "," in proof or " " in proof.strip():
        raise DPoPError("Send exactly one DPoP proof.")
    try:
        header = jws.extract_compact(proof.encode()).protected
    except (JoseError, ValueError) as exc:
        raise DPoPError("The DPoP proof is not a JWT.") from exc
    if header.get("typ") != "dpop+jwt":
        raise DPoPError("The DPoP proof must have typ dpop+jwt.")
    if header.get("alg") not in ALGORITHMS:
        raise DPoPError("The DPoP proof must be signed with ES256 or EdDSA.")
    key = _public_key(header.get("jwk"))
    try:
        token = jwt.decode(proof, key, algorithms=list(ALGORITHMS))
    except JoseError as exc:
        raise DPoPError(f"The DPoP proof's signature does not verify: {exc}") from exc
    claims = token.claims
    now = now if now is not None else time.time()
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 200:
        raise DPoPError("The DPoP proof needs a jti.")
    if claims.get("htm") != method.upper():
        raise DPoPError("The DPoP proof is for another HTTP method.")
    if not isinstance(claims.get("htu"), str) or normalise_url(claims["htu"]) != normalise_url(url):
        raise DPoPError("The DPoP proof is for another URL.")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(now - iat) > IAT_WINDOW:
        raise DPoPError("The DPoP proof is too old or from the future.")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise DPoPError("The DPoP proof does not match the access token (ath).")
    if nonce_required():
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce_is_fresh(nonce, now):
            raise DPoPError("Use the DPoP-Nonce this hub gave.", error="use_dpop_nonce")
    try:
        replay.claim(
            "dpop",
            f"{key.thumbprint()}:{jti}",
            datetime.fromtimestamp(now, UTC) + timedelta(seconds=2 * IAT_WINDOW),
        )
    except replay.Replayed as exc:
        raise DPoPError("The DPoP proof was used before.") from exc
    return Proof(key.thumbprint(), jti)
