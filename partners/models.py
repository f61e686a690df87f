"""Organisations, people, their roles, and the state sign-in keeps about them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_column, utcnow


class OrganisationKind(enum.StrEnum):
    """What kind of partner an organisation is."""

    UNIVERSITY = "university"
    STUDENTS_UNION = "students_union"
    POLICE_PREVENT = "police_prevent"
    REGIONAL_COORDINATOR = "regional_coordinator"
    LOCAL_AUTHORITY = "local_authority"
    HUB = "hub"


ORGANISATION_KIND_LABELS = {
    OrganisationKind.UNIVERSITY: "University or higher-education provider",
    OrganisationKind.STUDENTS_UNION: "Students' union",
    OrganisationKind.POLICE_PREVENT: "Police Prevent team",
    OrganisationKind.REGIONAL_COORDINATOR: "Regional Prevent coordinator",
    OrganisationKind.LOCAL_AUTHORITY: "Local authority",
    OrganisationKind.HUB: "Hub operator",
}


class Status(enum.StrEnum):
    """Whether an organisation or person may act at all."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class Role(enum.StrEnum):
    """What a person may do inside their organisation."""

    ORG_ADMIN = "org_admin"
    EVENTS_OFFICER = "events_officer"
    PREVENT_LEAD = "prevent_lead"
    COORDINATOR = "coordinator"
    DPO = "dpo"
    AUDITOR = "auditor"
    SIGNATORY = "signatory"
    SENIOR_OFFICER = "senior_officer"


ROLE_LABELS = {
    Role.ORG_ADMIN: "Organisation administrator",
    Role.EVENTS_OFFICER: "Events officer",
    Role.PREVENT_LEAD: "Prevent lead",
    Role.COORDINATOR: "Regional coordinator",
    Role.DPO: "Data protection officer",
    Role.AUDITOR: "Auditor",
    Role.SIGNATORY: "Agreement signatory",
    Role.SENIOR_OFFICER: "Senior officer",
}

ROLE_DESCRIPTIONS = {
    Role.ORG_ADMIN: "Manage your organisation's people and their roles.",
    Role.EVENTS_OFFICER: "Record events and speakers, and complete risk assessments.",
    Role.PREVENT_LEAD: "Review escalated events, request and give advisory ratings.",
    Role.COORDINATOR: "Convene working groups and route advisory requests in the region.",
    Role.DPO: "Review who accessed what, answer subject access requests, suspend sharing.",
    Role.AUDITOR: "Read and verify the audit log.",
    Role.SIGNATORY: "Approve data-sharing agreements on your organisation's behalf.",
    Role.SENIOR_OFFICER: "Decide designated events escalated to you by name.",
}

_ALL_KINDS = frozenset(OrganisationKind)
_INSTITUTIONS = frozenset({OrganisationKind.UNIVERSITY, OrganisationKind.STUDENTS_UNION})

#: Which kinds of organisation a role makes sense in; assigning it elsewhere is refused.
ROLE_KINDS: dict[Role, frozenset[OrganisationKind]] = {
    Role.ORG_ADMIN: _ALL_KINDS,
    Role.DPO: _ALL_KINDS,
    Role.AUDITOR: _ALL_KINDS,
    Role.SIGNATORY: _ALL_KINDS - {OrganisationKind.HUB},
    Role.EVENTS_OFFICER: _INSTITUTIONS,
    Role.PREVENT_LEAD: _INSTITUTIONS
    | {OrganisationKind.POLICE_PREVENT, OrganisationKind.LOCAL_AUTHORITY},
    Role.COORDINATOR: frozenset({OrganisationKind.REGIONAL_COORDINATOR}),
    Role.SENIOR_OFFICER: _INSTITUTIONS,
}


class Organisation(Base):
    """A partner organisation: a university, students' union, police team, council, or hub."""

    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(
        enum_column(OrganisationKind, "organisation_kind")
    )
    region: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[Status] = mapped_column(enum_column(Status, "organisation_status"))
    dp_contact_name: Mapped[str] = mapped_column(sa.String(200))
    dp_contact_email: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    people: Mapped[list[Person]] = relationship(
        back_populates="organisation", order_by="Person.name"
    )

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE


class Person(Base):
    """A member of staff of one organisation, who signs in and holds roles there."""

    __tablename__ = "people"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    status: Mapped[Status] = mapped_column(enum_column(Status, "person_status"))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_pending_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    totp_enrolled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_sign_in_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(back_populates="people")
    role_grants: Mapped[list[PersonRole]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="PersonRole.role"
    )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(grant.role.value for grant in self.role_grants)

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE

    @property
    def has_mfa(self) -> bool:
        return self.totp_enrolled_at is not None


class PersonRole(Base):
    """One role held by one person in their organisation."""

    __tablename__ = "person_roles"

    person_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"), primary_key=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="role_grants")


class RecoveryCode(Base):
    """A single-use code that stands in for the authenticator app (stored hashed)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None]


class EnrolmentToken(Base):
    """A one-time link that lets a new person choose a password and set up their second factor."""

    __tablename__ = "enrolment_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SignInThrottle(Base):
    """Failed sign-ins per email address (hashed), whether or not such an account exists."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None]
    next_allowed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser session; the cookie carries its token, the row its state."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_at: Mapped[datetime] = mapped_column(default=utcnow)
    mfa_at: Mapped[datetime | None]
    # When the person last re-entered their password and a code in this session, to replace
    # their authenticator; cleared once used.
    reauthenticated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(sa.String(40))

    person: Mapped[Person] = relationship()


class InboxMessage(Base):
    """An in-app message to an organisation (or to one person in it)."""

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    person_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class EmailStatus(enum.StrEnum):
    """Where an outbox email stands: waiting (and perhaps retrying), sent, or given up."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(Base):
    """An email, written in the same transaction as the change that causes it and sent
    afterwards by `partners.mail.sender` (retried with backoff; a claim stops two senders
    sending one row twice)."""

    __tablename__ = "outbox_emails"
    __table_args__ = (sa.Index("ix_outbox_emails_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)  # the plain-text part
    html_body: Mapped[str] = mapped_column(sa.Text, default="")
    kind: Mapped[str] = mapped_column(sa.String(64))
    # Reminders are queued once: the same key is never queued twice.
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[EmailStatus] = mapped_column(
        enum_column(EmailStatus, "email_status"), default=EmailStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The error class and the server's code only (never a message body or an address).
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    # A sender's claim: while `claimed_until` is in the future no other sender takes the row.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


class ClientAuthMethod(enum.StrEnum):
    """How a partner system proves who it is at the token endpoint."""

    PRIVATE_KEY_JWT = "private_key_jwt"
    # Weaker (a shared secret); refused unless an org admin enables it for one client.
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name, not a secret)


class OAuthClient(Base):
    """A partner system that calls the API for one organisation (OAuth 2.0 client)."""

    __tablename__ = "oauth_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    auth_method: Mapped[ClientAuthMethod] = mapped_column(
        enum_column(ClientAuthMethod, "client_auth_method")
    )
    jwks: Mapped[dict | None] = mapped_column(sa.JSON)
    jwks_uri: Mapped[str | None] = mapped_column(sa.String(2000))
    secret_hash: Mapped[str | None] = mapped_column(sa.String(200))
    scopes: Mapped[str] = mapped_column(sa.String(500))
    dpop_bound: Mapped[bool] = mapped_column(default=False)
    status: Mapped[Status] = mapped_column(enum_column(Status, "client_status"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the client's tokens were last revoked (its own suspension or its organisation's).
    # Kept after reinstatement: access tokens issued up to then never work again.
    revoked_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def issued_before_revocation(self, issued_at: float) -> bool:
        """Whether a token issued at `issued_at` (seconds, as in `iat`) predates the last
        revocation of the client's tokens (`iat` has whole seconds: the second of a revocation
        counts as before it)."""
        return self.revoked_at is not None and issued_at <= int(self.revoked_at.timestamp())

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE


class UsedJti(Base):
    """A JWT id seen once (client assertions, DPoP proofs): replays are refused until expiry."""

    __tablename__ = "used_jtis"

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    jti: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RevokedToken(Base):
    """An access token revoked before it expired (RFC 7009): a deny-list by `jti`."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class TokenSigningKey(Base):
    """A key the hub signs access tokens with; kept published until its last token expires."""

    __tablename__ = "token_signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    private_jwk_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class WebhookStatus(enum.StrEnum):
    """Whether a webhook subscription still receives deliveries."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class DeliveryStatus(enum.StrEnum):
    """Where one webhook delivery stands."""

    PENDING = "pending"  # queued, or waiting for its next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt
    CANCELLED = "cancelled"  # the subscription was withdrawn (or its organisation suspended)


class WebhookSubscription(Base):
    """A partner system's address that is told when something it cares about changes."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[str] = mapped_column(sa.String(500))  # space-separated event types
    status: Mapped[WebhookStatus] = mapped_column(enum_column(WebhookStatus, "webhook_status"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()

    @property
    def event_set(self) -> frozenset[str]:
        return frozenset(self.events.split())

    @property
    def is_active(self) -> bool:
        return self.status == WebhookStatus.ACTIVE


class WebhookDelivery(Base):
    """One event sent (or to be sent) to one subscription, with its attempts so far."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(sa.String(64))
    # The exact JSON body sent on every attempt (identifiers and codes only).
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus, "delivery_status"))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    subscription: Mapped[WebhookSubscription] = relationship()
