"""An organisation's OpenID Connect identity provider, and the sign-ins started with it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_column, utcnow
from partners.models import Organisation


class ProviderClientAuth(enum.StrEnum):
    """How the hub proves itself to the provider's token endpoint."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name, not a secret)
    PRIVATE_KEY_JWT = "private_key_jwt"


class RolePolicy(enum.StrEnum):
    """Where a person's hub roles come from when they sign in with their organisation."""

    HUB = "hub"  # granted by the organisation's administrators in the hub
    CLAIM = "claim"  # mapped from a claim in the ID token on every sign-in


class IdentityProvider(Base):
    """The one OpenID Connect provider an organisation trusts for its people's sign-in."""

    __tablename__ = "identity_providers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), unique=True
    )
    # An issuer is trusted by one organisation only: a person arriving from it can only ever
    # be matched or provisioned there.
    issuer: Mapped[str] = mapped_column(sa.String(500), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(255))
    client_auth_method: Mapped[ProviderClientAuth] = mapped_column(
        enum_column(ProviderClientAuth, "provider_client_auth")
    )
    # The client secret, or the private key (a JWK or PEM) for private_key_jwt, encrypted
    # with the field cipher bound to this provider's id.
    credential_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    scopes: Mapped[str] = mapped_column(sa.String(300), default="openid email profile")
    role_policy: Mapped[RolePolicy] = mapped_column(enum_column(RolePolicy, "role_policy"))
    role_claim: Mapped[str | None] = mapped_column(sa.String(100))
    # claim value -> list of hub role values (only with RolePolicy.CLAIM)
    role_mapping: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()
    domains: Mapped[list[IdentityProviderDomain]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="IdentityProviderDomain.domain",
    )

    @property
    def domain_list(self) -> list[str]:
        """The email domains whose people sign in with this provider (lower-case)."""
        return [claim.domain for claim in self.domains]


class IdentityProviderDomain(Base):
    """An email domain claimed by one organisation's identity provider.

    The domain is the primary key: it belongs to one provider at most, so sign-in routing
    finds one organisation for an address, and of two claims made at once only one commits.
    """

    __tablename__ = "identity_provider_domains"

    domain: Mapped[str] = mapped_column(sa.String(253), primary_key=True)  # lower-case
    provider_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("identity_providers.id", ondelete="CASCADE"), index=True
    )
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class OidcSignInState(Base):
    """One sign-in sent to a provider: its `state` (hashed), nonce and PKCE verifier.

    Used once: the callback marks it used before anything else, so a replayed state is refused.
    """

    __tablename__ = "oidc_sign_in_states"

    state_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("identity_providers.id", ondelete="CASCADE"), index=True
    )
    nonce: Mapped[str] = mapped_column(sa.String(128))
    code_verifier_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    redirect_uri: Mapped[str] = mapped_column(sa.String(2000))
    next_url: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]

    provider: Mapped[IdentityProvider] = relationship()
