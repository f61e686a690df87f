"""Working groups over the JSON API: the same services as the pages, session-authenticated.

Partner systems (OAuth clients) are refused with 403: none of the token scopes covers working
groups (no operation declares one), and a group's case items are shown to named people of
member organisations only.
Groups, their members and attendees, their actions and the regional dashboard are here;
meetings are in `hub.groups.meetings.api`, on their own blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.views import MethodView

from core.api import Blueprint
from core.request import current_actor
from hub.groups import actions, dashboard, membership, services
from hub.groups.api_common import CONFLICT, DECORATORS, FORBIDDEN, INVALID, NOT_FOUND
from hub.groups.models import WorkingGroup
from hub.groups.schemas import (
    ActionSchema,
    ActionUpdateSchema,
    AttendeeCreateSchema,
    ConvenorSchema,
    DashboardArgsSchema,
    DashboardSchema,
    GroupCreateSchema,
    GroupDetailSchema,
    GroupSchema,
    InvitationAnswerSchema,
    InvitationCreateSchema,
    MembershipSchema,
)
from hub.records.advisory import returns
from hub.records.advisory import services as advisory

blueprint = Blueprint(
    "groups-api",
    __name__,
    url_prefix="/api/v1",
    description="Regional working groups: members, attendees, actions and the regional dashboard.",
)


@dataclass
class GroupDetail:
    """A group as the API shows it: its own fields, with every membership by organisation
    name, the current named attendees and whether its agreement covers the members now."""

    group: WorkingGroup
    memberships: list[Any]
    attendees: list[Any]
    coverage: services.Coverage

    def __getattr__(self, name: str) -> Any:
        return getattr(self.group, name)


def _group_detail(group: WorkingGroup) -> GroupDetail:
    return GroupDetail(
        group, services.memberships(group), services.attendees(group), services.coverage(group)
    )


# --- groups -------------------------------------------------------------------------------


@blueprint.route("/groups")
class Groups(MethodView):
    """Working groups."""

    decorators = DECORATORS

    @blueprint.response(200, GroupSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self) -> Any:
        """List the groups the caller's organisation belongs to."""
        return services.list_groups(current_actor())

    @blueprint.arguments(GroupCreateSchema)
    @blueprint.response(201, GroupDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]) -> Any:
        """Convene a working group (regional coordinators)."""
        group = services.create_group(current_actor(), data)
        return _group_detail(group)


@blueprint.route("/groups/<group_id>")
class GroupById(MethodView):
    """One working group."""

    decorators = DECORATORS

    @blueprint.response(200, GroupDetailSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, group_id: str) -> Any:
        """Read a group: members, attendees and whether its agreement covers them."""
        return _group_detail(services.get_group(current_actor(), group_id))

    @blueprint.arguments(GroupCreateSchema)
    @blueprint.response(200, GroupDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], group_id: str) -> Any:
        """Change a group's name, region, terms of reference, cadence or agreement."""
        actor = current_actor()
        group = services.update_group(actor, services.get_group(actor, group_id), data)
        return _group_detail(group)


@blueprint.route("/groups/<group_id>/convenor")
class GroupConvenor(MethodView):
    """The group's convenor."""

    decorators = DECORATORS

    @blueprint.arguments(ConvenorSchema)
    @blueprint.response(200, GroupDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], group_id: str) -> Any:
        """Hand the group to another coordinator (the new convenor must be named)."""
        actor = current_actor()
        group = services.change_convenor(actor, services.get_group(actor, group_id), data)
        return _group_detail(group)


@blueprint.route("/groups/<group_id>/invitations")
class GroupInvitations(MethodView):
    """Invitations to join a group."""

    decorators = DECORATORS

    @blueprint.arguments(InvitationCreateSchema)
    @blueprint.response(201, MembershipSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], group_id: str) -> Any:
        """Invite an organisation (its administrator answers)."""
        actor = current_actor()
        invited = membership.invite(actor, services.get_group(actor, group_id), data)
        return invited


@blueprint.route("/groups/<group_id>/membership")
class GroupMembershipOfCaller(MethodView):
    """The caller's organisation's place in a group."""

    decorators = DECORATORS

    @blueprint.arguments(InvitationAnswerSchema)
    @blueprint.response(200, MembershipSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    def post(self, data: dict[str, Any], group_id: str) -> Any:
        """Accept or decline the invitation (the invited organisation's administrator)."""
        actor = current_actor()
        group = services.get_invitation(actor, group_id)
        answered = membership.respond(actor, group, data["answer"] == "accept")
        return answered

    @blueprint.response(200, MembershipSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def delete(self, group_id: str) -> Any:
        """Leave the group (a member organisation's administrator); access ends at once."""
        actor = current_actor()
        left = membership.leave(actor, services.get_group(actor, group_id))
        return left


@blueprint.route("/groups/<group_id>/members/<org_id>")
class GroupMember(MethodView):
    """A member organisation."""

    decorators = DECORATORS

    @blueprint.response(200, MembershipSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def delete(self, group_id: str, org_id: str) -> Any:
        """Remove a member organisation, or withdraw its invitation."""
        actor = current_actor()
        removed = membership.remove_member(actor, services.get_group(actor, group_id), org_id)
        return removed


@blueprint.route("/groups/<group_id>/attendees")
class GroupAttendees(MethodView):
    """Named attendees."""

    decorators = DECORATORS

    @blueprint.arguments(AttendeeCreateSchema)
    @blueprint.response(201, GroupDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], group_id: str) -> Any:
        """Name a person of a member organisation as an attendee."""
        actor = current_actor()
        group = services.get_group(actor, group_id)
        membership.add_attendee(actor, group, data)
        return _group_detail(group)


@blueprint.route("/groups/<group_id>/attendees/<person_id>")
class GroupAttendeeById(MethodView):
    """One named attendee."""

    decorators = DECORATORS

    @blueprint.response(204)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def delete(self, group_id: str, person_id: str) -> Any:
        """Stop naming a person as an attendee (never the convenor)."""
        actor = current_actor()
        membership.remove_attendee(actor, services.get_group(actor, group_id), person_id)
        return None


# --- actions ------------------------------------------------------------------------------


@blueprint.route("/groups/<group_id>/actions")
class GroupActions(MethodView):
    """A group's actions."""

    decorators = DECORATORS

    @blueprint.response(200, ActionSchema(many=True))
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, group_id: str) -> Any:
        """List a group's actions, soonest due first."""
        return actions.list_actions(services.get_group(current_actor(), group_id))


@blueprint.route("/actions/<action_id>")
class ActionById(MethodView):
    """One action."""

    decorators = DECORATORS

    @blueprint.response(200, ActionSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, action_id: str) -> Any:
        """Read an action."""
        return actions.get_action(current_actor(), action_id)


@blueprint.route("/actions/<action_id>/updates")
class ActionUpdates(MethodView):
    """Progress on an action."""

    decorators = DECORATORS

    @blueprint.arguments(ActionUpdateSchema)
    @blueprint.response(201, ActionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], action_id: str) -> Any:
        """Record progress: a note, a new status, or both."""
        action = actions.get_action(current_actor(), action_id)
        actions.update_action(current_actor(), action, data)
        return action


# --- the regional dashboard ---------------------------------------------------------------


@blueprint.route("/region/dashboard")
class RegionDashboard(MethodView):
    """The regional coordinator's dashboard."""

    decorators = DECORATORS

    @blueprint.arguments(DashboardArgsSchema, location="query")
    @blueprint.response(200, DashboardSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def get(self, args: dict[str, Any]) -> Any:
        """The region's figures, computed only over what the coordinator may see."""
        actor = current_actor()
        dashboard.require_dashboard(actor)
        purpose = dashboard.read_purpose(args.get("purpose"))
        basis, year = returns.read_args(
            args.get("basis") or None, args.get("year") or None, advisory.local_today()
        )
        board = dashboard.regional_dashboard(actor, purpose, basis, year)
        return dashboard.as_dict(board)
