"""A peer hub: another regional hub this hub calls (as an OAuth client of it) and witnesses."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_column, utcnow
from partners.models import Organisation


class PeerStatus(enum.StrEnum):
    """Whether the hub calls and witnesses a peer."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class PeerHub(Base):
    """What this hub needs to call a peer hub and witness its log.

    The peer is an organisation of kind `hub` here (its OAuth clients call this hub's API for
    it); it never has people, so nobody becomes a hub administrator through it. This hub calls
    the peer with `client_id` (registered at the peer), signing client assertions with its own
    private key for that peer (AES-GCM encrypted with the field cipher, bound to this row's id).
    """

    __tablename__ = "peer_hubs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), unique=True
    )
    base_url: Mapped[str] = mapped_column(sa.String(2000))  # also the peer's OAuth issuer
    client_id: Mapped[str | None] = mapped_column(sa.String(64))  # ours, at the peer
    signing_key_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(sa.JSON)
    log_origin: Mapped[str] = mapped_column(sa.String(300))
    log_verifier_key: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[PeerStatus] = mapped_column(enum_column(PeerStatus, "peer_status"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # What this hub last cosigned of the peer's log (the witness's state), and the last round.
    witnessed_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    witnessed_root: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    witnessed_checkpoint: Mapped[str | None] = mapped_column(sa.Text)
    witnessed_at: Mapped[datetime | None]
    last_witness_at: Mapped[datetime | None]
    last_witness_outcome: Mapped[str | None] = mapped_column(sa.String(32))
    last_witness_detail: Mapped[str | None] = mapped_column(sa.String(500))

    organisation: Mapped[Organisation] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == PeerStatus.ACTIVE and self.organisation.is_active

    @property
    def callable(self) -> bool:
        """Active and with a client id at the peer (both sides registered)."""
        return self.is_active and bool(self.client_id)
