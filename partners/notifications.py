"""Telling people things: an in-app inbox per organisation, and an outbox of emails."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from core.db import db
from core.security import Actor, ActorKind
from partners import webhooks
from partners.models import InboxMessage, OutboxEmail


def notify(
    organisation_id: uuid.UUID | str,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    person_id: uuid.UUID | str | None = None,
    data: dict[str, Any] | None = None,
) -> InboxMessage:
    """Put a message in an organisation's inbox (or one person's); kinds that are webhook events
    are also queued for the organisation's subscriptions, with `data` (identifiers only)."""
    message = InboxMessage(
        organisation_id=uuid.UUID(str(organisation_id)),
        kind=kind,
        title=title,
        body=body,
        link=link,
        person_id=uuid.UUID(str(person_id)) if person_id else None,
    )
    db.session.add(message)
    db.session.flush()
    webhooks.from_notification(organisation_id, kind, link, data)
    return message


def queue_email(
    to_address: str, subject: str, body: str, kind: str, dedupe_key: str
) -> OutboxEmail | None:
    """Queue an email once per `dedupe_key`; returns None if it was queued before."""
    exists = db.session.scalar(
        sa.select(OutboxEmail.id).where(OutboxEmail.dedupe_key == dedupe_key)
    )
    if exists is not None:
        return None
    email = OutboxEmail(
        to_address=to_address, subject=subject, body=body, kind=kind, dedupe_key=dedupe_key
    )
    db.session.add(email)
    db.session.flush()
    return email


def inbox(actor: Actor, *, unread_only: bool = False, limit: int = 50) -> list[InboxMessage]:
    """Messages for the actor's organisation and for the actor, newest first."""
    if actor.org_id is None:
        return []
    addressed = InboxMessage.person_id.is_(None)
    if actor.kind == ActorKind.PERSON and actor.id:  # a partner system's id is its client id
        addressed = sa.or_(addressed, InboxMessage.person_id == uuid.UUID(actor.id))
    query = sa.select(InboxMessage).where(
        InboxMessage.organisation_id == uuid.UUID(actor.org_id), addressed
    )
    if unread_only:
        query = query.where(InboxMessage.read_at.is_(None))
    return list(db.session.scalars(query.order_by(InboxMessage.created_at.desc()).limit(limit)))
