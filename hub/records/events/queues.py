"""What waits for whom among events: decisions for the senior officer an event was escalated
to, local reviews for the host organisation's Prevent leads, drafts for its events officers.

Each queue holds only events the actor may already open (the same rules as `services.can_see`)
and is ordered soonest first, since an event's start is the deadline for everything before it.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from core.db import db
from core.security import Actor, ActorKind
from hub.records import permissions
from hub.records.models import Event, EventStatus

#: Statuses at which an event waits for its organisation's Prevent lead.
AWAITING_REVIEW = (EventStatus.SUBMITTED, EventStatus.UNDER_REVIEW)


def _own_events(actor: Actor) -> sa.Select:
    assert actor.org_id is not None
    return (
        sa.select(Event)
        .where(Event.owner_org_id == uuid.UUID(actor.org_id), Event.erased_at.is_(None))
        .order_by(Event.starts_at, Event.id)
    )


def decisions_waiting(actor: Actor) -> list[Event]:
    """Designated events escalated to the actor by name and not yet decided."""
    if actor.kind != ActorKind.PERSON or actor.org_id is None or not actor.id:
        return []
    return list(
        db.session.scalars(
            _own_events(actor).where(
                Event.status == EventStatus.ESCALATED,
                Event.senior_officer_id == uuid.UUID(actor.id),
            )
        )
    )


def reviews_waiting(actor: Actor) -> list[Event]:
    """The organisation's events submitted or under review, for its Prevent leads."""
    if actor.kind != ActorKind.PERSON or not permissions.can_review(actor, actor.org_id):
        return []
    return list(db.session.scalars(_own_events(actor).where(Event.status.in_(AWAITING_REVIEW))))


def drafts(actor: Actor) -> list[Event]:
    """The organisation's draft events, for the people who write and submit them."""
    if actor.kind != ActorKind.PERSON or not permissions.can_host_events(actor):
        return []
    return list(db.session.scalars(_own_events(actor).where(Event.status == EventStatus.DRAFT)))
