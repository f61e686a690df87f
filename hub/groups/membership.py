"""Membership of a working group: invitations answered by the invited organisation's
administrator, leaving and removal (access ends at once), and the named attendees."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from audit.actions import (
    GROUP_ATTENDEE_ADD,
    GROUP_ATTENDEE_REMOVE,
    GROUP_INVITE,
    GROUP_LEAVE,
    GROUP_MEMBER_REMOVE,
)
from core.db import db, utcnow
from core.errors import Conflict, NotFound
from core.security import Actor
from core.validation import Checker
from hub.groups import permissions
from hub.groups.models import (
    GroupAttendee,
    GroupMembership,
    MembershipStatus,
    WorkingGroup,
)
from hub.groups.services import deny, invite_to_future_meetings, parse_id, record
from partners import notifications
from partners.models import Organisation, Person, Status

# --- invitations and membership ---------------------------------------------------------


def invitable_organisations(group: WorkingGroup) -> list[Organisation]:
    """Active partner organisations not already members or invited."""
    taken = {
        m.organisation_id
        for m in group.memberships
        if m.status in (MembershipStatus.ACCEPTED, MembershipStatus.INVITED)
    }
    return [
        o
        for o in db.session.scalars(
            sa.select(Organisation)
            .where(
                Organisation.status == Status.ACTIVE,
                Organisation.kind.in_(permissions.MEMBER_KINDS),
            )
            .order_by(Organisation.name)
        )
        if o.id not in taken
    ]


def invite(actor: Actor, group: WorkingGroup, data: dict[str, Any]) -> GroupMembership:
    """Invite an organisation; its administrator accepts or declines."""
    if not permissions.is_manager(actor, group):
        raise deny(
            "group.invite", "Only the group's convenor and coordinators invite organisations.",
            "working_group", group.id,
        )  # fmt: skip
    check = Checker(data)
    key = parse_id(data.get("organisation_id"))
    organisation = next((o for o in invitable_organisations(group) if o.id == key), None)
    if data.get("organisation_id") in (None, ""):
        check.add("organisation_id", "Choose the organisation to invite.")
    elif organisation is None:
        check.add(
            "organisation_id",
            "Choose an active partner organisation that is not already a member or invited.",
        )
    check.raise_if_any()
    membership = next((m for m in group.memberships if m.organisation_id == organisation.id), None)
    if membership is None:
        membership = GroupMembership(organisation_id=organisation.id)
        group.memberships.append(membership)
    membership.status = MembershipStatus.INVITED
    membership.invited_by_id = actor.person_id
    membership.invited_at = utcnow()
    membership.responded_by_id = membership.responded_at = None
    membership.ended_by_id = membership.ended_at = None
    db.session.flush()
    record(actor, GROUP_INVITE, group, organisation=str(organisation.id))
    notifications.notify(
        organisation.id,
        "group.invitation",
        f"Your organisation is invited to join the working group {group.name}",
        "Your organisation's administrator can accept or decline the invitation.",
        link=f"/groups/{group.id}/invitation",
    )
    return membership


def _membership(group: WorkingGroup, org_id: Any) -> GroupMembership | None:
    return next((m for m in group.memberships if str(m.organisation_id) == str(org_id)), None)


def respond(actor: Actor, group: WorkingGroup, accept: bool) -> GroupMembership:
    """The invited organisation's administrator accepts (it becomes a member) or declines."""
    action = "group.invitation.accept" if accept else "group.invitation.decline"
    if not permissions.can_respond(actor, group):
        raise deny(
            action, "Only the invited organisation's administrator can answer the invitation.",
            "working_group", group.id,
        )  # fmt: skip
    membership = _membership(group, actor.org_id)
    assert membership is not None  # can_respond saw it invited
    membership.status = MembershipStatus.ACCEPTED if accept else MembershipStatus.DECLINED
    membership.responded_by_id = actor.person_id
    membership.responded_at = utcnow()
    db.session.flush()
    record(actor, action, group, organisation=actor.org_id)
    word = "accepted" if accept else "declined"
    notifications.notify(
        group.convening_org_id,
        f"group.invitation.{word}",
        f"{membership.organisation.name} {word} the invitation to {group.name}",
        link=f"/groups/{group.id}",
        person_id=group.convenor_id,
    )
    return membership


def _end_membership(
    actor: Actor, group: WorkingGroup, membership: GroupMembership, status: MembershipStatus
) -> None:
    """End an organisation's membership: its attendees go, and with them its place at the
    meetings still to come (access ends because the predicates read the membership)."""
    if membership.organisation_id == group.convening_org_id:
        raise Conflict(
            "The convenor's organisation cannot leave the group: name a new convenor from "
            "another member organisation first.",
            errors={"_form": ["Name a new convenor from another member organisation first."]},
        )
    membership.status = status
    membership.ended_by_id = actor.person_id
    membership.ended_at = utcnow()
    leaving = {
        a.person_id
        for a in group.attendees
        if a.person.organisation_id == membership.organisation_id
    }
    group.attendees = [a for a in group.attendees if a.person_id not in leaving]
    now = utcnow()
    for meeting in group.meetings:
        if meeting.starts_at > now:
            meeting.attendance = [r for r in meeting.attendance if r.person_id not in leaving]
    db.session.flush()


def leave(actor: Actor, group: WorkingGroup) -> GroupMembership:
    """A member organisation's administrator takes it out of the group, at once."""
    permissions.require(actor, GROUP_LEAVE, group)
    membership = _membership(group, actor.org_id)
    assert membership is not None
    _end_membership(actor, group, membership, MembershipStatus.LEFT)
    record(actor, GROUP_LEAVE, group, organisation=actor.org_id)
    notifications.notify(
        group.convening_org_id,
        "group.member.left",
        f"{membership.organisation.name} left the working group {group.name}",
        link=f"/groups/{group.id}",
        person_id=group.convenor_id,
    )
    return membership


def remove_member(actor: Actor, group: WorkingGroup, org_id: Any) -> GroupMembership:
    """The group's managers remove a member organisation (or withdraw an invitation)."""
    if not permissions.is_manager(actor, group):
        raise deny(
            "group.member.remove", "Only the group's convenor and coordinators remove members.",
            "working_group", group.id,
        )  # fmt: skip
    membership = _membership(group, org_id)
    if membership is None or membership.status not in (
        MembershipStatus.ACCEPTED,
        MembershipStatus.INVITED,
    ):
        raise NotFound("That organisation is not a member of the group.")
    _end_membership(actor, group, membership, MembershipStatus.REMOVED)
    record(actor, GROUP_MEMBER_REMOVE, group, organisation=str(membership.organisation_id))
    notifications.notify(
        membership.organisation_id,
        "group.member.removed",
        f"Your organisation is no longer a member of the working group {group.name}",
    )
    return membership


# --- named attendees --------------------------------------------------------------------


def attendee_choices(actor: Actor, group: WorkingGroup) -> list[Person]:
    """Active people of member organisations whom the actor may name, not yet named."""
    named = {a.person_id for a in group.attendees}
    allowed = [
        uuid.UUID(org_id)
        for org_id in permissions.member_org_ids(group)
        if permissions.can_name_attendees(actor, group, org_id)
    ]
    if not allowed:
        return []
    people = db.session.scalars(
        sa.select(Person)
        .join(Organisation, Organisation.id == Person.organisation_id)
        .where(Person.organisation_id.in_(allowed), Person.status == Status.ACTIVE)
        .order_by(Organisation.name, Person.name)
    )
    return [p for p in people if p.id not in named]


def add_attendee(actor: Actor, group: WorkingGroup, data: dict[str, Any]) -> Person:
    """Name a person of a member organisation as an attendee (invited to meetings to come)."""
    permissions.require(actor, GROUP_ATTENDEE_ADD, group)
    check = Checker(data)
    key = parse_id(data.get("person_id"))
    person = db.session.get(Person, key) if key else None
    if person is None or person not in attendee_choices(actor, group):
        check.add("person_id", "Choose an active person of a member organisation, not yet named.")
    check.raise_if_any()
    group.attendees.append(GroupAttendee(person_id=person.id, added_by_id=actor.person_id))
    invite_to_future_meetings(group, person.id, actor)
    db.session.flush()
    record(
        actor,
        GROUP_ATTENDEE_ADD,
        group,
        subjects=[("person", str(person.id))],
        organisation=str(person.organisation_id),
    )
    return person


def remove_attendee(actor: Actor, group: WorkingGroup, who: Any) -> None:
    """Stop naming a person as an attendee (past attendance stays on record)."""
    key = parse_id(who)
    named = next((a for a in group.attendees if a.person_id == key), None)
    if named is None:
        raise NotFound("That person is not a named attendee of the group.")
    if not permissions.can_name_attendees(actor, group, named.person.organisation_id):
        raise deny(
            "group.attendee.remove", "You cannot change that organisation's attendees.",
            "working_group", group.id,
        )  # fmt: skip
    if named.person_id == group.convenor_id:
        raise Conflict(
            "The convenor attends every meeting: name a new convenor before removing them.",
            errors={"_form": ["Name a new convenor before removing this person."]},
        )
    group.attendees = [a for a in group.attendees if a.person_id != key]
    now = utcnow()
    for meeting in group.meetings:
        if meeting.starts_at > now:
            meeting.attendance = [r for r in meeting.attendance if r.person_id != key]
    db.session.flush()
    record(actor, GROUP_ATTENDEE_REMOVE, group, subjects=[("person", str(key))])
