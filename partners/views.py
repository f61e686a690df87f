"""Pages of the partners directory: organisations for hub administrators, people for org admins."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from audit.actions import ORGANISATION_CREATE, ORGANISATION_UPDATE, PERSON_CREATE, PERSON_UPDATE
from audit.refusals import keep_refusal
from core.errors import Conflict, ValidationFailed
from core.request import current_actor, signed_in_required
from partners import lockout, permissions, services
from partners.identity import services as identity
from partners.mail import enrolment as enrolment_mail
from partners.models import (
    ORGANISATION_KIND_LABELS,
    ROLE_DESCRIPTIONS,
    ROLE_KINDS,
    ROLE_LABELS,
    OrganisationKind,
    Status,
)

blueprint = Blueprint("partners", __name__, template_folder="templates")

ORGANISATION_FIELDS = ("name", "slug", "kind", "region", "dp_contact_name", "dp_contact_email")


def _kind_options() -> list[tuple[str, str]]:
    return [(kind.value, ORGANISATION_KIND_LABELS[kind]) for kind in OrganisationKind]


def _role_options(kind: OrganisationKind) -> list[tuple[str, str, str]]:
    return [
        (role.value, ROLE_LABELS[role], ROLE_DESCRIPTIONS[role])
        for role in ROLE_LABELS
        if kind in ROLE_KINDS[role]
    ]


@blueprint.get("/organisations")
@signed_in_required
def directory() -> Any:
    """Every partner organisation, with its data protection contact."""
    actor = current_actor()
    organisations = services.list_organisations(actor)
    return render_template(
        "partners/directory.html",
        organisations=organisations,
        kind_labels=ORGANISATION_KIND_LABELS,
        can_manage=permissions.can_manage_organisations(actor),
        page_title="Organisations" if actor.is_hub_admin else "Partner directory",
    )


@blueprint.route("/organisations/new", methods=["GET", "POST"])
@signed_in_required
def new_organisation() -> Any:
    """Add an organisation (hub administrators)."""
    actor = current_actor()
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    permissions.require(actor, ORGANISATION_CREATE)
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in ORGANISATION_FIELDS}
        try:
            organisation = services.create_organisation(actor, values)
        except ValidationFailed as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors
        else:
            flash(f"{organisation.name} has been added.", "success")
            return redirect(url_for("partners.organisation", slug=organisation.slug))
    return render_template(
        "partners/organisation_form.html",
        errors=errors,
        values=values,
        kind_options=_kind_options(),
        creating=True,
        page_title="Add an organisation",
    )


@blueprint.get("/organisations/<slug>")
@signed_in_required
def organisation(slug: str) -> Any:
    """An organisation's details; its people for its own staff and hub administrators."""
    actor = current_actor()
    org = services.get_organisation(slug)
    people = services.list_people(actor, org) if permissions.can_view_people(actor, org) else None
    can_manage_people = permissions.can_manage_people(actor, org)
    return render_template(
        "partners/organisation.html",
        org=org,
        people=people,
        locks=lockout.locked_out(people) if people and can_manage_people else {},
        kind_label=ORGANISATION_KIND_LABELS[org.kind],
        can_manage_org=permissions.can_manage_organisations(actor),
        can_manage_people=can_manage_people,
        organisation_sign_in=identity.provider_for_organisation(org.slug) is not None,
        page_title=org.name,
    )


@blueprint.route("/organisations/<slug>/edit", methods=["GET", "POST"])
@signed_in_required
def edit_organisation(slug: str) -> Any:
    """Change an organisation's name, region or data protection contact."""
    actor = current_actor()
    org = services.get_organisation(slug)
    values = {key: getattr(org, key) for key in ORGANISATION_FIELDS}
    errors: dict[str, list[str]] = {}
    permissions.require(actor, ORGANISATION_UPDATE, resource_id=org.id)
    if request.method == "POST":
        values.update(
            {
                key: request.form.get(key, "")
                for key in ORGANISATION_FIELDS
                if key not in {"slug", "kind"}
            }
        )
        try:
            services.update_organisation(actor, org, values)
        except ValidationFailed as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors
        else:
            flash("The organisation's details have been updated.", "success")
            return redirect(url_for("partners.organisation", slug=org.slug))
    return render_template(
        "partners/organisation_form.html",
        errors=errors,
        values=values,
        kind_options=_kind_options(),
        creating=False,
        org=org,
        page_title=f"Edit {org.name}",
    )


@blueprint.post("/organisations/<slug>/status")
@signed_in_required
def organisation_status(slug: str) -> Any:
    """Suspend or reactivate an organisation."""
    org = services.get_organisation(slug)
    status = _status_from_form()
    try:
        services.set_organisation_status(current_actor(), org, status)
    except Conflict as exc:
        keep_refusal(current_actor(), exc)
        flash(exc.detail, "error")
        return redirect(url_for("partners.organisation", slug=slug))
    word = (
        "suspended: its people are signed out and cannot sign in"
        if status == Status.SUSPENDED
        else "reactivated"
    )
    flash(f"{org.name} has been {word}.", "success")
    return redirect(url_for("partners.organisation", slug=slug))


@blueprint.route("/organisations/<slug>/people/new", methods=["GET", "POST"])
@signed_in_required
def new_person(slug: str) -> Any:
    """Add a person to an organisation and email them their one-time sign-in link."""
    actor = current_actor()
    org = services.get_organisation(slug)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"roles": []}
    permissions.require(actor, PERSON_CREATE, org, resource_id=org.id)
    if request.method == "POST":
        values = {
            "name": request.form.get("name", ""),
            "email": request.form.get("email", ""),
            "roles": request.form.getlist("roles"),
        }
        try:
            new = services.create_person(actor, org, values)
        except (ValidationFailed, Conflict) as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            link = _enrolment_url(new.enrolment_token)
            enrolment_mail.send_link(
                new.person, link, first=True, days=services.ENROLMENT_LIFETIME.days
            )
            return render_template(
                "partners/enrolment_link.html",
                person=new.person,
                link=link,
                created=True,
                page_title="Person added",
            )
    return render_template(
        "partners/person_form.html",
        errors=errors,
        values=values,
        org=org,
        role_options=_role_options(org.kind),
        creating=True,
        page_title=f"Add a person to {org.name}",
    )


@blueprint.route("/people/<person_id>/edit", methods=["GET", "POST"])
@signed_in_required
def edit_person(person_id: str) -> Any:
    """Change a person's name and roles."""
    actor = current_actor()
    person = services.get_person(person_id)
    org = person.organisation
    values: dict[str, Any] = {
        "name": person.name,
        "email": person.email,
        "roles": sorted(person.roles),
    }
    errors: dict[str, list[str]] = {}
    permissions.require(actor, PERSON_UPDATE, org, resource_type="person", resource_id=person.id)
    if request.method == "POST":
        values.update(
            {"name": request.form.get("name", ""), "roles": request.form.getlist("roles")}
        )
        try:
            services.update_person(actor, person, values)
        except (ValidationFailed, Conflict) as exc:
            keep_refusal(current_actor(), exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            flash(f"{person.name}'s details have been updated.", "success")
            return redirect(url_for("partners.organisation", slug=org.slug))
    return render_template(
        "partners/person_form.html",
        errors=errors,
        values=values,
        org=org,
        person=person,
        role_options=_role_options(org.kind),
        creating=False,
        page_title=f"Change {person.name}",
    )


@blueprint.post("/people/<person_id>/status")
@signed_in_required
def person_status(person_id: str) -> Any:
    """Suspend or reactivate a person."""
    person = services.get_person(person_id)
    status = _status_from_form()
    try:
        services.set_person_status(current_actor(), person, status)
    except Conflict as exc:
        keep_refusal(current_actor(), exc)
        flash(exc.detail, "error")
        return redirect(url_for("partners.organisation", slug=person.organisation.slug))
    word = "suspended and signed out" if status == Status.SUSPENDED else "reactivated"
    flash(f"{person.name} has been {word}.", "success")
    return redirect(url_for("partners.organisation", slug=person.organisation.slug))


@blueprint.post("/people/<person_id>/unlock")
@signed_in_required
def person_unlock(person_id: str) -> Any:
    """Lift a person's sign-in lock before it runs out."""
    person = services.get_person(person_id)
    if services.unlock_person(current_actor(), person):
        flash(f"{person.name} can sign in again.", "success")
    else:
        flash(f"{person.name} was not locked out.", "success")
    return redirect(url_for("partners.organisation", slug=person.organisation.slug))


@blueprint.post("/people/<person_id>/enrolment-link")
@signed_in_required
def person_enrolment_link(person_id: str) -> Any:
    """A new one-time link for a person who forgot their password or lost their device."""
    person = services.get_person(person_id)
    token = services.issue_enrolment_link(current_actor(), person)
    link = _enrolment_url(token)
    enrolment_mail.send_link(person, link, first=False, days=services.ENROLMENT_LIFETIME.days)
    return render_template(
        "partners/enrolment_link.html",
        person=person,
        link=link,
        created=False,
        page_title="New sign-in link",
    )


def _status_from_form() -> Status:
    value = request.form.get("status", "")
    try:
        return Status(value)
    except ValueError as exc:
        raise ValidationFailed(
            "Choose active or suspended.", errors={"status": ["Choose active or suspended."]}
        ) from exc


def _enrolment_url(token: str) -> str:
    base = current_app.config["HUB_SETTINGS"].base_url.rstrip("/")
    return f"{base}{url_for('web.enrol', token=token)}"
