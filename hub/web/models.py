"""What the edge keeps between requests: answers to creating requests, by Idempotency-Key."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class IdempotentRequest(Base):
    """The answer given to a POST or PATCH that carried an `Idempotency-Key` header (IETF
    draft httpapi-idempotency-key-header), kept for a day so that a retry of the same request
    gets the same answer instead of making a second record. Stored in the transaction of the
    change itself: the key is taken exactly when the change is committed.

    `owner` is the caller (`person:<id>` or `client:<id>`): keys are the caller's own.
    `fingerprint` is a hash of the method, the route and the body, so that a key reused for a
    different request is refused rather than answered with another request's result.
    """

    __tablename__ = "idempotent_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(sa.String(80))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int] = mapped_column(sa.SmallInteger)
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    location: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("owner", "key"),)
