"""The demo's Northshire working group: a seven-party agreement approved by each party's
signatory, every partner a member, two meetings held with approved minutes, one to come with
cases on its agenda, actions open, done and overdue, and a touring speaker on the dashboard."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from agreements.models import EffectiveState
from core.db import db, utcnow
from hub import demo
from hub.groups import actions, dashboard, services
from hub.groups import demo as groups_demo
from hub.groups.meetings import agenda
from hub.groups.models import ActionStatus, MinutesStatus, WorkingGroup
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from partners.models import InboxMessage, Person
from tests.conftest import actor_of


@pytest.fixture
def seeded(app):
    demo.seed_demo(password="demo-password-for-tests")
    db.session.flush()
    return db.session.scalars(sa.select(WorkingGroup)).one()


def _actor(email):
    return actor_of(db.session.scalar(sa.select(Person).where(Person.email == email)))


def test_the_group_and_its_agreement(seeded):
    group = seeded
    assert group.name == groups_demo.GROUP_NAME
    assert group.convenor.email == groups_demo.COORDINATOR
    cover = services.coverage(group)
    assert cover.covered and cover.agreement.reference == groups_demo.AGREEMENT_REFERENCE
    assert cover.state == EffectiveState.ACTIVE
    assert {m.slug for m in services.members(group)} == set(groups_demo.MEMBERS)
    # Every party approved through the lifecycle, by its own named signatory.
    assert all(p.approved_by_id == p.signatory_id for p in cover.agreement.parties)
    assert len(services.attendees(group)) == len(groups_demo.ATTENDEES) + 1


def test_two_meetings_held_with_approved_minutes_and_one_to_come(seeded):
    upcoming, past = services.meetings_of(seeded)
    assert len(past) == 2 and len(upcoming) == 1
    assert all(m.minutes_status == MinutesStatus.APPROVED for m in past)
    assert all(m.digest_sent_at is not None for m in past)
    assert any(m.amendments for m in past)
    [coming] = upcoming
    assert coming.starts_at > utcnow() and coming.minutes_status == MinutesStatus.NOT_STARTED
    assert sum(1 for item in coming.agenda_items if item.case_type) == 2


def test_open_done_and_overdue_actions(seeded):
    found = actions.list_actions(seeded)
    assert {a.status for a in found} >= {ActionStatus.OPEN, ActionStatus.DONE}
    overdue = [a for a in found if actions.is_overdue(a)]
    assert len(overdue) == 2
    lead = _actor("prevent@uni-northshire.example")
    items = actions.dashboard_actions(lead)
    assert items and items[0].overdue


def test_each_attendee_sees_the_coming_cases_at_their_level(seeded):
    upcoming, _past = services.meetings_of(seeded)
    [coming] = upcoming
    states = {
        email: sorted(v.state for v in agenda.case_views(_actor(email), coming).values())
        for email in (
            "coordinator@northshire-region.example",
            "prevent@northshire-council.example",
            "prevent@uni-northshire.example",
        )
    }
    assert states["coordinator@northshire-region.example"] == ["shared", "shared"]
    assert states["prevent@northshire-council.example"] == ["existence_only", "shared"]
    assert states["prevent@uni-northshire.example"] == ["own", "shared"]


def test_the_coordinators_dashboard_has_something_in_every_part(seeded):
    coordinator = _actor(groups_demo.COORDINATOR)
    basis, year = returns.read_args(None, None, advisory.local_today())
    board = dashboard.regional_dashboard(coordinator, "working_group_case_review", basis, year)
    assert {a.agreement.reference for a in board.agreements} >= {"NSH-DSA-2026-05"}
    assert board.events and board.advisory.requests
    [touring] = board.touring
    assert touring.name == groups_demo.TOURING_SPEAKER and len(touring.institutions) == 3
    assert not board.monthly.suppressed
    assert sum(sum(v) for v in board.monthly.outcomes.values()) == 5


def test_members_were_told_of_the_feedback(seeded):
    digests = db.session.scalars(
        sa.select(InboxMessage).where(InboxMessage.kind == "meeting.digest")
    ).all()
    assert {m.organisation_id for m in digests} == {o.id for o in services.members(seeded)}
