"""Actions: an owner (a named attendee, for their organisation), a due date, a status and
updates; overdue actions are flagged on their owner's dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict, PermissionDenied, ValidationFailed
from hub.groups import actions
from hub.groups.meetings import services as meetings
from hub.groups.models import ActionStatus
from partners import notifications
from tests.groups.conftest import audit_entries, schedule


def _due(days: int) -> str:
    return (actions.local_today() + timedelta(days=days)).isoformat()


@pytest.fixture
def held(convened):
    return schedule(convened, days=-1)


def _action(world, meeting, owner="b_lead", days=14, title="Share the stewarding plan"):
    return actions.create_action(
        world.actor("coord"),
        meeting,
        {"title": title, "owner_person_id": str(world.people[owner].id), "due_on": _due(days)},
    )


def test_an_action_belongs_to_its_owner_and_their_organisation(convened, held):
    action = _action(convened, held)
    assert action.owner_person_id == convened.people["b_lead"].id
    assert action.owner_org_id == convened.orgs["uni_b"].id
    assert action.status == ActionStatus.OPEN
    told = [m for m in notifications.inbox(convened.actor("b_lead")) if m.kind == "action.assigned"]
    assert told and told[0].person_id == convened.people["b_lead"].id
    [entry] = audit_entries("action.create")
    assert entry.resource_org == str(convened.orgs["uni_b"].id)
    assert b"stewarding" not in entry.leaf


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "", "due_on": _due(3)}, "title"),
        ({"title": "X", "due_on": _due(-1)}, "due_on"),
        ({"title": "X", "due_on": _due(800)}, "due_on"),
        ({"title": "X", "due_on": "not a date"}, "due_on"),
    ],
)
def test_action_fields_are_checked(convened, held, data, field):
    data = {**data, "owner_person_id": str(convened.people["b_lead"].id)}
    with pytest.raises(ValidationFailed) as invalid:
        actions.create_action(convened.actor("coord"), held, data)
    assert field in invalid.value.errors


@pytest.mark.parametrize("owner", ["c_lead", "a_dpo", "hub_admin"])
def test_the_owner_is_a_named_attendee(convened, held, owner):
    with pytest.raises(ValidationFailed) as invalid:
        _action(convened, held, owner=owner)
    assert "named attendees" in invalid.value.errors["owner_person_id"][0]


def test_only_managers_record_actions_and_not_for_cancelled_meetings(convened):
    coming = schedule(convened, days=3)
    with pytest.raises(PermissionDenied):
        actions.create_action(
            convened.actor("b_lead"),
            coming,
            {"title": "X", "owner_person_id": str(convened.people["b_lead"].id), "due_on": _due(3)},
        )
    meetings.cancel_meeting(convened.actor("coord"), coming)
    with pytest.raises(Conflict):
        _action(convened, coming)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("b_lead", True),  # the owner
        ("b_admin", True),  # the owner's organisation's administrator
        ("coord", True),  # the convenor
        ("coord2", True),  # a coordinator of the convening organisation
        ("b_events", False),  # the owner's colleague without the role
        ("a_lead", False),  # another member's Prevent lead
        ("police_admin", False),
        ("c_lead", False),  # not a member
    ],
)
def test_who_updates_an_action(convened, held, who, allowed):
    action = _action(convened, held)
    data = {"status": "in_progress", "note": "Started."}
    if allowed:
        actions.update_action(convened.actor(who), action, data)
        assert action.status == ActionStatus.IN_PROGRESS
        assert action.updates[-1].by_id == convened.people[who].id
    else:
        with pytest.raises(PermissionDenied):
            actions.update_action(convened.actor(who), action, data)


def test_an_update_is_a_note_or_a_new_status_and_done_is_dated(convened, held):
    action = _action(convened, held)
    with pytest.raises(ValidationFailed) as invalid:
        actions.update_action(convened.actor("b_lead"), action, {"status": "open"})
    assert invalid.value.errors["note"] == ["Write a note, or change the status."]
    actions.update_action(convened.actor("b_lead"), action, {"status": "open", "note": "Soon."})
    actions.update_action(convened.actor("b_lead"), action, {"status": "done"})
    assert action.status == ActionStatus.DONE and action.completed_at is not None
    assert [(u.from_status, u.to_status) for u in action.updates] == [
        (ActionStatus.OPEN, ActionStatus.OPEN),
        (ActionStatus.OPEN, ActionStatus.DONE),
    ]
    entries = audit_entries("action.update")
    assert [e.details for e in entries][-1].count('"to_status":"done"') == 1


def test_overdue_actions_are_flagged_on_their_owners_dashboard(convened, held):
    w = convened
    later = _action(w, held, days=20, title="Later")
    overdue = _action(w, held, days=1, title="Overdue")
    overdue.due_on = actions.local_today() - timedelta(days=2)
    done = _action(w, held, days=5, title="Done already")
    actions.update_action(w.actor("b_lead"), done, {"status": "done"})
    _action(w, held, owner="police_lead", title="Someone else's")
    items = actions.dashboard_actions(w.actor("b_lead"))
    assert [(i.title, i.overdue) for i in items] == [("Overdue", True), ("Later", False)]
    assert items[0].group == w.group.name
    assert actions.is_overdue(overdue) and not actions.is_overdue(later)
    assert [i.title for i in actions.dashboard_actions(w.actor("police_lead"))] == [
        "Someone else's"
    ]
    assert actions.dashboard_actions(w.actor("b_admin")) == []  # the owner's, no one else's
