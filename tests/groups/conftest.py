"""A region for working group tests: a coordinator, two universities, a police team and an
outsider; speakers and an event at the first university; a four-party agreement that gives
each member the first university's records at a different level."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.db import db, utcnow
from hub.groups import membership, services
from hub.records.models import Audience, Distribution, Event, EventSpeaker, OrganiserType, VenueKind
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.factories import local_moment

PURPOSE = "working_group_case_review"
SPEAKER_NAME = "Dr Ember Quillfeather"


@dataclass
class World:
    """Organisations by key, people by key, and the records and agreement of the region."""

    orgs: dict[str, Any]
    people: dict[str, Any]
    speaker: Any = None
    event: Any = None
    agreement: Any = None
    group: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def actor(self, who: str):
        return actor_of(self.people[who])


def event_row(org, speaker=None, title: str = "Lanterns and Liberty", **overrides) -> Event:
    """An event row as stored, for the dashboard's tests of designated, past and decided events
    (their states and dates are set directly; the world's own event is made by `make_event`)."""
    start = overrides.pop("starts_at", datetime(2027, 3, 3, 18, 0, tzinfo=UTC))
    values = {
        "owner_org_id": org.id,
        "distribution": Distribution.SHAREABLE,
        "organiser_type": OrganiserType.SOCIETY,
        "organiser_name": "Lantern Society",
        "title": title,
        "synopsis": "A talk about lantern-making in the northern fells",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "venue_kind": VenueKind.ON_CAMPUS,
        "venue_place": "Hall 3",
        "audience": Audience.INTERNAL,
        "expected_size": 80,
        "retention_until": date(2033, 1, 1),
    }
    values.update(overrides)
    event = Event(**values)
    if speaker is not None:
        event.speakers.append(EventSpeaker(speaker_id=speaker.id))
    db.session.add(event)
    db.session.flush()
    return event


#: What each member is given of the first university's records under the group agreement.
SPEAKER_LEVELS = {
    "coordinator": {"display_name": "full", "aliases": "full", "topics": "full"},
    "uni_b": {"display_name": "masked", "topics": "pseudonymised"},
    "police": {"display_name": "full", "aliases": "full"},
}
EVENT_LEVELS = {
    "coordinator": {"title": "full", "starts_at": "full", "status": "full"},
    "police": {"title": "full", "starts_at": "generalised"},
}


def group_schedule(world: World, members=("coordinator", "uni_b", "police")) -> list[dict]:
    """The group agreement's schedule: uni_a gives speakers to every member at its level, and
    events to some (uni_b only hears that an event exists)."""
    uni_a = world.orgs["uni_a"]
    schedule = []
    for key in members:
        if key in SPEAKER_LEVELS:
            schedule.append(rule(uni_a, world.orgs[key], "speaker", SPEAKER_LEVELS[key]))
        if key in EVENT_LEVELS:
            schedule.append(rule(uni_a, world.orgs[key], "event", EVENT_LEVELS[key]))
    if "uni_b" in members:
        schedule.append(rule(uni_a, world.orgs["uni_b"], "event", existence_only=True))
    return schedule


@pytest.fixture
def world(make_org, make_person, make_agreement, make_speaker, make_event) -> World:
    orgs = {
        "coordinator": make_org(kind="regional_coordinator"),
        "uni_a": make_org(kind="university"),
        "uni_b": make_org(kind="university"),
        "police": make_org(kind="police_prevent"),
        "uni_c": make_org(kind="university"),
        "council": make_org(kind="local_authority"),
        "hub": make_org(kind="hub"),
    }
    people = {
        "coord": make_person(orgs["coordinator"], ["coordinator"]),
        "coord2": make_person(orgs["coordinator"], ["coordinator"]),
        "coord_admin": make_person(orgs["coordinator"], ["org_admin", "dpo"]),
        "a_admin": make_person(orgs["uni_a"], ["org_admin"]),
        "a_lead": make_person(orgs["uni_a"], ["prevent_lead"]),
        "a_events": make_person(orgs["uni_a"], ["events_officer"]),
        "a_dpo": make_person(orgs["uni_a"], ["dpo"]),
        "b_admin": make_person(orgs["uni_b"], ["org_admin"]),
        "b_lead": make_person(orgs["uni_b"], ["prevent_lead"]),
        "b_events": make_person(orgs["uni_b"], ["events_officer"]),
        "police_lead": make_person(orgs["police"], ["prevent_lead"]),
        "police_admin": make_person(orgs["police"], ["org_admin"]),
        "c_admin": make_person(orgs["uni_c"], ["org_admin"]),
        "c_lead": make_person(orgs["uni_c"], ["prevent_lead"]),
        "council_admin": make_person(orgs["council"], ["org_admin"]),
        "hub_admin": make_person(orgs["hub"], ["org_admin"]),
        "hub_auditor": make_person(orgs["hub"], ["auditor", "dpo"]),
    }
    found = World(orgs, people)
    found.speaker = make_speaker(
        by=people["a_events"],
        name=SPEAKER_NAME,
        aliases=["Ember Quillfeather-Vane"],
        topics=["folk history"],
        distribution="shareable",
    )
    found.event = make_event(
        by=people["a_events"],
        speakers=[found.speaker],
        title="Lanterns and Liberty",
        synopsis="A talk about lantern-making in the northern fells",
        organiser_name="Lantern Society",
        venue_place="Hall 3",
        audience="internal",
        expected_size="80",
        distribution="shareable",
        starts_at=local_moment(20, 18),
        ends_at=local_moment(20, 20),
    )
    members = [orgs[k] for k in ("coordinator", "uni_a", "uni_b", "police")]
    found.agreement, _ = make_agreement(
        members, group_schedule(found), purposes=[PURPOSE], reference="TEST-WG-1", kind="one_way"
    )
    return found


def convene(world: World, *, accept: tuple[str, ...] = ("uni_a", "uni_b", "police"), **extra):
    """The coordinator sets up a group under the world's agreement and invites members, whose
    administrators accept; the Prevent leads and an events officer are named attendees."""
    coord = world.actor("coord")
    group = services.create_group(
        coord,
        {
            "name": extra.pop("name", "Testshire Prevent working group"),
            "region": "Testshire",
            "terms_of_reference": "Review cases, agree actions, feed back to institutions.",
            "cadence": "quarterly",
            "agreement_id": str(world.agreement.id) if world.agreement else "",
            **extra,
        },
    )
    admins = {"uni_a": "a_admin", "uni_b": "b_admin", "police": "police_admin"}
    for key in accept:
        membership.invite(coord, group, {"organisation_id": str(world.orgs[key].id)})
        membership.respond(world.actor(admins[key]), group, True)
    for who in ("a_lead", "a_events", "b_lead", "b_events", "police_lead"):
        if world.people[who].organisation_id in {world.orgs[k].id for k in accept}:
            membership.add_attendee(coord, group, {"person_id": str(world.people[who].id)})
    world.group = group
    return group


@pytest.fixture
def convened(world) -> World:
    convene(world)
    return world


def audit_entries(action: str, outcome: str = "granted") -> list:
    """Audit entries of one action and outcome, oldest first."""
    import sqlalchemy as sa

    from audit.models import AuditEntry

    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.outcome == outcome)
            .order_by(AuditEntry.seq)
        )
    )


def schedule(world: World, days: float = 3, hours: float = 2, **extra):
    """A meeting `days` from now (negative: already held) lasting `hours`."""
    from hub.groups.meetings import services as meetings

    start = utcnow() + timedelta(days=days)
    return meetings.schedule_meeting(
        world.actor("coord"),
        world.group,
        {
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=hours)).isoformat(),
            "location": extra.pop("location", "County Hall, Room 2"),
            **extra,
        },
    )
