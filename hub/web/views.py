"""Sign-in, second factor, enrolment, sign-out, the dashboard and the API docs page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import segno
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
from flask_wtf import FlaskForm

from agreements import lifecycle as agreements_lifecycle
from agreements import permissions as agreements_permissions
from audit import permissions as audit_permissions
from audit import services as audit
from audit.actions import SIGN_OUT
from audit.refusals import keep_refusal
from core.documents import long_date, long_moment
from core.errors import ValidationFailed
from core.extensions import sign_in_limit
from core.request import current_actor, safe_next, signed_in_required
from hub.groups import actions as group_actions
from hub.groups import permissions as group_permissions
from hub.records import permissions as records_permissions
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.subject_access import services as subject_access
from hub.web import queues
from partners import signin
from partners.models import ORGANISATION_KIND_LABELS, ROLE_DESCRIPTIONS, ROLE_LABELS, Role

blueprint = Blueprint("web", __name__)

SERVICE_NAME = "Prevent Information Sharing Hub"


class PostForm(FlaskForm):
    """Every form is posted with a CSRF token; fields are read and validated by services."""


@blueprint.app_context_processor
def _layout_context() -> dict[str, Any]:
    settings = current_app.config["HUB_SETTINGS"]
    return {
        "service_name": SERVICE_NAME,
        "navigation": _navigation(),
        "environment_tag": "Demo" if settings.is_development else "Beta",
        "role_labels": {r.value: label for r, label in ROLE_LABELS.items()},
        "long_date": long_date,
        "long_moment": long_moment,
    }


def _navigation() -> list[dict[str, Any]]:
    person = g.get("person")
    if person is None:
        return []
    actor = current_actor()
    items = [("Dashboard", url_for("web.dashboard"))]
    items.append(
        (
            "Organisations" if actor.is_hub_admin else "Partner directory",
            url_for("partners.directory"),
        )
    )
    if actor.has_role("org_admin"):
        items.append((queues.PEOPLE, url_for("partners.organisation", slug=actor.org_slug)))
    if actor.has_role(*records_permissions.READERS) and actor.org_kind != "hub":
        items.append(("Speakers", url_for("speakers.index")))
    if records_permissions.can_read_shared(actor) and actor.org_kind != "hub":
        items.append(("Partners' speakers", url_for("shared.search")))
    if actor.org_kind in records_permissions.HOST_KINDS and actor.has_role(
        *records_permissions.READERS, Role.SENIOR_OFFICER
    ):
        items.append((queues.EVENTS, url_for("events.index")))
    if advisory.can_list(actor):
        items.append((queues.ADVISORY, url_for("advisory.index")))
    if returns.can_view(actor):
        items.append(("Annual return", url_for("returns.annual_return")))
    items.append((queues.AGREEMENTS, url_for("agreements.index")))
    if actor.org_kind != "hub":
        items.append(("Working groups", url_for("groups.index")))
    if group_permissions.can_see_regional_dashboard(actor):
        items.append(("Regional dashboard", url_for("groups.region")))
    if subject_access.can_answer(actor):
        items.append((queues.SUBJECT_ACCESS, url_for("subject_access.index")))
    if audit_permissions.can_read_log(actor):
        items.append((queues.AUDIT_LOG, url_for("audit.home")))
    if actor.org_id:
        items.append((queues.INBOX, url_for("shared.inbox")))
    items.append(("Your account", url_for("web.account")))
    path = request.path
    waiting = queues.counts(actor)
    return [
        {
            "text": text,
            "href": href,
            "count": waiting.get(text, 0),
            "active": path == href or (href != "/" and path.startswith(href)),
        }
        for text, href in items
    ]


# --- sign-in ----------------------------------------------------------------------------


@blueprint.route("/sign-in", methods=["GET", "POST"])
@sign_in_limit()
def sign_in() -> Any:
    """Email and password; then the second factor, or setting one up."""
    if g.get("person") is not None:
        return redirect(safe_next(request.args.get("next")))
    if g.get("pending_person") is not None and request.method == "GET":
        return redirect(url_for("web.second_factor", next=request.args.get("next")))
    form = PostForm()
    errors: dict[str, list[str]] = {}
    email = ""
    if form.validate_on_submit():
        email = (request.form.get("email") or "").strip()
        password = request.form.get("password") or ""
        if not email:
            errors["email"] = ["Enter your email address."]
        if not password:
            errors["password"] = ["Enter your password."]
        if not errors:
            result = signin.authenticate_password(current_actor(), email, password)
            if result.ok:
                person = result.person
                assert person is not None
                # A new session identifier at every sign-in: nothing from before carries over.
                session.clear()
                settings = current_app.config["HUB_SETTINGS"]
                mfa_needed = person.has_mfa or settings.require_mfa
                session["sid"] = signin.start_session(person, mfa_done=not mfa_needed)
                next_url = request.args.get("next")
                if not mfa_needed:
                    return redirect(safe_next(next_url))
                if person.has_mfa:
                    return redirect(url_for("web.second_factor", next=next_url))
                return redirect(url_for("web.setup_second_factor"))
            errors["email"] = [result.message]
    return render_template(
        "web/sign_in.html", form=form, errors=errors, email=email, page_title="Sign in"
    )


@blueprint.route("/sign-in/code", methods=["GET", "POST"])
@sign_in_limit()
def second_factor() -> Any:
    """The code from the person's authenticator app (or one of their recovery codes)."""
    person = g.get("pending_person")
    if person is None:
        return redirect(url_for("web.sign_in"))
    if not person.has_mfa:
        return redirect(url_for("web.setup_second_factor"))
    form = PostForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        code = request.form.get("code") or ""
        if not code.strip():
            errors["code"] = ["Enter the code from your authenticator app."]
        else:
            result = signin.verify_second_factor(_pending_actor(person), person, code)
            if result.ok:
                signin.complete_mfa(g.web_session)
                return redirect(safe_next(request.args.get("next")))
            errors["code"] = [result.message]
    return render_template(
        "web/second_factor.html", form=form, errors=errors, page_title="Enter your security code"
    )


@blueprint.route("/account/two-factor/setup", methods=["GET", "POST"])
def setup_second_factor() -> Any:
    """Set up an authenticator app: a QR code, then a code to confirm, then recovery codes.

    Replacing one the person already has needs them to confirm it is them first."""
    person = g.get("pending_person") or g.get("person")
    if person is None:
        return redirect(url_for("web.sign_in"))
    if person.has_mfa and g.get("pending_person") is not None:
        return redirect(url_for("web.second_factor"))
    if person.has_mfa and not signin.recently_reauthenticated(g.web_session):
        return redirect(url_for("web.reauthenticate"))
    form = PostForm()
    errors: dict[str, list[str]] = {}
    actor = _pending_actor(person) if g.get("person") is None else current_actor()
    if form.validate_on_submit():
        try:
            codes = signin.confirm_totp_enrolment(
                actor, person, request.form.get("code") or "", g.web_session
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            if g.get("web_session") is not None and g.web_session.mfa_at is None:
                signin.complete_mfa(g.web_session)
            return render_template(
                "web/recovery_codes.html", codes=codes, page_title="Your recovery codes"
            )
    secret = signin.pending_totp_secret(person)
    if secret is None or request.method == "GET":
        secret = signin.begin_totp_enrolment(person)
    uri = signin.provisioning_uri(person, secret)
    qr_svg = segno.make(uri, error="m").svg_inline(
        scale=5, title="QR code for your authenticator app"
    )
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render_template(
        "web/setup_second_factor.html",
        form=form,
        errors=errors,
        qr_svg=qr_svg,
        secret=grouped,
        replacing=person.has_mfa,
        page_title="Set up your authenticator app",
    )


@blueprint.route("/account/two-factor/confirm", methods=["GET", "POST"])
@sign_in_limit()
@signed_in_required
def reauthenticate() -> Any:
    """Confirm it is you (password and a current code, or a recovery code) before replacing
    the authenticator app and recovery codes."""
    person = g.person
    if not person.has_mfa:
        return redirect(url_for("web.setup_second_factor"))
    form = PostForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            signin.reauthenticate(
                current_actor(),
                person,
                g.web_session,
                request.form.get("password") or "",
                request.form.get("code") or "",
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            return redirect(url_for("web.setup_second_factor"))
    return render_template(
        "web/reauthenticate.html",
        form=form,
        errors=errors,
        asks_password=person.password_hash is not None,
        page_title="Confirm it is you",
    )


def _pending_actor(person: Any) -> Any:
    """The person mid sign-in acts as themselves for auditing, with no privileges yet."""
    actor = signin.actor_for(
        person, request_id=g.get("request_id"), remote_addr=request.remote_addr
    )
    return replace(actor, roles=frozenset())


@blueprint.post("/sign-out")
def sign_out() -> Any:
    """End the session on the server, so the old cookie is worthless."""
    web_session = signin.end_session(session.get("sid"))
    if web_session is not None:
        audit.record(
            current_actor() if g.get("person") else _pending_actor(web_session.person),
            SIGN_OUT,
            "granted",
            subjects=[("person", str(web_session.person_id))],
        )
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("web.sign_in"))


@blueprint.route("/enrol/<token>", methods=["GET", "POST"])
@sign_in_limit()
def enrol(token: str) -> Any:
    """A one-time link: choose a password, then set up the authenticator app."""
    person = signin.person_for_enrolment(token)
    if person is None:
        return render_template("web/enrol_expired.html", page_title="This link has expired"), 404
    form = PostForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            person = signin.complete_enrolment(
                current_actor(),
                token,
                request.form.get("password") or "",
                request.form.get("confirm") or "",
            )
        except ValidationFailed as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors or {"password": [exc.detail]}
        else:
            session.clear()
            session["sid"] = signin.start_session(person, mfa_done=False)
            return redirect(url_for("web.setup_second_factor"))
    return render_template(
        "web/enrol.html", form=form, errors=errors, person=person, page_title="Choose your password"
    )


# --- signed-in pages --------------------------------------------------------------------


@blueprint.get("/")
@signed_in_required
def dashboard() -> Any:
    """The person's organisation, roles, and what those roles let them do."""
    actor = current_actor()
    roles = [Role(r) for r in sorted(actor.roles)]
    abilities = [(ROLE_LABELS[r], ROLE_DESCRIPTIONS[r]) for r in roles]
    work = queues.queues_for(actor, dashboard=True)
    return render_template(
        "web/dashboard.html",
        person=g.person,
        abilities=abilities,
        tasks=_tasks(actor),
        work=work,
        waiting=queues.waiting(work),
        advisory_items=[i for i in queues.advisory_items(actor) if not i.yours],
        review_items=agreements_lifecycle.due_reviews(actor),
        group_actions=group_actions.dashboard_actions(actor),
        kind_label=ORGANISATION_KIND_LABELS[g.person.organisation.kind],
        page_title="Dashboard",
    )


def _tasks(actor: Any) -> list[tuple[str, str]]:
    """Links to what the actor's roles let them do, most specific first."""
    tasks = []
    if actor.is_hub_admin:
        tasks.append(("Add an organisation", url_for("partners.new_organisation")))
    if actor.has_role("org_admin"):
        tasks.append(
            (
                "Add a person to your organisation",
                url_for("partners.new_person", slug=actor.org_slug),
            )
        )
        tasks.append(
            (
                "Manage your organisation's people",
                url_for("partners.organisation", slug=actor.org_slug),
            )
        )
    if advisory.can_submit(actor):
        tasks.append(("Ask the regional coordinator about a speaker", url_for("advisory.new")))
    if advisory.can_list(actor):
        tasks.append(("See advisory requests", url_for("advisory.index")))
    if returns.can_view(actor):
        tasks.append(("See the annual return", url_for("returns.annual_return")))
    if group_permissions.can_see_regional_dashboard(actor):
        tasks.append(("See the regional dashboard", url_for("groups.region")))
    if group_permissions.can_create_group(actor):
        tasks.append(("Convene a working group", url_for("groups.new")))
    if agreements_permissions.can_create(actor) and actor.org_kind != "hub":
        tasks.append(("Draft a data-sharing agreement", url_for("agreements.new")))
    tasks.append(("See your data-sharing agreements", url_for("agreements.index")))
    if audit_permissions.can_read_log(actor):
        tasks.append(("Review who accessed what in the audit log", url_for("audit.home")))
        tasks.append(("Check for unusual access", url_for("audit.activity")))
    if subject_access.can_answer(actor):
        tasks.append(("Answer a subject access request", url_for("shared.subject_access_index")))
    tasks.append(("Browse the partner directory", url_for("partners.directory")))
    tasks.append(("Manage your sign-in settings", url_for("web.account")))
    return tasks


@blueprint.get("/account")
@signed_in_required
def account() -> Any:
    """The person's own sign-in settings."""
    return render_template(
        "web/account.html",
        person=g.person,
        recovery_left=signin.remaining_recovery_codes(g.person),
        page_title="Your account",
    )


@blueprint.get("/api/docs")
def api_docs() -> Any:
    """Swagger UI over the OpenAPI document, served from the hub itself."""
    return render_template("web/api_docs.html", page_title="API documentation")
