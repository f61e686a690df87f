"""Working groups over the JSON API: the same services as the pages, session-authenticated.

Partner systems (OAuth clients) are refused with 403: none of the token scopes covers working
groups (no operation declares one), and a group's case items are shown to named people of
member organisations only.
Meetings, actions and the regional dashboard are in `meeting_api.py`, on this blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from core.request import current_actor, signed_in_required
from hub.groups import membership, services
from hub.groups.models import WorkingGroup
from hub.groups.schemas import (
    AttendeeCreateSchema,
    ConvenorSchema,
    GroupCreateSchema,
    GroupDetailSchema,
    GroupSchema,
    InvitationAnswerSchema,
    InvitationCreateSchema,
    MembershipSchema,
)
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "groups-api",
    __name__,
    url_prefix="/api/v1",
    description="Regional working groups: members, meetings, case items, minutes and actions.",
)

FORBIDDEN = {"schema": ProblemSchema, "description": "Not allowed (partner systems never are)"}
NOT_FOUND = {"schema": ProblemSchema, "description": "No such item in a group the caller sees"}
CONFLICT = {"schema": ProblemSchema, "description": "The change clashes with the current state"}
INVALID = {"schema": ProblemSchema, "description": "Invalid fields"}


# No operation here declares an access (`core.access`): they are for people only, and
# `partners.oauth.resource` refuses a partner token on every one of them.
DECORATORS = [signed_in_required]


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


# The meeting, action and dashboard endpoints live in their own module on this blueprint;
# importing it adds them.
from hub.groups import meeting_api  # noqa: E402, F401
