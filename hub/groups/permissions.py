"""Who may do what in a working group: pure predicates over an Actor and the group's state.

A group is seen only by people of its accepted member organisations: its convenor and the
convening coordinators, its named attendees, and member organisations' Prevent leads,
administrators and DPOs. An organisation that leaves loses every one of these at once, because
each predicate reads the membership as it is now. Partner systems (OAuth clients) hold no
scope for groups, so every predicate is false for them.
"""

from __future__ import annotations

import uuid

from audit.actions import GROUP_ATTENDEE_ADD, GROUP_CREATE, GROUP_LEAVE, MEETING_AGENDA_ADD
from core.rules import Rule, Rules
from core.security import Actor, ActorKind
from hub.groups.models import GroupAction, MembershipStatus, WorkingGroup
from hub.records import permissions as records_permissions

#: Roles in a member organisation that see the group without being named attendees.
VIEW_ROLES = ("prevent_lead", "org_admin", "dpo", "coordinator")
#: Roles in a member organisation that name its attendees.
ATTENDEE_ROLES = ("org_admin", "prevent_lead")
#: Roles in a member organisation that bring its own cases to a meeting's agenda.
CASE_ROLES = ("prevent_lead",)
#: Roles in an action's owning organisation that update it (besides its owner).
ACTION_ROLES = ("prevent_lead", "org_admin")
#: Organisation kinds that may be invited (the hub operator's organisation never is).
MEMBER_KINDS = (
    "university",
    "students_union",
    "police_prevent",
    "regional_coordinator",
    "local_authority",
)


def is_person(actor: Actor) -> bool:
    """A signed-in member of staff (not a partner system, not the hub itself)."""
    return actor.kind == ActorKind.PERSON and actor.id is not None and actor.org_id is not None


def status_of(group: WorkingGroup, org_id: uuid.UUID | str | None) -> MembershipStatus | None:
    """The organisation's membership state in the group, or None if it was never invited."""
    if org_id is None:
        return None
    for membership in group.memberships:
        if str(membership.organisation_id) == str(org_id):
            return membership.status
    return None


def is_member_org(group: WorkingGroup, org_id: uuid.UUID | str | None) -> bool:
    """The organisation accepted an invitation and has not left or been removed."""
    return status_of(group, org_id) == MembershipStatus.ACCEPTED


def member_org_ids(group: WorkingGroup) -> set[str]:
    """The accepted member organisations (the convening organisation is always one)."""
    return {
        str(m.organisation_id) for m in group.memberships if m.status == MembershipStatus.ACCEPTED
    }


def is_named_attendee(actor: Actor, group: WorkingGroup) -> bool:
    """The actor is one of the group's named attendees."""
    return actor.id is not None and any(str(a.person_id) == actor.id for a in group.attendees)


def can_create_group(actor: Actor) -> bool:
    """Regional coordinators convene groups."""
    return is_person(actor) and records_permissions.is_coordinator(actor)


def is_manager(actor: Actor, group: WorkingGroup) -> bool:
    """The convenor, and the coordinators of the convening organisation, run the group."""
    if not is_person(actor) or not is_member_org(group, actor.org_id):
        return False
    if actor.id == str(group.convenor_id):
        return True
    return actor.org_id == str(group.convening_org_id) and records_permissions.is_coordinator(actor)


def can_view(actor: Actor, group: WorkingGroup) -> bool:
    """People of accepted member organisations who attend, lead on Prevent, administer or
    protect data there."""
    if not is_person(actor) or not is_member_org(group, actor.org_id):
        return False
    return (
        is_manager(actor, group) or is_named_attendee(actor, group) or actor.has_role(*VIEW_ROLES)
    )


def can_see_invitation(actor: Actor, group: WorkingGroup) -> bool:
    """An invited organisation's administrators, Prevent leads and DPOs read the invitation
    (the group's name, convenor, terms of reference, members and agreement)."""
    return (
        is_person(actor)
        and status_of(group, actor.org_id) == MembershipStatus.INVITED
        and actor.has_role(*VIEW_ROLES)
    )


def can_respond(actor: Actor, group: WorkingGroup) -> bool:
    """An invited organisation's administrator accepts or declines for it."""
    return (
        is_person(actor)
        and status_of(group, actor.org_id) == MembershipStatus.INVITED
        and actor.has_role("org_admin")
    )


def can_leave(actor: Actor, group: WorkingGroup) -> bool:
    """A member organisation's administrator takes it out of the group."""
    return is_person(actor) and is_member_org(group, actor.org_id) and actor.has_role("org_admin")


def can_name_attendees(actor: Actor, group: WorkingGroup, org_id: uuid.UUID | str) -> bool:
    """The group's managers name anyone's attendees; a member organisation's administrators
    and Prevent leads name their own."""
    if not is_member_org(group, org_id):
        return False
    if is_manager(actor, group):
        return True
    return (
        is_person(actor)
        and actor.org_id == str(org_id)
        and is_member_org(group, actor.org_id)
        and actor.has_role(*ATTENDEE_ROLES)
    )


def can_add_case(actor: Actor, group: WorkingGroup) -> bool:
    """Managers put cases on the agenda; member Prevent leads bring their own organisation's."""
    return is_manager(actor, group) or (can_view(actor, group) and actor.has_role(*CASE_ROLES))


def can_give_apologies(actor: Actor, group: WorkingGroup) -> bool:
    """A named attendee sends their own apologies."""
    return can_view(actor, group) and is_named_attendee(actor, group)


def can_update_action(actor: Actor, action: GroupAction) -> bool:
    """The action's owner, their organisation's Prevent leads and administrators, and the
    group's managers (each only while their organisation is a member)."""
    group = action.group
    if not can_view(actor, group):
        return False
    if is_manager(actor, group) or actor.id == str(action.owner_person_id):
        return True
    return actor.org_id == str(action.owner_org_id) and actor.has_role(*ACTION_ROLES)


def can_see_regional_dashboard(actor: Actor) -> bool:
    """Regional coordinators see their region's figures."""
    return is_person(actor) and records_permissions.is_coordinator(actor)


# --- the rules by action: what the services enforce and the pages ask -------------------


def _names_attendees(actor: Actor, group: WorkingGroup | None) -> bool:
    return group is not None and any(
        can_name_attendees(actor, group, org_id) for org_id in member_org_ids(group)
    )


RULES = Rules(
    {
        GROUP_CREATE: Rule(
            lambda actor, _group: can_create_group(actor),
            "Only regional coordinators convene working groups.",
        ),
        GROUP_LEAVE: Rule(
            lambda actor, group: group is not None and can_leave(actor, group),
            "Only a member organisation's administrator can take it out.",
        ),
        GROUP_ATTENDEE_ADD: Rule(_names_attendees, "You cannot name attendees for this group."),
        MEETING_AGENDA_ADD: Rule(
            lambda actor, group: (
                group is not None and (is_manager(actor, group) or can_add_case(actor, group))
            ),
            "Only the group's convenor and coordinators, and member organisations' Prevent leads, "
            "add to the agenda.",
        ),
    },
    resource_type="working_group",
    names_target=True,
)


allows = RULES.allows
require = RULES.require
