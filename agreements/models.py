"""Data-sharing agreements: versions, parties and approvals, purposes, the signed record."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_column, utcnow


class AgreementType(enum.StrEnum):
    """The kinds of agreement the ICO code describes."""

    RECIPROCAL = "reciprocal"
    ONE_WAY = "one_way"
    JOINT_CONTROLLER = "joint_controller"


class AgreementStatus(enum.StrEnum):
    """Stored lifecycle state; whether an approved agreement is in force depends on the clock
    (see `Agreement.state_at`)."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    SUPERSEDED = "superseded"


class EffectiveState(enum.StrEnum):
    """What an agreement means at a given instant."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    NOT_STARTED = "not_started"  # approved, start date still ahead
    ACTIVE = "active"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    SUPERSEDED = "superseded"


class PartyRole(enum.StrEnum):
    """A party's role under data protection law."""

    CONTROLLER = "controller"
    JOINT_CONTROLLER = "joint_controller"
    PROCESSOR = "processor"


class Agreement(Base):
    """One version of a data-sharing agreement.

    `content` holds everything the agreement records (the ICO code's list, including the data
    schedule) as JSON; once proposed it is frozen and `content_hash` (SHA-256 of its canonical
    JSON) is what each party's signatory approves and what the hub signs on activation.
    Amendments are new versions in the same lineage.
    """

    __tablename__ = "agreements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    lineage_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(default=1)
    reference: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(300))
    type: Mapped[AgreementType] = mapped_column(enum_column(AgreementType, "agreement_type"))
    status: Mapped[AgreementStatus] = mapped_column(
        enum_column(AgreementStatus, "agreement_status"), default=AgreementStatus.DRAFT, index=True
    )
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    review_on: Mapped[date]
    proposed_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    signed_note: Mapped[str | None] = mapped_column(sa.Text)
    suspended_at: Mapped[datetime | None]
    suspended_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    suspension_reason: Mapped[str] = mapped_column(sa.Text, default="")
    terminated_at: Mapped[datetime | None]
    terminated_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    termination_reason: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parties: Mapped[list[AgreementParty]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementParty.position"
    )
    purposes: Mapped[list[AgreementPurpose]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan"
    )
    changes: Mapped[list[AgreementChange]] = relationship(
        back_populates="agreement",
        cascade="all, delete-orphan",
        order_by="AgreementChange.changed_at",
    )

    __table_args__ = (
        sa.UniqueConstraint("lineage_id", "version"),
        sa.UniqueConstraint("reference", "version"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    def state_at(self, moment: datetime) -> EffectiveState:
        """What the agreement means at `moment`: expiry and start need no job, only the clock."""
        if self.status != AgreementStatus.APPROVED:
            return EffectiveState(self.status.value)
        if moment < self.starts_at:
            return EffectiveState.NOT_STARTED
        if moment >= self.ends_at:
            return EffectiveState.EXPIRED
        return EffectiveState.ACTIVE

    @property
    def purpose_codes(self) -> list[str]:
        return sorted(p.code for p in self.purposes)


class AgreementParty(Base):
    """An organisation party to an agreement, its role, designated person and signatory."""

    __tablename__ = "agreement_parties"

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agreements.id"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    role: Mapped[PartyRole] = mapped_column(enum_column(PartyRole, "party_role"))
    designated_person: Mapped[str] = mapped_column(sa.String(200))
    signatory_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    approved_at: Mapped[datetime | None]
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    approved_hash: Mapped[str | None] = mapped_column(sa.String(64))

    agreement: Mapped[Agreement] = relationship(back_populates="parties")


class AgreementPurpose(Base):
    """A purpose the agreement allows (indexed copy of the content's purpose codes)."""

    __tablename__ = "agreement_purposes"

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("agreements.id"), primary_key=True
    )
    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True, index=True)

    agreement: Mapped[Agreement] = relationship(back_populates="purposes")


class AgreementChange(Base):
    """The agreement's change log: what changed, by whom, when."""

    __tablename__ = "agreement_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    summary: Mapped[str] = mapped_column(sa.Text)

    agreement: Mapped[Agreement] = relationship(back_populates="changes")


class AgreementKey(Base):
    """The per-agreement-lineage secret for pseudonymising fields: stable within an agreement,
    unlinkable across agreements (stored encrypted with the field-encryption key)."""

    __tablename__ = "agreement_keys"

    lineage_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
