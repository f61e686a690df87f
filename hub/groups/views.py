"""Pages of working groups: convening and membership, the group's page (its meetings and open
actions), actions, and the regional coordinator's dashboard. The meeting pages are in
`hub.groups.meetings.views`, on their own blueprint.

The dashboard discloses what it counts and shows; it commits after rendering so the disclosures
stay audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from agreements.purposes import PURPOSES
from audit.actions import GROUP_ATTENDEE_ADD, GROUP_CREATE, GROUP_LEAVE
from core.errors import ValidationFailed
from core.request import current_actor, signed_in_required
from hub.groups import actions, dashboard, membership, permissions, services
from hub.groups.meetings import views as meeting_pages
from hub.groups.models import ActionStatus, MembershipStatus, WorkingGroup
from hub.groups.web import act, attempt
from hub.records.advisory import returns
from hub.records.advisory import services as advisory

blueprint = Blueprint("groups", __name__, template_folder="templates")

GROUP_FIELDS = ("name", "region", "terms_of_reference", "cadence", "agreement_id")

# A group's page lists its meetings, so its templates read them as the meeting pages do.
blueprint.context_processor(meeting_pages.template_helpers)


def group_url(group: WorkingGroup) -> str:
    return url_for("groups.show", group_id=group.id)


# --- groups -------------------------------------------------------------------------------


@blueprint.get("/groups/")
@signed_in_required
def index() -> Any:
    """The groups the person's organisation belongs to, and invitations awaiting an answer."""
    actor = current_actor()
    groups = services.list_groups(actor)
    return render_template(
        "groups/index.html",
        groups=groups,
        invitations=services.invitations_for(actor),
        can_create=permissions.can_create_group(actor),
        my_actions=actions.dashboard_actions(actor),
        page_title="Working groups",
    )


def _agreement_options(actor: Any) -> list[tuple[str, str]]:
    return [("", "No agreement yet")] + [
        (str(a.id), f"{a.reference} v{a.version}: {a.title} ({a.status.value})")
        for a in services.agreement_choices(actor)
    ]


def _cadence_options() -> list[tuple[str, str]]:
    return [(c.value, label) for c, label in services.CADENCE_LABELS.items()]


@blueprint.route("/groups/new", methods=["GET", "POST"])
@signed_in_required
def new() -> Any:
    """Convene a working group (regional coordinators)."""
    actor = current_actor()
    permissions.require(actor, GROUP_CREATE)
    values: dict[str, Any] = {"region": dashboard.region_of(actor), "cadence": "quarterly"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in GROUP_FIELDS}
        group, errors = attempt(lambda: services.create_group(actor, values))
        if group is not None:
            flash(f"{group.name} has been set up. Invite its member organisations.", "success")
            return redirect(group_url(group))
    return render_template(
        "groups/form.html",
        values=values,
        errors=errors,
        creating=True,
        agreement_options=_agreement_options(actor),
        cadence_options=_cadence_options(),
        page_title="Set up a working group",
    )


@blueprint.get("/groups/<group_id>")
@signed_in_required
def show(group_id: str) -> Any:
    """A group: its terms, members, attendees, agreement, meetings and open actions."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    upcoming, past = services.meetings_of(group)
    manager = permissions.is_manager(actor, group)
    shown = (
        services.memberships(group)
        if manager
        else services.memberships(group, MembershipStatus.ACCEPTED, MembershipStatus.INVITED)
    )
    return render_template(
        "groups/show.html",
        group=group,
        cover=services.coverage(group),
        memberships=shown,
        attendees=services.attendees(group),
        upcoming=upcoming,
        past=past,
        open_actions=actions.list_actions(group, open_only=True),
        manager=manager,
        can_leave=permissions.can_leave(actor, group)
        and str(group.convening_org_id) != actor.org_id,
        can_name=any(
            permissions.can_name_attendees(actor, group, o)
            for o in permissions.member_org_ids(group)
        ),
        page_title=group.name,
    )


@blueprint.route("/groups/<group_id>/edit", methods=["GET", "POST"])
@signed_in_required
def edit(group_id: str) -> Any:
    """Change a group's name, region, terms of reference, cadence or agreement."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    services.require_manager(actor, group, "group.update")
    values: dict[str, Any] = {
        "name": group.name,
        "region": group.region,
        "terms_of_reference": group.terms_of_reference,
        "cadence": group.cadence.value,
        "agreement_id": str(group.agreement_id or ""),
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in GROUP_FIELDS}
        done, errors = attempt(lambda: services.update_group(actor, group, values))
        if done is not None:
            flash("The group's details have been updated.", "success")
            return redirect(group_url(group))
    options = _agreement_options(actor)
    if group.agreement is not None and str(group.agreement_id) not in {v for v, _ in options}:
        current = group.agreement
        options.append(
            (str(current.id), f"{current.reference} v{current.version}: {current.title}")
        )
    return render_template(
        "groups/form.html",
        values=values,
        errors=errors,
        creating=False,
        group=group,
        agreement_options=options,
        cadence_options=_cadence_options(),
        page_title=f"Change {group.name}",
    )


@blueprint.route("/groups/<group_id>/convenor", methods=["GET", "POST"])
@signed_in_required
def convenor(group_id: str) -> Any:
    """Hand the group to another coordinator (a convenor is replaced, never just removed)."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    services.require_manager(actor, group, "group.convenor.change")
    errors: dict[str, list[str]] = {}
    chosen = str(group.convenor_id)
    if request.method == "POST":
        chosen = request.form.get("convenor_id", "")
        done, errors = attempt(
            lambda: services.change_convenor(actor, group, {"convenor_id": chosen})
        )
        if done is not None:
            flash(f"{group.convenor.name} now convenes the group.", "success")
            return redirect(group_url(group))
    options = [("", "Choose the new convenor")] + [
        (str(p.id), f"{p.name}, {p.organisation.name}") for p in services.convenor_choices(group)
    ]
    return render_template(
        "groups/convenor.html",
        group=group,
        errors=errors,
        options=options,
        chosen=chosen,
        page_title="Change the convenor",
    )


@blueprint.route("/groups/<group_id>/invite", methods=["GET", "POST"])
@signed_in_required
def invite(group_id: str) -> Any:
    """Invite an organisation to join (its administrator answers)."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    services.require_manager(actor, group, "group.invite")
    errors: dict[str, list[str]] = {}
    chosen = ""
    if request.method == "POST":
        chosen = request.form.get("organisation_id", "")
        invited, errors = attempt(
            lambda: membership.invite(actor, group, {"organisation_id": chosen})
        )
        if invited is not None:
            flash(
                f"{invited.organisation.name} has been invited. Its administrator will accept "
                "or decline.",
                "success",
            )
            return redirect(group_url(group))
    cover = services.coverage(group)
    parties = (
        {str(p.organisation_id) for p in cover.agreement.parties} if cover.agreement else set()
    )
    organisations = membership.invitable_organisations(group)
    options = [("", "Choose an organisation")] + [
        (
            str(o.id),
            o.name if str(o.id) in parties else f"{o.name} (not a party to the agreement)",
        )
        for o in organisations
    ]
    return render_template(
        "groups/invite.html",
        group=group,
        errors=errors,
        options=options,
        chosen=chosen,
        cover=cover,
        page_title=f"Invite an organisation to {group.name}",
    )


@blueprint.route("/groups/<group_id>/invitation", methods=["GET", "POST"])
@signed_in_required
def invitation(group_id: str) -> Any:
    """An invitation to the person's organisation: what the group is, and the answer."""
    actor = current_actor()
    group = services.get_invitation(actor, group_id)
    if permissions.can_view(actor, group):
        return redirect(group_url(group))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        answer = request.form.get("answer", "")
        if answer not in {"accept", "decline"}:
            errors = {"answer": ["Choose whether your organisation joins the group."]}
        else:
            done, errors = attempt(lambda: membership.respond(actor, group, answer == "accept"))
            if done is not None:
                if answer == "accept":
                    flash(f"Your organisation is now a member of {group.name}.", "success")
                    if permissions.can_view(actor, group):
                        return redirect(group_url(group))
                else:
                    flash(f"Your organisation declined to join {group.name}.", "success")
                return redirect(url_for("groups.index"))
    return render_template(
        "groups/invitation.html",
        group=group,
        errors=errors,
        cover=services.coverage(group),
        members=services.members(group),
        can_respond=permissions.can_respond(actor, group),
        page_title=f"Invitation to join {group.name}",
    )


@blueprint.route("/groups/<group_id>/leave", methods=["GET", "POST"])
@signed_in_required
def leave(group_id: str) -> Any:
    """Take the person's organisation out of the group (access ends at once)."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    permissions.require(actor, GROUP_LEAVE, group)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        done, errors = attempt(lambda: membership.leave(actor, group))
        if done is not None:
            flash(
                f"Your organisation has left {group.name}; its people no longer see the group.",
                "success",
            )
            return redirect(url_for("groups.index"))
    return render_template(
        "groups/leave.html",
        group=group,
        errors=errors,
        convening=str(group.convening_org_id) == actor.org_id,
        page_title=f"Leave {group.name}",
    )


@blueprint.post("/groups/<group_id>/members/<org_id>/remove")
@signed_in_required
def remove_member(group_id: str, org_id: str) -> Any:
    """Remove a member organisation, or withdraw an invitation."""
    group = services.get_group(current_actor(), group_id)
    return act(
        lambda: membership.remove_member(current_actor(), group, org_id),
        "The organisation is no longer a member; its people no longer see the group.",
        group_url(group),
    )


@blueprint.route("/groups/<group_id>/attendees", methods=["GET", "POST"])
@signed_in_required
def attendees(group_id: str) -> Any:
    """Name the people who attend for member organisations."""
    actor = current_actor()
    group = services.get_group(actor, group_id)
    errors: dict[str, list[str]] = {}
    chosen = ""
    if request.method == "POST":
        chosen = request.form.get("person_id", "")
        person, errors = attempt(
            lambda: membership.add_attendee(actor, group, {"person_id": chosen})
        )
        if person is not None:
            flash(f"{person.name} is now a named attendee.", "success")
            return redirect(url_for("groups.attendees", group_id=group.id))
    choices = membership.attendee_choices(actor, group)
    if not choices and request.method == "GET":
        permissions.require(actor, GROUP_ATTENDEE_ADD, group)
    options = [("", "Choose a person")] + [
        (str(p.id), f"{p.name}, {p.organisation.name}") for p in choices
    ]
    removable = {
        p.id
        for p in services.attendees(group)
        if p.id != group.convenor_id
        and permissions.can_name_attendees(actor, group, p.organisation_id)
    }
    return render_template(
        "groups/attendees.html",
        group=group,
        errors=errors,
        options=options,
        chosen=chosen,
        people=services.attendees(group),
        removable=removable,
        page_title=f"Attendees of {group.name}",
    )


@blueprint.post("/groups/<group_id>/attendees/<person_id>/remove")
@signed_in_required
def remove_attendee(group_id: str, person_id: str) -> Any:
    """Stop naming a person as an attendee."""
    group = services.get_group(current_actor(), group_id)
    return act(
        lambda: membership.remove_attendee(current_actor(), group, person_id),
        "The person is no longer a named attendee.",
        url_for("groups.attendees", group_id=group.id),
    )


# --- actions ------------------------------------------------------------------------------


@blueprint.route("/groups/actions/<action_id>", methods=["GET", "POST"])
@signed_in_required
def action(action_id: str) -> Any:
    """An action, its updates, and (for those who may) a form to record progress."""
    actor = current_actor()
    found = actions.get_action(actor, action_id)
    values: dict[str, Any] = {"status": found.status.value}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in ("status", "note")}
        done, errors = attempt(lambda: actions.update_action(actor, found, values))
        if done is not None:
            flash("The action has been updated.", "success")
            return redirect(url_for("groups.action", action_id=found.id))
    return render_template(
        "groups/action.html",
        group=found.group,
        item=found,
        values=values,
        errors=errors,
        can_update=permissions.can_update_action(actor, found),
        status_options=[(s.value, actions.STATUS_LABELS[s]) for s in ActionStatus],
        page_title=found.title,
    )


# --- the regional dashboard ---------------------------------------------------------------


@blueprint.get("/region")
@signed_in_required
def region() -> Any:
    """The coordinator's regional dashboard."""
    actor = current_actor()
    dashboard.require_dashboard(actor)
    errors: dict[str, list[str]] = {}
    args = {
        "purpose": request.args.get("purpose", ""),
        "basis": request.args.get("basis", ""),
        "year": request.args.get("year", ""),
    }
    try:
        purpose = dashboard.read_purpose(args["purpose"])
        basis, year = returns.read_args(args["basis"], args["year"], advisory.local_today())
    except ValidationFailed as exc:
        errors = exc.errors
        purpose = None
        basis, year = returns.read_args(None, None, advisory.local_today())
    board = dashboard.regional_dashboard(actor, purpose, basis, year)
    page = render_template(
        "groups/region.html",
        board=board,
        errors=errors,
        values={"purpose": purpose or "", "basis": basis, "year": year},
        purpose_options=[("", "Choose a purpose")] + [(p, PURPOSES[p]) for p in dashboard.PURPOSES],
        outcome_series=dashboard.OUTCOME_SERIES,
        reason_series=dashboard.REASON_SERIES,
        page_title=f"{board.region} regional dashboard",
    )
    return page
