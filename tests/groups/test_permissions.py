"""The permission matrix over every working group page and a sample of endpoints: the group's
managers, member organisations' people by role (named attendees or not), and non-members
(another university, a council, the hub operator), each signed in through the real pages.

A group's contents answer non-members exactly like a missing page (404), and each refusal is
audited; members who may look but not act get 403.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from hub.groups import actions
from hub.groups.meetings import agenda
from tests.groups.conftest import convene, schedule

MANAGERS = ("coord", "coord2")
#: Member organisations' people who see the group (role or named attendee) but do not run it.
MEMBERS = (
    "coord_admin",
    "a_admin",
    "a_lead",
    "a_events",
    "a_dpo",
    "b_admin",
    "b_lead",
    "b_events",
    "police_lead",
    "police_admin",
)
#: People of member organisations who neither hold a viewing role nor are named.
UNNAMED = ("a_events_unnamed",)
OUTSIDERS = ("c_admin", "c_lead", "council_admin", "hub_admin", "hub_auditor")
#: Who names attendees (administrators and Prevent leads of members), who leaves.
NAMERS = ("coord_admin", "a_admin", "a_lead", "b_admin", "b_lead", "police_lead", "police_admin")
#: Members' administrators (the convening organisation's is told it must hand over first).
LEAVERS = ("coord_admin", "a_admin", "b_admin", "police_admin")

EVERYONE = MANAGERS + MEMBERS + UNNAMED + OUTSIDERS


@pytest.fixture
def scene(world, make_person):
    world.people["a_events_unnamed"] = make_person(world.orgs["uni_a"], ["events_officer"])
    convene(world)
    held = schedule(world, days=-1)
    agenda.add_agenda_item(
        world.actor("coord"), held, {"title": "A case", "case": f"speaker:{world.speaker.id}"}
    )
    action = actions.create_action(
        world.actor("coord"),
        held,
        {
            "title": "Brief the events team",
            "owner_person_id": str(world.people["b_lead"].id),
            "due_on": actions.local_today().isoformat(),
        },
    )
    db.session.flush()
    group, meeting = world.group.id, held.id
    base = f"/groups/{group}/meetings/{meeting}"
    world.extra["pages"] = {
        "group": f"/groups/{group}",
        "meeting": base,
        "calendar": base + "/calendar.ics",
        "feedback": base + "/feedback",
        "action": f"/groups/actions/{action.id}",
        "edit": f"/groups/{group}/edit",
        "invite": f"/groups/{group}/invite",
        "convenor": f"/groups/{group}/convenor",
        "new_meeting": f"/groups/{group}/meetings/new",
        "edit_meeting": base + "/edit",
        "minutes": base + "/minutes",
        "attendance": base + "/attendance",
        "decision": base + "/decisions/new",
        "new_action": base + "/actions/new",
        "attendees": f"/groups/{group}/attendees",
        "leave": f"/groups/{group}/leave",
        "agenda": base + "/agenda/new",
        "api_group": f"/api/v1/groups/{group}",
        "api_meeting": f"/api/v1/meetings/{meeting}",
        "api_actions": f"/api/v1/groups/{group}/actions",
        "region": "/region",
        "api_region": "/api/v1/region/dashboard",
        "new_group": "/groups/new",
    }
    return world


READ = ("group", "meeting", "calendar", "feedback", "action", "api_group", "api_meeting",
        "api_actions")  # fmt: skip
MANAGE = ("edit", "invite", "convenor", "new_meeting", "edit_meeting", "minutes", "attendance",
          "decision", "new_action")  # fmt: skip


def expected(who: str, page: str) -> int:
    """The status each person gets for each page."""
    if page in {"region", "api_region", "new_group"}:
        return 200 if who in MANAGERS else 403
    if who in OUTSIDERS or who in UNNAMED:
        return 404
    if page in READ:
        return 200
    if page in MANAGE:
        return 200 if who in MANAGERS else 403
    if page == "attendees":
        return 200 if who in MANAGERS + NAMERS else 403
    if page == "leave":
        return 200 if who in LEAVERS else 403
    if page == "agenda":  # managers add items; member Prevent leads bring their own cases
        return 200 if who in (*MANAGERS, "a_lead", "b_lead", "police_lead") else 403
    raise AssertionError(page)


@pytest.mark.parametrize("who", EVERYONE)
def test_permission_matrix(scene, new_client, who):
    client = new_client()
    client.sign_in(scene.people[who])
    got = {}
    for page, path in scene.extra["pages"].items():
        response = client.get(path)
        got[page] = response.status_code
        if page.startswith("api_") and response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
    assert got == {page: expected(who, page) for page in scene.extra["pages"]}


@pytest.mark.parametrize("who", OUTSIDERS + UNNAMED)
def test_a_hidden_group_answers_like_a_missing_one_and_the_refusal_is_audited(
    scene, new_client, who
):
    client = new_client()
    client.sign_in(scene.people[who])
    hidden = client.get(scene.extra["pages"]["group"])
    missing = client.get("/groups/00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == missing.status_code == 404
    strip = '<input type="hidden" name="csrf_token" value="[^"]+">'
    assert re.sub(strip, "", hidden.get_data(as_text=True)) == re.sub(
        strip, "", missing.get_data(as_text=True)
    )
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "group.read", AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry.actor == f"person:{scene.people[who].id}"
    assert json.loads(entry.resource_ids) == [str(scene.group.id)]
    assert entry.reason == "not_member"


@pytest.mark.parametrize(
    ("who", "status"),
    [("coord", 201), ("coord2", 201), ("b_lead", 403), ("a_admin", 403), ("c_lead", 404)],
)
def test_only_managers_record_decisions_through_the_api(scene, new_client, who, status):
    client = new_client()
    client.sign_in(scene.people[who])
    meeting = scene.extra["pages"]["api_meeting"]
    response = client.api("POST", meeting + "/decisions", json={"text": "Agreed."})
    assert response.status_code == status, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("who", "status"),
    [("b_lead", 201), ("b_admin", 201), ("coord", 201), ("b_events", 403), ("a_lead", 403),
     ("c_lead", 404)],
)  # fmt: skip
def test_who_updates_an_action_through_the_api(scene, new_client, who, status):
    client = new_client()
    client.sign_in(scene.people[who])
    path = scene.extra["pages"]["action"].replace("/groups/actions/", "/api/v1/actions/")
    response = client.api("POST", path + "/updates", json={"status": "in_progress"})
    assert response.status_code == status, response.get_data(as_text=True)
