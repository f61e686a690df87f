"""Webhooks: partner systems are told when a statement shared with them is corrected, withdrawn
or disputed, when a speaker record shared with them is corrected or erased, when their advisory
request is answered, and when an agreement they are party to changes status.

A delivery is a JSON body `{id, type, occurred_at, organisation, data}` carrying identifiers
and codes only (never a name or free text: `emit` refuses any other key), POSTed with:

- `Hub-Signature`: a compact JWS with a *detached* payload (RFC 7515 appendix F), i.e.
  `<protected header>..<signature>`, ES256 with the key that signs the hub's access tokens; the
  header says `typ: hub-event+jws` and the `kid`. To verify, put the base64url of the exact body
  between the two dots and check it against `/.well-known/jwks.json`.
- `Hub-Delivery-Id` (this delivery; the same on each retry), `Hub-Event-Type`.

Identifiers are those the receiving organisation was given: a correction's `speaker_id` is the
speaker as the recipient's data schedule gave it (the id, the pseudonym its reads showed, or
absent where the schedule withholds it), chosen by the caller (`hub.records.corrections`), never
read out of the inbox link. A correction's `fields` names the fields that changed (their codes,
never their values).

Deliveries are queued in the same transaction as the change they report (so a change that is
rolled back tells nobody) and sent by `deliver_due`, run by `flask --app wsgi partners
deliver-webhooks [--follow]`. A failed attempt is retried after 1 minute, 5 minutes, 30
minutes, 2 hours and 12 hours, then marked failed. Withdrawing a subscription cancels whatever
it had queued.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from audit import services as audit
from audit.actions import WEBHOOK_READ, WEBHOOK_SUBSCRIBE, WEBHOOK_WITHDRAW
from core.db import db, utcnow
from core.errors import NotFound, PermissionDenied
from core.security import Actor, ActorKind
from core.validation import Checker
from partners import outbound, permissions
from partners import signing_keys as keys
from partners.models import (
    DeliveryStatus,
    Organisation,
    WebhookDelivery,
    WebhookStatus,
    WebhookSubscription,
)

EVENT_TYPES = {
    "assertion.corrected": "A statement shared with your organisation was corrected",
    "assertion.withdrawn": "A statement shared with your organisation was withdrawn",
    "assertion.disputed": "A statement shared with your organisation is disputed",
    "speaker.corrected": (
        "Details of a speaker record shared with your organisation were corrected (the "
        "payload names the fields you received that changed, never their values)"
    ),
    "speaker.erased": "A speaker record shared with your organisation was erased",
    "advisory.answered": "An advisory request your organisation made was answered",
    "agreement.status": (
        "An agreement your organisation is party to was proposed, approved, suspended, resumed "
        "or terminated"
    ),
}
#: Inbox message kinds (`partners.notifications.notify`) that are also webhook events.
NOTIFICATION_EVENTS = {
    "assertion.corrected": "assertion.corrected",
    "assertion.withdrawn": "assertion.withdrawn",
    "assertion.disputed": "assertion.disputed",
    "speaker.corrected": "speaker.corrected",
    "speaker.erased": "speaker.erased",
    "advisory.answered": "advisory.answered",
    "agreement.proposed": "agreement.status",
    "agreement.approved": "agreement.status",
    "agreement.suspended": "agreement.status",
    "agreement.resumed": "agreement.status",
    "agreement.terminated": "agreement.status",
}
#: The only keys a payload's `data` may hold: identifiers and codes, never personal values.
DATA_KEYS = frozenset(
    {
        "assertion_id",
        "speaker_id",
        "agreement_id",
        "reference",
        "version",
        "status",
        "advisory_request_id",
        "rating_id",
        "fields",
    }
)
#: The one key whose value is a list: field names (codes such as `display_name`).
LIST_KEYS = frozenset({"fields"})
_FIELD_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT_SECONDS = 5
#: While one sender posts a delivery, others leave it alone this long.
LEASE = timedelta(minutes=2)
SIGNATURE_HEADER = "Hub-Signature"
DELIVERY_HEADER = "Hub-Delivery-Id"
EVENT_HEADER = "Hub-Event-Type"
SIGNATURE_TYPE = "hub-event+jws"
MAX_SUBSCRIPTIONS = 10


# --- who may do what --------------------------------------------------------------------


def can_manage(actor: Actor, organisation: Organisation) -> bool:
    """An organisation's admins (and hub administrators) subscribe and withdraw."""
    return permissions.can_manage_people(actor, organisation)


def can_view(actor: Actor, organisation: Organisation) -> bool:
    """Admins see subscriptions and the delivery log; so does the organisation's own client
    (whose calls need `notifications:read`, required beside each endpoint)."""
    if can_manage(actor, organisation):
        return True
    return actor.kind == ActorKind.CLIENT and actor.org_id == str(organisation.id)


def _refs(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "resource_type": "webhook_subscription",
        "resource_ids": [str(subscription.id)],
        "resource_org": str(subscription.organisation_id),
    }


def _deny(action: str, detail: str, organisation: Organisation) -> PermissionDenied:
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={
            "action": action,
            "resource_type": "webhook_subscription",
            "resource_org": str(organisation.id),
        },
    )


# --- subscriptions ----------------------------------------------------------------------


def check_url(check: Checker, key: str, *, allow_http_loopback: bool) -> str:
    """Where deliveries go: https (plain http only to this machine, in development and tests),
    no credentials in the address, and no private network address in any form
    (`partners.outbound`, the rule client key sets follow too)."""
    value = outbound.check_url(
        check,
        key,
        "the address deliveries are sent to",
        example="https://events.example.ac.uk/hub-events",
        allow_loopback=allow_http_loopback,
    )
    return value or ""


def subscribe(
    actor: Actor, organisation: Organisation, data: dict[str, Any]
) -> WebhookSubscription:
    """Subscribe one of the organisation's addresses to some event types."""
    if not can_manage(actor, organisation):
        raise _deny(
            "webhook.subscribe",
            "Only the organisation's administrators can subscribe to webhooks.",
            organisation,
        )
    check = Checker(data)
    development = current_app.config["HUB_SETTINGS"].is_development
    url = check_url(check, "url", allow_http_loopback=development)
    events = check.strings("events", "events", max_items=len(EVENT_TYPES))
    for event in events:
        if event not in EVENT_TYPES:
            check.add("events", f"'{event}' is not an event ({', '.join(sorted(EVENT_TYPES))}).")
    if not events and check.ok("events"):
        check.add("events", "Choose at least one event.")
    active = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookSubscription)
        .where(
            WebhookSubscription.organisation_id == organisation.id,
            WebhookSubscription.status == WebhookStatus.ACTIVE,
        )
    )
    if active >= MAX_SUBSCRIPTIONS:
        check.add("url", f"An organisation can have at most {MAX_SUBSCRIPTIONS} subscriptions.")
    check.raise_if_any()
    chosen = sorted(set(events) & set(EVENT_TYPES))
    subscription = WebhookSubscription(
        organisation_id=organisation.id,
        url=url,
        events=" ".join(chosen),
        status=WebhookStatus.ACTIVE,
        created_by_id=actor.person_id,
    )
    db.session.add(subscription)
    db.session.flush()
    audit.record(actor, WEBHOOK_SUBSCRIBE, "granted", **_refs(subscription), events=chosen)
    return subscription


def list_subscriptions(actor: Actor, organisation: Organisation) -> list[WebhookSubscription]:
    """An organisation's subscriptions, active first."""
    if not can_view(actor, organisation):
        raise _deny("webhook.list", "You cannot see this organisation's webhooks.", organisation)
    return list(
        db.session.scalars(
            sa.select(WebhookSubscription)
            .where(WebhookSubscription.organisation_id == organisation.id)
            .order_by(WebhookSubscription.status, WebhookSubscription.created_at.desc())
        )
    )


def get_subscription(actor: Actor, subscription_id: str | uuid.UUID) -> WebhookSubscription:
    """One subscription; another organisation's answers exactly like a missing one."""
    try:
        key = uuid.UUID(str(subscription_id))
    except ValueError as exc:
        raise NotFound("There is no such webhook subscription.") from exc
    subscription = db.session.get(WebhookSubscription, key)
    if subscription is None:
        raise NotFound("There is no such webhook subscription.")
    if not can_view(actor, subscription.organisation):
        if actor.org_id == str(subscription.organisation_id):
            raise _deny(
                "webhook.read",
                "Only the organisation's administrators can see its webhooks.",
                subscription.organisation,
            )
        raise NotFound(
            "There is no such webhook subscription.",
            reason="not_owner",
            audit={"action": WEBHOOK_READ, **_refs(subscription)},
        )
    return subscription


def withdraw(actor: Actor, subscription: WebhookSubscription) -> WebhookSubscription:
    """Stop a subscription: nothing more is sent to it, not even what was already queued."""
    if not can_manage(actor, subscription.organisation):
        raise PermissionDenied(
            "Only the organisation's administrators can withdraw webhooks.",
            reason="not_permitted",
            audit={"action": WEBHOOK_WITHDRAW, **_refs(subscription)},
        )
    if not subscription.is_active:
        return subscription
    now = utcnow()
    subscription.status = WebhookStatus.WITHDRAWN
    subscription.withdrawn_at = now
    cancelled = db.session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.CANCELLED,
            next_attempt_at=None,
            last_error="The subscription was withdrawn.",
        )
        .execution_options(synchronize_session="fetch")
    ).rowcount
    db.session.flush()
    audit.record(
        actor, WEBHOOK_WITHDRAW, "granted", **_refs(subscription), cancelled=cancelled or 0
    )
    return subscription


def list_deliveries(
    actor: Actor,
    organisation: Organisation,
    *,
    subscription: WebhookSubscription | None = None,
    status: DeliveryStatus | None = None,
    limit: int = 100,
) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    if not can_view(actor, organisation):
        raise _deny(
            "webhook.deliveries",
            "You cannot see this organisation's webhook deliveries.",
            organisation,
        )
    query = sa.select(WebhookDelivery).where(WebhookDelivery.organisation_id == organisation.id)
    if subscription is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit)
    return list(db.session.scalars(query))


# --- events -----------------------------------------------------------------------------


def emit(
    organisation_id: uuid.UUID | str,
    event_type: str,
    data: dict[str, Any],
    *,
    occurred_at: datetime | None = None,
) -> list[WebhookDelivery]:
    """Queue `event_type` for each of the organisation's active subscriptions to it (in the
    caller's transaction). `data` holds identifiers and codes only."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"{event_type!r} is not a webhook event")
    unknown = set(data) - DATA_KEYS
    if unknown:
        # A guard against personal values slipping into a payload: only listed keys travel.
        raise ValueError(f"webhook data may not carry {sorted(unknown)}")
    for key, value in data.items():
        if key in LIST_KEYS:
            if not isinstance(value, list) or not all(
                isinstance(item, str) and _FIELD_CODE.fullmatch(item) for item in value
            ):
                raise ValueError(f"webhook data {key!r} must be a list of field names")
        elif not isinstance(value, str | int | bool) or (
            isinstance(value, str) and len(value) > 100
        ):
            raise ValueError(f"webhook data {key!r} must be a short identifier or code")
    organisation = db.session.get(Organisation, uuid.UUID(str(organisation_id)))
    if organisation is None or not organisation.is_active:
        return []
    subscriptions = [
        subscription
        for subscription in db.session.scalars(
            sa.select(WebhookSubscription).where(
                WebhookSubscription.organisation_id == organisation.id,
                WebhookSubscription.status == WebhookStatus.ACTIVE,
            )
        )
        if event_type in subscription.event_set
    ]
    if not subscriptions:
        return []
    now = utcnow()
    event_id = uuid.uuid4()
    body = payload_json(
        {
            "id": str(event_id),
            "type": event_type,
            "occurred_at": _timestamp(occurred_at or now),
            "organisation": str(organisation.id),
            "data": {k: list(v) if isinstance(v, list) else v for k, v in data.items()},
        }
    )
    deliveries = [
        WebhookDelivery(
            subscription_id=subscription.id,
            organisation_id=organisation.id,
            event_id=event_id,
            event_type=event_type,
            payload=body,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            last_error="",
        )
        for subscription in subscriptions
    ]
    db.session.add_all(deliveries)
    db.session.flush()
    return deliveries


def payload_json(payload: dict[str, Any]) -> str:
    """The body as sent: compact JSON with sorted keys."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def from_notification(
    organisation_id: uuid.UUID | str, kind: str, data: dict[str, Any] | None = None
) -> list[WebhookDelivery]:
    """The webhook side of an inbox message: queue its event, if its kind is one, with the
    identifiers the caller gave. Nothing is read out of the message's link: a page's address
    may name a record by an id the recipient's schedule does not give it (a statement's
    speaker, which its schedule pseudonymises or withholds), so the caller says which id the
    recipient knows."""
    event_type = NOTIFICATION_EVENTS.get(kind)
    if event_type is None:
        return []
    derived: dict[str, Any] = {}
    if event_type == "agreement.status":
        derived["status"] = kind.split(".", 1)[1]  # the agreement's ids come in `data`
    derived.update(data or {})
    return emit(organisation_id, event_type, derived)


def advisory_answered(request: Any) -> list[WebhookDelivery]:
    """Tell the institution that asked that its advisory request has an answer (the rating
    itself is read through the API, not sent)."""
    data = {
        "advisory_request_id": str(request.id),
        "speaker_id": str(request.speaker_id),
        "status": "answered",
    }
    if getattr(request, "rating_id", None):
        data["rating_id"] = str(request.rating_id)
    return emit(request.requesting_org_id, "advisory.answered", data)


# --- signing ----------------------------------------------------------------------------


def sign(body: bytes) -> str:
    """A detached-payload compact JWS over `body` with the hub's current signing key."""
    kid, key = keys.signing_key()
    token = jws.serialize_compact(
        {"alg": keys.ALGORITHM, "kid": kid, "typ": SIGNATURE_TYPE},
        body,
        key,
        algorithms=[keys.ALGORITHM],
    )
    header, _payload, signature = token.split(".")
    return f"{header}..{signature}"


def verify(signature: str, body: bytes, key_set: KeySet | dict[str, Any]) -> dict[str, Any]:
    """Check a `Hub-Signature` against the body received and the hub's published keys (what a
    receiver does); returns the payload, or raises ValueError."""
    if isinstance(key_set, dict):
        key_set = KeySet.import_key_set(key_set)
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        raise ValueError("Hub-Signature must be a compact JWS with a detached payload")
    try:
        result = jws.deserialize_compact(
            signature, key_set, algorithms=[keys.ALGORITHM], payload=body
        )
    except (JoseError, ValueError) as exc:
        raise ValueError(f"the signature does not verify: {exc}") from exc
    if result.protected.get("typ") != SIGNATURE_TYPE:
        raise ValueError("not a hub event signature")
    return json.loads(body)


# --- sending ----------------------------------------------------------------------------


@dataclass
class DeliveryRun:
    """What one `deliver_due` pass did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def _post(url: str, address: str, body: str, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST once to `address` (`partners.outbound`: the address the URL was checked at);
    returns the HTTP status (None if there was no answer) and an error note. A redirect is an
    answer (a failed attempt), never an invitation to post elsewhere."""
    try:
        status = outbound.post(url, address, body.encode(), headers, timeout=TIMEOUT_SECONDS)
    except outbound.OutboundError as exc:
        return None, str(exc)[:300]
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


def _due(now: datetime) -> WebhookDelivery | None:
    return db.session.scalar(
        sa.select(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def deliver_due(now: datetime | None = None, *, limit: int = 500) -> DeliveryRun:
    """Send every delivery that is due at `now` (at most `limit`); each claim and each result
    is committed at once, so a crash never loses a result and two senders never post the same
    delivery at the same time."""
    now = now or utcnow()
    run = DeliveryRun()
    development = current_app.config["HUB_SETTINGS"].is_development
    for _ in range(limit):
        delivery = _due(now)
        if delivery is None:
            break
        subscription = delivery.subscription
        if not subscription.is_active or not subscription.organisation.is_active:
            delivery.status = DeliveryStatus.CANCELLED
            delivery.next_attempt_at = None
            delivery.last_error = (
                "The subscription was withdrawn."
                if not subscription.is_active
                else "The organisation is suspended."
            )
            db.session.commit()
            run.cancelled += 1
            continue
        delivery.next_attempt_at = now + LEASE
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "prevent-hub-webhooks/1",
            SIGNATURE_HEADER: sign(delivery.payload.encode()),
            DELIVERY_HEADER: str(delivery.id),
            EVENT_HEADER: delivery.event_type,
        }
        url, body, delivery_id = subscription.url, delivery.payload, delivery.id
        db.session.commit()  # the claim stands before the (slow) request is made
        # Checked on each send, as on subscribing (partners.outbound, the one rule), and the
        # request goes to the very address checked: DNS cannot point a subscription into the
        # hub's own network after it was accepted, nor between the check and the connection.
        try:
            address = outbound.address_for(url, allow_loopback=development)
        except outbound.OutboundError:
            status_code, error = None, "The address is not on the public internet; not sent."
        else:
            status_code, error = _post(url, address, body, headers)
        _record(delivery_id, now, status_code, error, run)
        db.session.commit()
    return run


def _record(
    delivery_id: uuid.UUID, now: datetime, status_code: int | None, error: str, run: DeliveryRun
) -> None:
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    if delivery is None:
        return
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    if delivery.status != DeliveryStatus.PENDING:
        run.cancelled += 1  # withdrawn while the request was on its way
        return
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
        run.delivered += 1
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        delivery.last_error = error or f"HTTP {status_code}"
        run.failed += 1
    else:
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
        delivery.last_error = error or f"HTTP {status_code}"
        run.retrying += 1
