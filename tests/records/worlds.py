"""The scenes the records tests play in, built with the shared factories (tests/factories.py)
and exposed as fixtures by tests/records/conftest.py:

- `SpeakerWorld`: university A with a person in every role, university B, a coordinator and
  a police Prevent team (the speakers and statements tests);
- `EventWorld`: the same with two Prevent leads and a senior officer at A, and `advance` to take
  an event of A through the workflow (the events, assessments and decisions tests);
- `AdvisoryWorld`: a region with two universities, its coordinator and police team, outsiders,
  a speaker and an event, and the steps of an advisory request (the advisory tests);
- `SharingWorld`: an owner university sharing a speaker, a statement and a decided event with a
  recipient under one agreement, and an outsider (the shared-records pages, API and subject
  access tests), with the helpers those tests read pages with.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core.security import Actor
from hub.records.advisory import services as advisory
from hub.records.models import AdvisoryRequest, Event
from tests.agreement_factories import rule
from tests.conftest import actor_of, audit_entries
from tests.factories import (
    advance_event,
    days,
    new_event,
    new_speaker,
    new_statement,
)

# --- speakers ---------------------------------------------------------------------------------

#: The roles everyone at university A has (one person each) in the speaker world.
ROLES = ("events_officer", "prevent_lead", "dpo", "auditor", "org_admin", "signatory")


@dataclass
class SpeakerWorld:
    """University A with a person in every role, university B, a coordinator, police."""

    orgs: dict[str, Any]
    people: dict[str, Any]

    def actor(self, who: str) -> Actor:
        return actor_of(self.people[who])


def speaker_world(make_org, make_person) -> SpeakerWorld:
    """Build the organisations and people the speaker tests use."""
    a = make_org(kind="university")
    b = make_org(kind="university")
    region = make_org(kind="regional_coordinator")
    police = make_org(kind="police_prevent")
    people = {role: make_person(a, [role]) for role in ROLES}
    people.update(
        {
            "b_events_officer": make_person(b, ["events_officer"]),
            "b_prevent_lead": make_person(b, ["prevent_lead"]),
            "b_dpo": make_person(b, ["dpo"]),
            "coordinator": make_person(region, ["coordinator"]),
            "police_prevent_lead": make_person(police, ["prevent_lead"]),
        }
    )
    return SpeakerWorld({"a": a, "b": b, "region": region, "police": police}, people)


# --- events -----------------------------------------------------------------------------------


@dataclass
class EventWorld:
    """Two universities and the other kinds of organisation, with people in every role."""

    orgs: dict[str, Any]
    people: dict[str, Any]

    def actor(self, who: str) -> Actor:
        return actor_of(self.people[who])


def event_world(make_org, make_person) -> EventWorld:
    """University A (every role, two Prevent leads and a senior officer), university B,
    a coordinator and a police Prevent team."""
    a = make_org(kind="university")
    b = make_org(kind="university")
    region = make_org(kind="regional_coordinator")
    police = make_org(kind="police_prevent")
    people = {
        "events_officer": make_person(a, ["events_officer"]),
        "prevent_lead": make_person(a, ["prevent_lead"]),
        "second_lead": make_person(a, ["prevent_lead"]),
        "dpo": make_person(a, ["dpo"]),
        "auditor": make_person(a, ["auditor"]),
        "org_admin": make_person(a, ["org_admin"]),
        "senior_officer": make_person(a, ["signatory", "senior_officer"]),
        "b_events_officer": make_person(b, ["events_officer"]),
        "b_prevent_lead": make_person(b, ["prevent_lead"]),
        "coordinator": make_person(region, ["coordinator"]),
        "police_prevent_lead": make_person(police, ["prevent_lead"]),
    }
    return EventWorld({"a": a, "b": b, "region": region, "police": police}, people)


def advance(world: EventWorld, to: str, **overrides: Any) -> Event:
    """A new event of university A taken through the workflow up to stage `to`: draft,
    assessed, submitted, under_review, escalated (to the senior officer), decided (by the
    senior officer, approved with conditions)."""
    event = new_event(world.actor("events_officer"), **overrides)
    return advance_event(
        event,
        to,
        officer=world.actor("events_officer"),
        lead=world.actor("prevent_lead"),
        senior_officer=world.people["senior_officer"],
    )


# --- advisory requests ------------------------------------------------------------------------

SPEAKER_NAME = "Dr Ember Quillfeather"
ALIAS = "E. Quillfeather-Vane"
EVENT_TITLE = "Lanterns and Liberty"
EVENT_SYNOPSIS = "A talk about lantern-making in the northern fells"


@dataclass
class AdvisoryWorld:
    """A region with two universities, its coordinator and police team, and outsiders."""

    orgs: dict
    people: dict
    speaker: object
    event: object

    def actor(self, who: str) -> Actor:
        return actor_of(self.people[who])


def advisory_event(actor: Actor, **overrides: Any) -> Event:
    """A draft event of the actor's university, as the advisory tests know it."""
    values: dict[str, Any] = {
        "title": EVENT_TITLE,
        "synopsis": EVENT_SYNOPSIS,
        "organiser_name": "Lantern Society",
        "venue_place": "Hall 3",
        "audience": "internal",
        "expected_size": "80",
    }
    values.update(overrides)
    return new_event(actor, **values)


def advisory_world(make_org, make_person, make_speaker) -> AdvisoryWorld:
    """Everyone the permission matrix needs, in region Testshire unless said otherwise."""
    uni = make_org(kind="university")
    other_uni = make_org(kind="university")
    coordinator_org = make_org(kind="regional_coordinator")
    far_coordinator_org = make_org(kind="regional_coordinator", region="Farshire")
    police = make_org(kind="police_prevent")
    far_police = make_org(kind="police_prevent", region="Farshire")
    hub = make_org(kind="hub")
    people = {
        "requester": make_person(uni, ["events_officer"]),
        "uni_lead": make_person(uni, ["prevent_lead"]),
        "dpo": make_person(uni, ["dpo"]),
        "coordinator": make_person(coordinator_org, ["coordinator"]),
        "other_coordinator": make_person(far_coordinator_org, ["coordinator"]),
        "police": make_person(police, ["prevent_lead"]),
        "other_police": make_person(far_police, ["prevent_lead"]),
        "other_uni": make_person(other_uni, ["events_officer", "prevent_lead"]),
        "auditor": make_person(hub, ["auditor", "dpo"]),
    }
    speaker = make_speaker(by=people["requester"], name=SPEAKER_NAME, aliases=[ALIAS])
    event = advisory_event(actor_of(people["requester"]))
    return AdvisoryWorld(
        orgs={
            "uni": uni,
            "other_uni": other_uni,
            "coordinator": coordinator_org,
            "far_coordinator": far_coordinator_org,
            "police": police,
            "far_police": far_police,
            "hub": hub,
        },
        people=people,
        speaker=speaker,
        event=event,
    )


def submit(world: AdvisoryWorld, **overrides: Any) -> AdvisoryRequest:
    """The requester asks about the world's speaker and event."""
    data = {
        "speaker_id": str(world.speaker.id),
        "event_id": str(world.event.id),
        "question": "Is there anything we should know before this talk?",
    }
    data.update(overrides)
    return advisory.submit_request(world.actor("requester"), data)


def route(world: AdvisoryWorld, request: AdvisoryRequest, team=None) -> AdvisoryRequest:
    """The coordinator routes the request to the region's police team (or `team`)."""
    team = team or world.orgs["police"]
    return advisory.route_request(
        world.actor("coordinator"),
        request,
        {"police_org_id": str(team.id), "routing_note": "Please advise on the speaker."},
    )


def answer(world: AdvisoryWorld, request: AdvisoryRequest, **overrides: Any) -> AdvisoryRequest:
    """The police team answers: amber, for 180 days."""
    data = {
        "rating": "amber",
        "rationale": "Proceed with an independent chair.",
        "expires_on": (advisory.local_today() + timedelta(days=180)).isoformat(),
    }
    data.update(overrides)
    return advisory.answer_request(world.actor("police"), request, data)


# --- sharing with partners --------------------------------------------------------------------

PURPOSE = "speaker_due_diligence"
OTHER_PURPOSE = "event_risk_assessment"
SHARING_ROLES = (
    "events_officer",
    "prevent_lead",
    "dpo",
    "auditor",
    "org_admin",
    "signatory",
    "coordinator",
)
READER_ROLES = {"events_officer", "prevent_lead", "dpo", "auditor", "org_admin", "coordinator"}

#: The schedule the sharing world's agreement gives the recipient.
SPEAKER_LEVELS = {
    "display_name": "full",
    "aliases": "masked",
    "topics": "pseudonymised",
    "sources": "masked",
    "appearances": "full",
}  # affiliations withheld
ASSERTION_LEVELS = {
    "kind": "full",
    "text": "masked",
    "source": "full",
    "stated_on": "generalised",
    "status": "full",
}  # source_url, confidence, review_by withheld
EVENT_LEVELS = {
    "title": "full",
    "starts_at": "generalised",
    "outcome": "full",
    "expected_size": "generalised",
    "speakers": "full",
}  # synopsis, venue_place, organiser_name withheld
DECISION_LEVELS = {"outcome": "full", "decided_on": "full", "event": "full"}  # rationale withheld


@dataclass
class SharingWorld:
    """An owner university sharing with a recipient university under one agreement; an
    outsider university with no agreement; people in any role, made on demand."""

    orgs: dict[str, Any]
    make_person: Any
    people: dict[tuple[str, str], Any] = field(default_factory=dict)
    speaker: Any = None
    statement: Any = None
    event: Any = None
    decision: Any = None
    agreement: Any = None

    def person(self, org: str, role: str = "events_officer") -> Any:
        key = (org, role)
        if key not in self.people:
            self.people[key] = self.make_person(self.orgs[org], [role])
        return self.people[key]

    def actor(self, org: str = "owner", role: str = "events_officer") -> Any:
        return actor_of(self.person(org, role))


def new_partner_speaker(actor: Actor, name: str, **overrides: Any) -> Any:
    """A shareable speaker of `actor`'s organisation."""
    values: dict[str, Any] = {
        "aliases": [{"name": "Embre Quilfeather", "kind": "alias"}],
        "affiliations": [{"organisation_name": "Lanternwick Society", "role": "Trustee"}],
        "topics": ["lantern-making", "tidal astronomy"],
        "sources": [
            {
                "url": "https://lanternwick.example/people/ember",
                "title": "Trustees",
                "retrieved_on": days(-3),
            }
        ],
        "distribution": "shareable",
    }
    values.update(overrides)
    return new_speaker(actor, name, **values)


def new_partner_statement(actor: Actor, speaker: Any, **overrides: Any) -> Any:
    """A shareable statement about `speaker`."""
    values: dict[str, Any] = {
        "text": "Spoke at the Northshire lantern fair about tidal calendars.",
        "source": "Fair programme",
        "source_url": "https://fair.example/programme",
        "stated_on": days(-40),
        "distribution": "shareable",
        "review_by": days(300),
    }
    values.update(overrides)
    return new_statement(actor, speaker, **values)


#: The shared event, as its organiser enters it.
SHARED_EVENT = {
    "title": "Lanterns and tides",
    "organiser_name": "Lantern Society of Fellwater",
    "synopsis": "A talk on the moon's pull, with a glowing finale.",
    "venue_place": "Brindlewood Hall",
    "audience": "public",
    "expected_size": "137",
    "distribution": "shareable",
}
#: Its decision, as the Prevent lead records it.
SHARED_DECISION = {
    "outcome": "approved_with_conditions",
    "rationale": "Quorate panel judged the glowing finale safe with stewards.",
    "conditions": "Stewards at each exit.",
}


def decided_partner_event(
    officer: Actor, lead: Actor, speaker: Any, **overrides: Any
) -> tuple[Event, Any]:
    """A shareable event with `speaker` on it, decided (approved with conditions) through the
    workflow; returns the event and its decision."""
    event = new_event(officer, [speaker], **{**SHARED_EVENT, **overrides})
    advance_event(event, "decided", officer=officer, lead=lead, decision=SHARED_DECISION)
    return event, event.decisions[-1]


def schedule_for(world: SharingWorld, *, speaker_entry: dict | None = None) -> list[dict]:
    owner, recipient = world.orgs["owner"], world.orgs["recipient"]
    return [
        speaker_entry or rule(owner, recipient, "speaker", SPEAKER_LEVELS),
        rule(owner, recipient, "assertion", ASSERTION_LEVELS),
        rule(owner, recipient, "event", EVENT_LEVELS),
        rule(owner, recipient, "decision", DECISION_LEVELS),
    ]


def sharing_world(make_org, make_person, make_agreement, **agreement_options: Any) -> SharingWorld:
    """Build the world: a speaker with a statement and a decided event, shared one way."""
    world = SharingWorld(
        {
            "owner": make_org(kind="university", name="Fellwater University"),
            "recipient": make_org(kind="university", name="Brackenmoor University"),
            "outsider": make_org(kind="university", name="Thistledown College"),
        },
        make_person,
    )
    officer = world.actor("owner")
    world.speaker = new_partner_speaker(officer, "Ember Quillfeather")
    world.statement = new_partner_statement(officer, world.speaker)
    world.event, world.decision = decided_partner_event(
        officer, world.actor("owner", "prevent_lead"), world.speaker
    )
    world.agreement, _ = make_agreement(
        [world.orgs["owner"], world.orgs["recipient"]],
        schedule_for(world),
        kind="one_way",
        **agreement_options,
    )
    return world


def add_region(world: SharingWorld, make_org, make_agreement) -> None:
    """A regional coordinator the owner also shares with (its own agreement)."""
    region = make_org(kind="regional_coordinator")
    world.orgs["region"] = region
    owner = world.orgs["owner"]
    make_agreement(
        [owner, region],
        [
            rule(owner, region, "speaker", SPEAKER_LEVELS),
            rule(owner, region, "event", EVENT_LEVELS),
        ],
        kind="one_way",
        reference="TEST-DSA-2",
    )


#: Who reads a partner record's page: every role at each university, and the coordinator.
UNIVERSITY_ROLES = tuple(r for r in SHARING_ROLES if r != "coordinator")
MATRIX = [(org, role) for org in ("recipient", "outsider", "owner") for role in UNIVERSITY_ROLES]
MATRIX += [("region", "coordinator"), ("region", "dpo")]


def expected_status(org: str, role: str) -> int:
    """What a partner record's page answers each (organisation, role)."""
    if role not in READER_ROLES:
        return 403
    if org in {"recipient", "region"}:
        return 200
    if org == "owner":
        return 302  # to the record's own page
    return 404


def signed_in(
    new_client, world: SharingWorld, org: str = "recipient", role: str = "events_officer"
):
    client = new_client()
    client.sign_in(world.person(org, role))
    return client


def page_text_of(body: str) -> str:
    """A page's text as a person reads it (tags dropped, entities decoded, spaces squeezed)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def page_text(response) -> str:
    """A response's page text (see `page_text_of`)."""
    return page_text_of(response.get_data(as_text=True))


def main_of(response) -> str:
    """The main content of a page, as text."""
    body = response.get_data(as_text=True)
    return page_text_of(body[body.index("<main") : body.index("</main>")])


def entries(action: str, outcome: str | None = None) -> list[Any]:
    """Audit entries with `action` (and `outcome`), oldest first."""
    return audit_entries(action, outcome=outcome)


def speaker_path(world: SharingWorld, purpose: str | None = PURPOSE) -> str:
    path = f"/shared/speakers/{world.speaker.id}"
    return f"{path}?purpose={purpose}" if purpose else path
