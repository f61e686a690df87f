"""The keys the hub signs access tokens and webhook deliveries with: ES256, rotated, old keys
published until their last token has expired."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from joserfc import jwk

from core import policy
from core.db import db, utcnow
from core.keys import FieldCipher
from partners.models import TokenSigningKey

ALGORITHM = "ES256"


def _cipher() -> FieldCipher:
    return current_app.extensions["hub_field_cipher"]


def token_lifetime() -> timedelta:
    """How long an access token lives (minutes, not the library's days)."""
    return timedelta(minutes=current_app.config["HUB_SETTINGS"].token_minutes)


def create_key() -> TokenSigningKey:
    """A new signing key; the one before it is retired (still published, no longer used)."""
    key = jwk.ECKey.generate_key("P-256")
    kid = key.thumbprint()
    now = utcnow()
    db.session.execute(
        sa.update(TokenSigningKey)
        .where(TokenSigningKey.retired_at.is_(None))
        .values(retired_at=now)
    )
    row = TokenSigningKey(
        kid=kid,
        public_jwk={**key.as_dict(private=False), "kid": kid, "alg": ALGORITHM, "use": "sig"},
        private_jwk_encrypted=_cipher().encrypt(
            json.dumps(key.as_dict(private=True)).encode(), f"token-key:{kid}"
        ),
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def signing_key() -> tuple[str, jwk.ECKey]:
    """The current key (created on first use) and its id; read once per policy generation
    (a rotation is seen by the next token request on every worker)."""

    def load() -> tuple[str, jwk.ECKey] | None:
        row = db.session.scalar(
            sa.select(TokenSigningKey)
            .where(TokenSigningKey.retired_at.is_(None))
            .order_by(TokenSigningKey.created_at.desc())
            .limit(1)
        )
        return None if row is None else (row.kid, _private_key(row))

    current = policy.cached("token_signing_key", None, load)
    if current is None:
        row = create_key()
        return row.kid, _private_key(row)
    return current


def _private_key(row: TokenSigningKey) -> jwk.ECKey:
    data = _cipher().decrypt(row.private_jwk_encrypted, f"token-key:{row.kid}")
    return jwk.ECKey.import_key(json.loads(data))


def _keys() -> tuple[tuple[datetime | None, dict[str, Any]], ...]:
    """Every key's retirement and public JWK, newest first, once per policy generation."""

    def load() -> tuple[tuple[datetime | None, dict[str, Any]], ...]:
        rows = db.session.scalars(
            sa.select(TokenSigningKey).order_by(TokenSigningKey.created_at.desc())
        )
        return tuple((row.retired_at, dict(row.public_jwk)) for row in rows)

    return policy.cached("token_signing_keys", None, load)


def published_keys() -> list[dict[str, Any]]:
    """Public keys that can still have live tokens: the current one and those retired less than
    one token lifetime (plus a minute of clock skew) ago."""
    cutoff = utcnow() - token_lifetime() - timedelta(minutes=1)
    return [
        dict(public) for retired_at, public in _keys() if retired_at is None or retired_at > cutoff
    ]


def key_set() -> jwk.KeySet:
    """The published keys, for checking tokens (imported once per generation and key set)."""
    published = published_keys()
    return policy.cached(
        "token_key_set",
        tuple(key["kid"] for key in published),
        lambda: jwk.KeySet.import_key_set({"keys": published}),
    )
