"""API: the organisation's inbox (`/api/v1/notifications`) and its webhook subscriptions and
delivery log (`/api/v1/webhooks`).

People see their organisation's messages and their own; a partner system (scope
`notifications:read`) sees its organisation's messages, its subscriptions and deliveries. Only
the organisation's administrators subscribe and withdraw.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from audit.actions import NOTIFICATION_LIST, NOTIFICATION_READ
from core.access import require_scope
from core.api import Blueprint
from core.db import db, utcnow
from core.errors import NotFound, PermissionDenied
from core.request import current_actor, signed_in_required
from core.security import Actor, ActorKind
from partners import webhooks
from partners.models import DeliveryStatus, InboxMessage, Organisation
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "notifications-api",
    __name__,
    url_prefix="/api/v1",
    description="The organisation's inbox, webhook subscriptions and their delivery log.",
)

FORBIDDEN = {"schema": ProblemSchema, "description": "The caller may not do this"}
NOT_FOUND = {"schema": ProblemSchema, "description": "No such item for the caller"}
INVALID = {"schema": ProblemSchema, "description": "Invalid fields"}
UNAUTHENTICATED = {"schema": ProblemSchema, "description": "No session or access token"}
MAX_MESSAGE_ID = 2**31 - 1
EXAMPLE_ID = "6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e"


# --- schemas ----------------------------------------------------------------------------


class NotificationSchema(Schema):
    """A message in the organisation's inbox (no personal values: titles are generic)."""

    id = fields.Integer(metadata={"example": 42})
    kind = fields.String(metadata={"example": "assertion.corrected"})
    title = fields.String(
        metadata={"example": "A statement shared with you about a speaker was corrected"}
    )
    body = fields.String()
    link = fields.String(metadata={"example": f"/shared/speakers/{EXAMPLE_ID}"})
    personal = fields.Function(
        lambda message: message.person_id is not None,
        metadata={"description": "Addressed to the signed-in person rather than everyone"},
    )
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationArgsSchema(Schema):
    """Filters for the inbox."""

    unread_only = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MarkedSchema(Schema):
    """How many messages were marked as read."""

    marked = fields.Integer(metadata={"example": 3})


class SubscriptionSchema(Schema):
    """A webhook subscription."""

    id = fields.UUID(metadata={"example": EXAMPLE_ID})
    url = fields.String(metadata={"example": "https://events.example.ac.uk/hub-events"})
    events = fields.Function(
        lambda subscription: sorted(subscription.event_set),
        metadata={"example": ["assertion.corrected", "agreement.status"]},
    )
    status = fields.Function(lambda subscription: subscription.status.value)
    created_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)


class SubscriptionCreateSchema(Schema):
    """What an organisation administrator sends to subscribe."""

    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"example": "https://events.example.ac.uk/hub-events"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(sorted(webhooks.EVENT_TYPES))),
        required=True,
        validate=validate.Length(min=1, max=len(webhooks.EVENT_TYPES)),
        metadata={"example": ["assertion.corrected", "agreement.status"]},
    )


class DeliverySchema(Schema):
    """One delivery in the log, with the body that is (or was) sent."""

    id = fields.UUID(metadata={"description": "Sent as the Hub-Delivery-Id header"})
    subscription_id = fields.UUID()
    event_id = fields.UUID(metadata={"description": "The payload's `id`"})
    event_type = fields.String(metadata={"example": "agreement.status"})
    status = fields.Function(
        lambda delivery: delivery.status.value,
        metadata={"enum": [s.value for s in DeliveryStatus]},
    )
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    payload = fields.Function(
        lambda delivery: json.loads(delivery.payload),
        metadata={
            "example": {
                "id": EXAMPLE_ID,
                "type": "agreement.status",
                "occurred_at": "2026-11-22T09:30:00Z",
                "organisation": EXAMPLE_ID,
                "data": {
                    "agreement_id": EXAMPLE_ID,
                    "reference": "DSA-2026-004",
                    "version": 2,
                    "status": "approved",
                },
            }
        },
    )


class DeliveryArgsSchema(Schema):
    """Filters for the delivery log."""

    status = fields.String(validate=validate.OneOf([s.value for s in DeliveryStatus]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


# --- inbox ------------------------------------------------------------------------------


def _organisation_of(actor: Actor) -> Organisation:
    organisation = db.session.get(Organisation, uuid.UUID(actor.org_id)) if actor.org_id else None
    if organisation is None:
        raise PermissionDenied(
            "Only a partner organisation's people and systems have an inbox.",
            reason="no_inbox",
            audit={"action": NOTIFICATION_LIST, "resource_type": "inbox_message"},
        )
    return organisation


def _require_inbox_reader(actor: Actor) -> None:
    """People read their organisation's inbox, and so do its partner systems (whose calls need
    `notifications:read`, required beside each endpoint)."""
    if actor.kind not in {ActorKind.PERSON, ActorKind.CLIENT} or actor.org_id is None:
        raise PermissionDenied(
            "Only a partner organisation's people and systems have an inbox.",
            reason="no_inbox",
            audit={"action": NOTIFICATION_LIST, "resource_type": "inbox_message"},
        )


def _visible(actor: Actor) -> Any:
    """The messages the actor may see: the organisation's, and (for a person) their own."""
    clause = InboxMessage.organisation_id == uuid.UUID(str(actor.org_id))
    if actor.kind == ActorKind.PERSON and actor.id:
        return sa.and_(
            clause,
            sa.or_(InboxMessage.person_id.is_(None), InboxMessage.person_id == uuid.UUID(actor.id)),
        )
    return sa.and_(clause, InboxMessage.person_id.is_(None))


def _message(actor: Actor, message_id: int) -> InboxMessage:
    """A message the actor may see; anyone else's answers exactly like a missing one."""
    if message_id > MAX_MESSAGE_ID:  # beyond the column's range: no such row can exist
        raise NotFound("There is no such message.")
    message = db.session.get(InboxMessage, message_id)
    if message is None:
        raise NotFound("There is no such message.")
    if (
        db.session.scalar(
            sa.select(InboxMessage.id).where(InboxMessage.id == message_id, _visible(actor))
        )
        is None
    ):
        raise NotFound(
            "There is no such message.",
            reason="not_owner",
            audit={
                "action": NOTIFICATION_READ,
                "resource_type": "inbox_message",
                "resource_ids": [str(message_id)],
                "resource_org": str(message.organisation_id),
            },
        )
    return message


@blueprint.route("/notifications")
class Notifications(MethodView):
    """The organisation's inbox."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.arguments(NotificationArgsSchema, location="query")
    @blueprint.response(200, NotificationSchema(many=True))
    @blueprint.alt_response(401, **UNAUTHENTICATED)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, args: dict[str, Any]) -> Any:
        """List the inbox, newest first: corrections to shared records, agreement changes."""
        actor = current_actor()
        _require_inbox_reader(actor)
        query = sa.select(InboxMessage).where(_visible(actor))
        if args["unread_only"]:
            query = query.where(InboxMessage.read_at.is_(None))
        query = query.order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc())
        return list(db.session.scalars(query.limit(args["limit"])))


@blueprint.route("/notifications/<int:message_id>/read")
class NotificationRead(MethodView):
    """One message."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.response(200, NotificationSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    def post(self, message_id: int) -> Any:
        """Mark one message as read (for everyone it was sent to)."""
        actor = current_actor()
        _require_inbox_reader(actor)
        message = _message(actor, message_id)
        if message.read_at is None:
            message.read_at = utcnow()
        return message


@blueprint.route("/notifications/read")
class NotificationsRead(MethodView):
    """The whole inbox."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.response(200, MarkedSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    def post(self) -> Any:
        """Mark every unread message as read."""
        actor = current_actor()
        _require_inbox_reader(actor)
        result = db.session.execute(
            sa.update(InboxMessage)
            .where(_visible(actor), InboxMessage.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return {"marked": result.rowcount or 0}


# --- webhooks ---------------------------------------------------------------------------


@blueprint.route("/webhooks")
class Subscriptions(MethodView):
    """The organisation's webhook subscriptions."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.response(200, SubscriptionSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self) -> Any:
        """List the organisation's subscriptions (active first)."""
        actor = current_actor()
        return webhooks.list_subscriptions(actor, _organisation_of(actor))

    @blueprint.arguments(SubscriptionCreateSchema)
    @blueprint.response(201, SubscriptionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]) -> Any:
        """Subscribe an https address to events (organisation administrators)."""
        actor = current_actor()
        subscription = webhooks.subscribe(actor, _organisation_of(actor), data)
        return subscription


@blueprint.route("/webhooks/deliveries")
class Deliveries(MethodView):
    """The organisation's delivery log."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.arguments(DeliveryArgsSchema, location="query")
    @blueprint.response(200, DeliverySchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, args: dict[str, Any]) -> Any:
        """List deliveries, newest first: status, attempts, last response, next attempt."""
        actor = current_actor()
        return webhooks.list_deliveries(
            actor,
            _organisation_of(actor),
            status=DeliveryStatus(args["status"]) if args.get("status") else None,
            limit=args["limit"],
        )


@blueprint.route("/webhooks/<uuid:subscription_id>")
class Subscription(MethodView):
    """One subscription."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.response(200, SubscriptionSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, subscription_id: uuid.UUID) -> Any:
        """Read one subscription."""
        return webhooks.get_subscription(current_actor(), subscription_id)

    @blueprint.response(200, SubscriptionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    def delete(self, subscription_id: uuid.UUID) -> Any:
        """Withdraw a subscription: nothing more is sent to it, queued deliveries are cancelled."""
        subscription = webhooks.get_subscription(current_actor(), subscription_id)
        webhooks.withdraw(current_actor(), subscription)
        return subscription


@blueprint.route("/webhooks/<uuid:subscription_id>/deliveries")
class SubscriptionDeliveries(MethodView):
    """One subscription's delivery log."""

    decorators = [signed_in_required]

    @require_scope("notifications:read")
    @blueprint.arguments(DeliveryArgsSchema, location="query")
    @blueprint.response(200, DeliverySchema(many=True))
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, args: dict[str, Any], subscription_id: uuid.UUID) -> Any:
        """List one subscription's deliveries, newest first."""
        subscription = webhooks.get_subscription(current_actor(), subscription_id)
        return webhooks.list_deliveries(
            current_actor(),
            subscription.organisation,
            subscription=subscription,
            status=DeliveryStatus(args["status"]) if args.get("status") else None,
            limit=args["limit"],
        )
