"""Pages where an organisation's administrators manage its partner systems (API clients: register,
rotate keys, revoke, reinstate) and its webhook subscriptions and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from audit.refusals import keep_refusal
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.request import current_actor, signed_in_required
from core.security import Actor
from core.validation import LOCAL_ZONE
from partners import permissions, services, webhooks
from partners.models import (
    ClientAuthMethod,
    DeliveryStatus,
    OAuthClient,
    Organisation,
    Status,
    WebhookSubscription,
)
from partners.oauth import clients
from partners.oauth.scopes import SCOPES, allowed_for
from partners.oauth.server import issuer

blueprint = Blueprint("clients", __name__, template_folder="../templates")

METHOD_LABELS = {
    ClientAuthMethod.PRIVATE_KEY_JWT: "Private key (private_key_jwt)",
    ClientAuthMethod.CLIENT_SECRET_BASIC: "Shared secret (client_secret_basic)",
}
DELIVERY_COLOURS = {
    DeliveryStatus.PENDING: "blue",
    DeliveryStatus.DELIVERED: "green",
    DeliveryStatus.FAILED: "red",
    DeliveryStatus.CANCELLED: "grey",
}


def uk_time(moment: datetime | None) -> str:
    """A UTC moment as UK local time, as GOV.UK writes it: 3 March 2026 at 6:30pm."""
    if moment is None:
        return ""
    local = moment.astimezone(LOCAL_ZONE)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "method_labels": METHOD_LABELS,
        "scope_descriptions": SCOPES,
        "delivery_colours": DELIVERY_COLOURS,
        "event_descriptions": webhooks.EVENT_TYPES,
        "uk_time": uk_time,
    }


def _require_admin(actor: Actor, organisation: Organisation, action: str, **refs: Any) -> None:
    """Only the organisation's administrators (and hub administrators) reach these pages."""
    if not permissions.can_manage_people(actor, organisation):
        raise PermissionDenied(
            "Only the organisation's administrators can manage its partner systems.",
            reason="not_permitted",
            audit={
                "action": action,
                "resource_type": refs.pop("resource_type", "oauth_client"),
                "resource_org": str(organisation.id),
                **refs,
            },
        )


def _client(client_id: str, action: str) -> OAuthClient:
    """A client of an organisation the actor administers (another's answers as missing)."""
    actor = current_actor()
    client = clients.get_client(actor, client_id)
    _require_admin(actor, client.organisation, action, resource_ids=[client.client_id])
    return client


def _scope_options(organisation: Organisation) -> list[tuple[str, str, str]]:
    allowed = allowed_for(organisation.kind.value)
    return [(scope, scope, SCOPES[scope]) for scope in SCOPES if scope in allowed]


def _endpoints() -> dict[str, str]:
    base = issuer()
    return {
        "issuer": base,
        "token_endpoint": base + "/oauth/token",
        "jwks_uri": base + "/.well-known/jwks.json",
        "metadata": base + "/.well-known/oauth-authorization-server",
    }


# --- partner systems (OAuth clients) ------------------------------------------------------


@blueprint.get("/organisations/<slug>/clients")
@signed_in_required
def index(slug: str) -> Any:
    """The organisation's partner systems."""
    actor = current_actor()
    org = services.get_organisation(slug)
    _require_admin(actor, org, "oauth_client.list")
    return render_template(
        "partners/clients/index.html",
        org=org,
        clients=clients.list_clients(actor, org),
        page_title=f"Partner systems of {org.name}",
    )


@blueprint.route("/organisations/<slug>/clients/new", methods=["GET", "POST"])
@signed_in_required
def new(slug: str) -> Any:
    """Register a partner system: its keys (or, knowingly, a shared secret), scopes and DPoP."""
    actor = current_actor()
    org = services.get_organisation(slug)
    _require_admin(actor, org, "oauth_client.create")
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"scopes": [], "dpop_bound": True}
    if request.method == "POST":
        form = request.form
        values = {
            "name": form.get("name", ""),
            "jwks": form.get("jwks", "").strip() or None,
            "jwks_uri": form.get("jwks_uri", "").strip() or None,
            "scopes": form.getlist("scopes"),
            "dpop_bound": form.get("dpop_bound") == "yes",
            "shared_secret": form.get("shared_secret") == "yes",
        }
        method = (
            ClientAuthMethod.CLIENT_SECRET_BASIC
            if values["shared_secret"]
            else ClientAuthMethod.PRIVATE_KEY_JWT
        )
        try:
            client, secret = clients.register_client(
                actor, org, {**values, "auth_method": method.value}
            )
        except (ValidationFailed, Conflict) as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            # Rendered, not redirected to: a shared secret is shown this once and never stored.
            return render_template(
                "partners/clients/registered.html",
                org=org,
                client=client,
                secret=secret,
                endpoints=_endpoints(),
                page_title="Partner system registered",
            )
    return render_template(
        "partners/clients/new.html",
        org=org,
        errors=errors,
        values=values,
        scope_options=_scope_options(org),
        page_title=f"Register a partner system for {org.name}",
    )


@blueprint.get("/clients/<client_id>")
@signed_in_required
def show(client_id: str) -> Any:
    """One partner system: how it authenticates, what it may do, and the hub's endpoints."""
    client = _client(client_id, "oauth_client.read")
    return render_template(
        "partners/clients/show.html",
        client=client,
        org=client.organisation,
        endpoints=_endpoints(),
        page_title=client.name,
    )


@blueprint.route("/clients/<client_id>/keys", methods=["GET", "POST"])
@signed_in_required
def rotate(client_id: str) -> Any:
    """Replace a partner system's public keys."""
    client = _client(client_id, "oauth_client.rotate")
    errors: dict[str, list[str]] = {}
    jwks = ""
    if request.method == "POST":
        jwks = request.form.get("jwks", "")
        try:
            clients.rotate_keys(current_actor(), client, {"jwks": jwks.strip() or None})
        except ValidationFailed as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors
        else:
            flash(
                f"{client.name} now uses its new keys; assertions signed with the old ones "
                "are refused.",
                "success",
            )
            return redirect(url_for("clients.show", client_id=client.client_id))
    return render_template(
        "partners/clients/rotate.html",
        client=client,
        org=client.organisation,
        errors=errors,
        jwks=jwks,
        page_title=f"Rotate the keys of {client.name}",
    )


@blueprint.post("/clients/<client_id>/status")
@signed_in_required
def status(client_id: str) -> Any:
    """Revoke a partner system (its tokens stop working at once) or reinstate it."""
    value = request.form.get("status", "")
    action = "oauth_client.revoke" if value == Status.SUSPENDED.value else "oauth_client.reinstate"
    client = _client(client_id, action)
    try:
        wanted = Status(value)
    except ValueError as exc:
        raise ValidationFailed(
            "Choose active or suspended.", errors={"status": ["Choose active or suspended."]}
        ) from exc
    clients.set_status(current_actor(), client, wanted)
    if wanted == Status.SUSPENDED:
        flash(f"{client.name} is revoked: its tokens no longer work.", "success")
    else:
        flash(f"{client.name} is reinstated: it can ask for tokens again.", "success")
    return redirect(url_for("clients.show", client_id=client.client_id))


# --- webhooks ---------------------------------------------------------------------------


@blueprint.get("/organisations/<slug>/webhooks")
@signed_in_required
def webhook_index(slug: str) -> Any:
    """The organisation's webhook subscriptions and its latest deliveries."""
    actor = current_actor()
    org = services.get_organisation(slug)
    _require_admin(actor, org, "webhook.list", resource_type="webhook_subscription")
    return render_template(
        "partners/clients/webhooks.html",
        org=org,
        subscriptions=webhooks.list_subscriptions(actor, org),
        deliveries=webhooks.list_deliveries(actor, org, limit=50),
        page_title=f"Webhooks of {org.name}",
    )


@blueprint.route("/organisations/<slug>/webhooks/new", methods=["GET", "POST"])
@signed_in_required
def webhook_new(slug: str) -> Any:
    """Subscribe an address to events."""
    actor = current_actor()
    org = services.get_organisation(slug)
    _require_admin(actor, org, "webhook.subscribe", resource_type="webhook_subscription")
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"events": []}
    if request.method == "POST":
        values = {"url": request.form.get("url", ""), "events": request.form.getlist("events")}
        try:
            subscription = webhooks.subscribe(actor, org, values)
        except ValidationFailed as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors
        else:
            flash("The address is subscribed. Deliveries are signed by the hub.", "success")
            return redirect(url_for("clients.webhook_show", subscription_id=subscription.id))
    return render_template(
        "partners/clients/webhook_new.html",
        org=org,
        errors=errors,
        values=values,
        event_options=[(name, name, text) for name, text in webhooks.EVENT_TYPES.items()],
        page_title=f"Subscribe to webhooks for {org.name}",
    )


def _subscription(subscription_id: str, action: str) -> WebhookSubscription:
    """A subscription of an organisation the actor administers."""
    actor = current_actor()
    subscription = webhooks.get_subscription(actor, subscription_id)
    _require_admin(
        actor,
        subscription.organisation,
        action,
        resource_type="webhook_subscription",
        resource_ids=[str(subscription.id)],
    )
    return subscription


@blueprint.get("/webhooks/<subscription_id>")
@signed_in_required
def webhook_show(subscription_id: str) -> Any:
    """One subscription and its delivery log."""
    subscription = _subscription(subscription_id, "webhook.read")
    return render_template(
        "partners/clients/webhook.html",
        subscription=subscription,
        org=subscription.organisation,
        deliveries=webhooks.list_deliveries(
            current_actor(), subscription.organisation, subscription=subscription
        ),
        endpoints=_endpoints(),
        page_title="Webhook subscription",
    )


@blueprint.post("/webhooks/<subscription_id>/withdraw")
@signed_in_required
def webhook_withdraw(subscription_id: str) -> Any:
    """Withdraw a subscription (queued deliveries are cancelled)."""
    subscription = _subscription(subscription_id, "webhook.withdraw")
    webhooks.withdraw(current_actor(), subscription)
    flash("The subscription is withdrawn: nothing more will be sent to it.", "success")
    return redirect(url_for("clients.webhook_show", subscription_id=subscription.id))
