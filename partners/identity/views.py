"""Pages: an organisation's identity provider settings, and signing in with it."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from audit.refusals import keep_refusal
from core.errors import ValidationFailed
from core.extensions import limiter, limits_off, sign_in_limit
from core.request import current_actor, safe_next, signed_in_required
from core.validation import normalise_email
from partners import services as partners_services
from partners import signin
from partners.identity import services
from partners.identity.models import IdentityProvider, ProviderClientAuth, RolePolicy
from partners.models import ROLE_KINDS, ROLE_LABELS

blueprint = Blueprint("identity", __name__, template_folder="templates")

CALLBACK_PATH = "/sign-in/oidc/callback"
SESSION_STATE_KEY = "oidc_state"
FORM_FIELDS = (
    "issuer",
    "client_id",
    "client_auth_method",
    "client_secret",
    "private_key",
    "allowed_domains",
    "scopes",
    "role_policy",
    "role_claim",
    "role_mapping",
    "enabled",
)


def callback_url() -> str:
    """The redirect URI every organisation registers with its provider."""
    return current_app.config["HUB_SETTINGS"].base_url.rstrip("/") + CALLBACK_PATH


# --- configuration ----------------------------------------------------------------------


def _values(provider: IdentityProvider | None) -> dict[str, Any]:
    if provider is None:
        return {
            "client_auth_method": ProviderClientAuth.CLIENT_SECRET_BASIC.value,
            "role_policy": RolePolicy.HUB.value,
            "scopes": services.DEFAULT_SCOPES,
            "enabled": "yes",
        }
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_auth_method": provider.client_auth_method.value,
        "allowed_domains": "\n".join(provider.domain_list),
        "scopes": provider.scopes,
        "role_policy": provider.role_policy.value,
        "role_claim": provider.role_claim or "",
        "role_mapping": services.format_role_mapping(provider.role_mapping or {}),
        "enabled": "yes" if provider.enabled else "no",
    }


@blueprint.route("/organisations/<slug>/identity-provider", methods=["GET", "POST"])
@signed_in_required
def configure(slug: str) -> Any:
    """Set up (or change) the identity provider the organisation's people sign in with."""
    actor = current_actor()
    org = partners_services.get_organisation(slug)
    services.check_can_configure(actor, org)  # refused and audited
    provider = services.get_provider(org)
    values = _values(provider)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in FORM_FIELDS}
        try:
            services.configure_provider(actor, org, values)
        except ValidationFailed as exc:
            keep_refusal(actor, exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            flash(
                f"{org.name}'s people can now sign in with their organisation's account."
                if values.get("enabled") != "no"
                else "The identity provider is saved, but sign-in with it is turned off.",
                "success",
            )
            return redirect(url_for("identity.configure", slug=org.slug))
        values["client_secret"] = values["private_key"] = ""  # never echoed back
    role_labels = [
        (role.value, label) for role, label in ROLE_LABELS.items() if org.kind in ROLE_KINDS[role]
    ]
    return render_template(
        "identity/configure.html",
        org=org,
        provider=provider,
        values=values,
        errors=errors,
        callback_url=callback_url(),
        role_labels=role_labels,
        page_title=f"Organisation sign-in for {org.name}",
    )


@blueprint.post("/organisations/<slug>/identity-provider/remove")
@signed_in_required
def remove(slug: str) -> Any:
    """Stop trusting the organisation's identity provider."""
    org = partners_services.get_organisation(slug)
    services.remove_provider(current_actor(), org)
    flash("The identity provider has been removed. People sign in with a password.", "success")
    return redirect(url_for("identity.configure", slug=org.slug))


# --- signing in -------------------------------------------------------------------------


def _refused(exc: services.SignInRefused) -> Any:
    """Audit a refused sign-in on its own (after undoing the request's changes) and explain."""
    if exc.audit is None or "action" not in exc.audit:
        exc.audit = {"action": services.ACTION, **(exc.audit or {})}
    keep_refusal(current_actor(), exc, outcome="failed")
    session.pop(SESSION_STATE_KEY, None)
    return (
        render_template(
            "identity/refused.html",
            detail=exc.detail,
            reason=exc.reason,
            page_title="You could not be signed in",
        ),
        403,
    )


def _start(provider: IdentityProvider, login_hint: str = "") -> Any:
    try:
        url, state = services.begin_sign_in(
            current_actor(),
            provider,
            redirect_uri=callback_url(),
            next_url=safe_next(request.args.get("next")),
            login_hint=login_hint,
        )
    except services.SignInRefused as exc:
        return _refused(exc)
    session[SESSION_STATE_KEY] = state  # binds the answer to this browser
    return redirect(url)


@blueprint.route("/sign-in/organisation", methods=["GET", "POST"])
@sign_in_limit()
def sign_in() -> Any:
    """Sign in with your organisation's account: find the organisation by email domain."""
    if g.get("person") is not None:
        return redirect(safe_next(request.args.get("next")))
    errors: dict[str, list[str]] = {}
    email = ""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()
        try:
            normalised = normalise_email(email) if email else ""
        except ValidationFailed:
            normalised = ""
        if not email:
            errors["email"] = ["Enter your work email address."]
        elif not normalised:
            errors["email"] = [
                "Enter your email address in the correct format, like name@example.ac.uk."
            ]
        else:
            # A domain belongs to one organisation, so an address leads to one provider.
            provider = services.provider_for_email(normalised)
            if provider is None:
                errors["email"] = [
                    "Your organisation has not set up signing in with its own accounts. "
                    "Sign in with your email address and password instead."
                ]
            else:
                return _start(provider, login_hint=normalised)
    page = render_template(
        "identity/sign_in.html",
        errors=errors,
        email=email,
        page_title="Sign in with your organisation's account",
    )
    g.csp_form_action = _form_action_sources()
    return page, 200


def _form_action_sources() -> str:
    """This page's form is answered with a redirect to the organisation's provider, and
    browsers apply `form-action` to that redirect too; which provider is only known once the
    email is in, so the page allows https destinations (and loopback http in development).
    Every other page keeps `form-action 'self'`."""
    allowed = "'self' https:"
    if current_app.config["HUB_SETTINGS"].is_development:
        allowed += " http://127.0.0.1:* http://localhost:*"
    return allowed


@blueprint.get("/sign-in/organisation/<slug>")
def sign_in_for(slug: str) -> Any:
    """Start signing in with one organisation's provider (a link the organisation shares)."""
    if g.get("person") is not None:
        return redirect(safe_next(request.args.get("next")))
    provider = services.provider_for_organisation(slug)
    if provider is None:
        flash("That organisation has not set up signing in with its own accounts.", "error")
        return redirect(url_for("identity.sign_in"))
    return _start(provider)


@blueprint.get(CALLBACK_PATH)
@limiter.limit("30 per minute", exempt_when=limits_off)
def callback() -> Any:
    """Where the provider sends the person back: check everything, then sign them in."""
    actor = current_actor()
    browser_state = session.get(SESSION_STATE_KEY)
    try:
        attempt = services.consume_state(actor, request.args.get("state", ""), browser_state)
    except services.SignInRefused as exc:
        return _refused(exc)
    try:
        signed_in = services.complete_sign_in(
            actor,
            attempt,
            code=request.args.get("code"),
            iss=request.args.get("iss"),
            error=request.args.get("error"),
        )
    except services.SignInRefused as exc:
        return _refused(exc)
    person = signed_in.person
    # Exactly as after a password: a new session identifier, nothing carried over.
    session.clear()
    settings = current_app.config["HUB_SETTINGS"]
    mfa_needed = not signed_in.mfa_satisfied and (person.has_mfa or settings.require_mfa)
    session["sid"] = signin.start_session(person, mfa_done=not mfa_needed)
    next_url = safe_next(signed_in.next_url)
    if not mfa_needed:
        return redirect(next_url)
    if person.has_mfa:
        return redirect(url_for("web.second_factor", next=next_url))
    return redirect(url_for("web.setup_second_factor"))
