"""Actions of a working group: an owner (a person of a member organisation), a due date, a
status and a trail of updates; overdue actions are flagged on their owner's dashboard."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from core.db import db, utcnow
from core.errors import Conflict, NotFound
from core.security import Actor
from core.validation import LOCAL_ZONE, Checker
from hub.groups import permissions
from hub.groups.models import ActionStatus, ActionUpdate, GroupAction, Meeting, WorkingGroup
from hub.groups.services import attendees, deny, hidden, parse_id, require_manager
from partners import notifications
from partners.models import Person, Status

TITLE_MAX = 300
TEXT_MAX = 5000
#: An action is due at most this far ahead.
LONGEST = timedelta(days=2 * 366)

STATUS_LABELS = {
    ActionStatus.OPEN: "Open",
    ActionStatus.IN_PROGRESS: "In progress",
    ActionStatus.DONE: "Done",
    ActionStatus.CANCELLED: "Cancelled",
}
STATUS_COLOURS = {
    ActionStatus.OPEN: "blue",
    ActionStatus.IN_PROGRESS: "light-blue",
    ActionStatus.DONE: "green",
    ActionStatus.CANCELLED: "grey",
}


def local_today() -> date:
    """Today in England and Wales (due dates are UK calendar days)."""
    return utcnow().astimezone(LOCAL_ZONE).date()


def is_overdue(action: GroupAction, today: date | None = None) -> bool:
    """Still open and past its due date."""
    return action.is_open and (today or local_today()) > action.due_on


def _record(actor: Actor, action_name: str, action: GroupAction, **details: Any) -> None:
    audit.record(
        actor,
        action_name,
        "granted",
        resource_type="group_action",
        resource_ids=[str(action.id)],
        resource_org=str(action.owner_org_id),
        group=str(action.group_id),
        **details,
    )


def get_action(actor: Actor, action_id: Any) -> GroupAction:
    """An action of a group the actor sees; any other answers as missing (audited)."""
    key = parse_id(action_id)
    action = db.session.get(GroupAction, key) if key else None
    if action is None:
        raise NotFound("There is no such action.")
    if not permissions.can_view(actor, action.group):
        raise hidden("action.read", "group_action", action.id, "action")
    return action


def list_actions(group: WorkingGroup, *, open_only: bool = False) -> list[GroupAction]:
    """The group's actions, soonest due first (call after `get_group`)."""
    query = sa.select(GroupAction).where(GroupAction.group_id == group.id)
    if open_only:
        query = query.where(GroupAction.status.in_([ActionStatus.OPEN, ActionStatus.IN_PROGRESS]))
    return list(db.session.scalars(query.order_by(GroupAction.due_on, GroupAction.created_at)))


def owner_choices(group: WorkingGroup) -> list[Person]:
    """Who may own an action: the group's named attendees who are active."""
    return [p for p in attendees(group) if p.status == Status.ACTIVE]


def create_action(actor: Actor, meeting: Meeting, data: dict[str, Any]) -> GroupAction:
    """Record an action agreed at a meeting: what, who (a named attendee, for their
    organisation) and by when."""
    group = meeting.group
    require_manager(actor, group, "action.create")
    if meeting.cancelled_at is not None:
        raise Conflict("The meeting was cancelled: it agreed no actions.")
    check = Checker(data)
    title = check.text("title", "what is to be done", max_length=TITLE_MAX)
    detail = check.text("detail", "more detail", required=False, max_length=TEXT_MAX)
    due = check.date("due_on", "the due date")
    today = local_today()
    if due is not None and due < today:
        check.add("due_on", "The due date must be today or later.")
    elif due is not None and due > today + LONGEST:
        check.add("due_on", "The due date must be within two years.")
    key = parse_id(data.get("owner_person_id"))
    owner = next((p for p in owner_choices(group) if p.id == key), None)
    if owner is None:
        check.add("owner_person_id", "Choose who owns the action from the named attendees.")
    check.raise_if_any()
    action = GroupAction(
        group_id=group.id,
        meeting_id=meeting.id,
        title=title,
        detail=detail,
        owner_person_id=owner.id,
        owner_org_id=owner.organisation_id,
        due_on=due,
        status=ActionStatus.OPEN,
        created_by_id=actor.person_id,
    )
    db.session.add(action)
    db.session.flush()
    _record(
        actor,
        "action.create",
        action,
        meeting=str(meeting.id),
        subjects=[("person", str(owner.id))],
    )
    notifications.notify(
        owner.organisation_id,
        "action.assigned",
        f"An action for you from {group.name}, due {due.day} {due:%B %Y}",
        link=f"/groups/actions/{action.id}",
        person_id=owner.id,
    )
    return action


def update_action(actor: Actor, action: GroupAction, data: dict[str, Any]) -> ActionUpdate:
    """Record progress: a note, a change of status, or both."""
    if not permissions.can_update_action(actor, action):
        raise deny(
            "action.update", "Only the action's owner, their organisation's Prevent leads and "
            "administrators, and the group's convenor update an action.",
            "group_action", action.id,
        )  # fmt: skip
    check = Checker(data)
    status = check.choice("status", ActionStatus, "the action's status")
    note = check.text("note", "a note", required=False, max_length=TEXT_MAX)
    if status is not None and status == action.status and not note:
        check.add("note", "Write a note, or change the status.")
    check.raise_if_any()
    update = ActionUpdate(
        note=note, from_status=action.status, to_status=status, by_id=actor.person_id
    )
    action.updates.append(update)
    if status != action.status:
        action.status = status
        action.completed_at = utcnow() if status == ActionStatus.DONE else None
    db.session.flush()
    _record(
        actor,
        "action.update",
        action,
        from_status=update.from_status.value,
        to_status=update.to_status.value,
        fields=["note"] if note else [],
    )
    return update


@dataclass(frozen=True)
class DashboardAction:
    """An open action of the signed-in person, as their dashboard lists it."""

    id: str
    title: str
    group: str
    due_on: date
    overdue: bool
    status_label: str


def dashboard_actions(actor: Actor) -> list[DashboardAction]:
    """The actor's own open actions in groups they still see: overdue first, then by date."""
    if not permissions.is_person(actor):
        return []
    owned = db.session.scalars(
        sa.select(GroupAction).where(
            GroupAction.owner_person_id == uuid.UUID(actor.id),
            GroupAction.status.in_([ActionStatus.OPEN, ActionStatus.IN_PROGRESS]),
        )
    )
    today = local_today()
    items = [
        DashboardAction(
            id=str(a.id),
            title=a.title,
            group=a.group.name,
            due_on=a.due_on,
            overdue=is_overdue(a, today),
            status_label=STATUS_LABELS[a.status],
        )
        for a in owned
        if permissions.can_view(actor, a.group)
    ]
    return sorted(items, key=lambda item: (not item.overdue, item.due_on))
