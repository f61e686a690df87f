"""The keys the hub signs access tokens and webhook deliveries with: ES256, rotated, old keys
published until their last token has expired."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from joserfc import jwk

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
    """The current key (created on first use) and its id."""
    row = db.session.scalar(
        sa.select(TokenSigningKey)
        .where(TokenSigningKey.retired_at.is_(None))
        .order_by(TokenSigningKey.created_at.desc())
        .limit(1)
    )
    if row is None:
        row = create_key()
    data = _cipher().decrypt(row.private_jwk_encrypted, f"token-key:{row.kid}")
    return row.kid, jwk.ECKey.import_key(json.loads(data))


def published_keys() -> list[dict[str, Any]]:
    """Public keys that can still have live tokens: the current one and those retired less than
    one token lifetime (plus a minute of clock skew) ago."""
    cutoff = utcnow() - token_lifetime() - timedelta(minutes=1)
    rows = db.session.scalars(
        sa.select(TokenSigningKey)
        .where(sa.or_(TokenSigningKey.retired_at.is_(None), TokenSigningKey.retired_at > cutoff))
        .order_by(TokenSigningKey.created_at.desc())
    )
    return [row.public_jwk for row in rows]


def key_set() -> jwk.KeySet:
    """The published keys, for checking tokens."""
    return jwk.KeySet.import_key_set({"keys": published_keys()})
