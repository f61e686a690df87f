"""Demo records for the Northshire region: fictional speakers, events at every status, risk
assessments, assertions, advisory ratings and advisory requests.

Every speaker, organiser and venue here is invented. Records are made through the services
(so each has its status history and audit entries) except where no service exists yet
(affiliations, sources, topics, assertions, an already-expired rating): those rows are made as
the services would make them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from core.db import db, utcnow
from core.validation import LOCAL_ZONE
from hub.records.advisory import services as advisory
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    AdvisoryStatus,
    Assertion,
    AssertionKind,
    AssertionRevision,
    AssertionStatus,
    Confidence,
    Distribution,
    Event,
    Rating,
    Speaker,
    SpeakerAffiliation,
    SpeakerSource,
    SpeakerTopic,
    TriageQuestion,
)
from hub.records.speakers import services as speakers
from hub.records.working_days import add_working_days
from partners import signin

# Demo staff (see hub/demo.py), by what they do here.
UON_EVENTS = "events@uni-northshire.example"
UON_PREVENT = "prevent@uni-northshire.example"
UON_SENIOR = "signatory@uni-northshire.example"
RAV_EVENTS = "events@ravensmoor.example"
RAV_PREVENT = "prevent@ravensmoor.example"
FELL_LEAD = "events@fellgate-met.example"
SU_EVENTS = "events@northshire-su.example"
POLICE = "prevent@northshire-police.example"
COORDINATOR = "coordinator@northshire-region.example"


@dataclass(frozen=True)
class DemoSpeaker:
    """An invented speaker: name, other names, affiliation, topics, and a public source."""

    name: str
    aliases: tuple[str, ...]
    affiliation: tuple[str, str]
    topics: tuple[str, ...]
    source: str


SPEAKERS: dict[str, tuple[str, list[DemoSpeaker]]] = {
    "university-of-northshire": (
        UON_EVENTS,
        [
            DemoSpeaker(
                "Dr Ember Quillfeather",
                ("Ember Quillfeather-Vane", "E. Q. Vane"),
                ("Fellside Institute for Lantern Studies", "Senior Fellow"),
                ("folk history", "public memory"),
                "https://fellside-institute.example/people/quillfeather",
            ),
            DemoSpeaker(
                "Professor Tobias Wrenfield",
                ("Toby Wrenfield",),
                ("The Wrenfield Forum", "Founder"),
                ("economics", "regional policy"),
                "https://wrenfield-forum.example/about",
            ),
            DemoSpeaker(
                "Mx Juniper Ashgrove",
                (),
                ("Ashgrove Debating Circle", "Convenor"),
                ("free expression", "debate"),
                "https://debating-circle.example/juniper-ashgrove",
            ),
        ],
    ),
    "ravensmoor-university": (
        RAV_EVENTS,
        [
            DemoSpeaker(
                "Professor Isolde Marrowby",
                ("Isolda Marrowbie",),
                ("Moorland Policy Unit", "Director"),
                ("land rights", "rural policy"),
                "https://moorland-policy.example/isolde-marrowby",
            ),
            DemoSpeaker(
                "Dr Kasimir Fenhollow",
                ("Kazimierz Fenhollow",),
                ("Northern Review of Ideas", "Contributing editor"),
                ("philosophy", "religion and society"),
                "https://northern-review.example/authors/fenhollow",
            ),
        ],
    ),
    "fellgate-metropolitan": (
        FELL_LEAD,
        [
            DemoSpeaker(
                "Dr Perpetua Inchbold",
                (),
                ("Inchbold & Stonecrop Consulting", "Partner"),
                ("security studies",),
                "https://inchbold-stonecrop.example/team",
            ),
            DemoSpeaker(
                "Ms Oriel Stonecrop",
                ("Oriel Stonecrop-Hale",),
                ("Fellgate Civic Trust", "Trustee"),
                ("urban history",),
                "https://fellgate-civic.example/trustees",
            ),
        ],
    ),
    "northshire-su": (
        SU_EVENTS,
        [
            DemoSpeaker(
                "Mr Caspian Reedwater",
                ("Cas Reedwater",),
                ("Reedwater Podcast Collective", "Host"),
                ("media", "youth politics"),
                "https://reedwater-podcast.example/about",
            ),
            DemoSpeaker(
                "Dr Wilhelmina Thornquist",
                ("Mina Thornquist",),
                ("Thornquist Climate Network", "Co-founder"),
                ("climate activism",),
                "https://thornquist-network.example/people",
            ),
        ],
    ),
}

NO_CONCERNS = {question.value: "no" for question in TriageQuestion}


def _at(days: int, hour: int = 18) -> datetime:
    """A UK local time `days` from today at `hour`:00, in UTC."""
    day = utcnow().astimezone(LOCAL_ZONE).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=LOCAL_ZONE).astimezone(UTC)


class _Seeder:
    """Builds the demo records with the services, acting as the demo's staff."""

    def __init__(self, organisations: dict[str, Any], people: dict[str, Any]) -> None:
        self.orgs = organisations
        self.people = people
        self.speakers: dict[str, Speaker] = {}
        self.events: dict[str, Event] = {}
        self.today = advisory.local_today()

    def actor(self, email: str) -> Any:
        return signin.actor_for(self.people[email])

    # -- speakers ------------------------------------------------------------------------

    def add_speakers(self) -> None:
        for slug, (email, entries) in SPEAKERS.items():
            if slug not in self.orgs:
                continue
            for entry in entries:
                speaker = speakers.create_speaker(
                    self.actor(email),
                    # The demo institutions chose to make their speakers shareable (a record
                    # is internal unless someone chooses so), for their agreements to act on.
                    {
                        "display_name": entry.name,
                        "aliases": list(entry.aliases),
                        "distribution": "shareable",
                    },
                )
                organisation, role = entry.affiliation
                speaker.affiliations.append(
                    SpeakerAffiliation(organisation_name=organisation, role=role)
                )
                speaker.sources.append(
                    SpeakerSource(
                        url=entry.source,
                        title=f"{organisation}: profile",
                        retrieved_on=self.today - timedelta(days=40),
                    )
                )
                speaker.topics.extend(SpeakerTopic(topic=topic) for topic in entry.topics)
                self.speakers[entry.name] = speaker
        db.session.flush()

    def add_assertions(self) -> None:
        """A fact, an opinion, and a disputed fact with its history (as the assertions service
        records them: version 1 active, then a revision for each change)."""
        ember = self.speakers["Dr Ember Quillfeather"]
        author = self.people[UON_EVENTS].id
        self._assertion(
            ember,
            AssertionKind.FACT,
            "Spoke on lantern-making traditions at the Fellside Folk Festival in May 2025.",
            "Fellside Folk Festival programme, page 4",
            Confidence.HIGH,
            author,
        )
        self._assertion(
            ember,
            AssertionKind.OPINION,
            "In the events team's view, question sessions with this speaker run long; "
            "allow protected time for questions.",
            "Events team debrief notes",
            Confidence.MEDIUM,
            author,
        )
        disputed = self._assertion(
            self.speakers["Professor Tobias Wrenfield"],
            AssertionKind.FACT,
            "Withdrew from a panel at another institution in 2024 after a venue dispute.",
            "Regional newsletter, March 2024",
            Confidence.LOW,
            author,
        )
        disputed.status = AssertionStatus.DISPUTED
        disputed.version = 2
        disputed.revisions.append(
            AssertionRevision(
                version=2,
                status=AssertionStatus.DISPUTED,
                text=disputed.text,
                reason="The speaker's office says the panel was cancelled by the organiser.",
                changed_by_id=self.people[UON_PREVENT].id,
            )
        )
        db.session.flush()

    def _assertion(self, speaker, kind, text, source, confidence, author) -> Assertion:
        assertion = Assertion(
            speaker_id=speaker.id,
            owner_org_id=speaker.owner_org_id,
            distribution=Distribution.SHAREABLE,
            kind=kind,
            text=text,
            source=source,
            stated_on=self.today - timedelta(days=60),
            confidence=confidence,
            review_by=self.today + timedelta(days=300),
            status=AssertionStatus.ACTIVE,
            created_by_id=author,
        )
        assertion.revisions.append(
            AssertionRevision(
                version=1, status=AssertionStatus.ACTIVE, text=text, changed_by_id=author
            )
        )
        db.session.add(assertion)
        return assertion

    # -- events --------------------------------------------------------------------------

    def event(self, key: str, email: str, title: str, speaker_names: list[str], **extra) -> Event:
        days = extra.pop("days", 30)
        data = {
            "organiser_type": "society",
            "organiser_name": "Lantern and Ledger Society",
            "title": title,
            "synopsis": f"{title}: a talk followed by questions from the audience.",
            "starts_at": _at(days),
            "ends_at": _at(days, 20),
            "venue_kind": "on_campus",
            "venue_place": "Beacon Building, Lecture Theatre 2",
            "audience": "internal",
            "expected_size": 120,
            "distribution": "shareable",  # chosen, as for the speakers
            "speaker_ids": [str(self.speakers[name].id) for name in speaker_names],
            **extra,
        }
        created = events.create_event(self.actor(email), data)
        self.events[key] = created
        return created

    def self_assess(self, event: Event, email: str, **answers: str) -> None:
        data = dict(NO_CONCERNS)
        for question, detail in answers.items():
            data[question] = "unsure"
            data[assessments.detail_key(TriageQuestion(question))] = detail
        assessments.save_self_assessment(self.actor(email), event, data)

    def submit(self, event: Event, email: str, **answers: str) -> None:
        self.self_assess(event, email, **answers)
        events.change_status(self.actor(email), event, {"status": "submitted"})

    def review(self, event: Event, email: str, likelihood: int, impact: int, notes: str) -> None:
        assessments.save_local_review(
            self.actor(email),
            event,
            {"likelihood": likelihood, "impact": impact, "review_notes": notes},
        )

    def mitigate(self, event: Event, email: str, kind: str, owner: str, status: str, text: str):
        assessments.add_mitigation(
            self.actor(email),
            event,
            {"type": kind, "owner_name": owner, "status": status, "description": text},
        )

    def decide(self, event: Event, email: str, outcome: str, rationale: str, **extra) -> None:
        decisions.record_decision(
            self.actor(email),
            event,
            {"outcome": outcome, "rationale": rationale, "decided_on": self.today, **extra},
        )

    def add_events(self) -> None:
        self._northshire()
        self._ravensmoor()
        self._fellgate()
        self._students_union()
        db.session.flush()

    def _northshire(self) -> None:
        self.event(
            "uon_draft", UON_EVENTS, "Lanterns of the Northern Fells", ["Mx Juniper Ashgrove"]
        )
        submitted = self.event(
            "uon_submitted",
            UON_EVENTS,
            "Regional Money, Regional Power",
            ["Professor Tobias Wrenfield"],
            audience="public",
            expected_size=200,
        )
        self.submit(submitted, UON_EVENTS)
        escalated = self.event(
            "uon_escalated",
            UON_EVENTS,
            "Memory, Myth and the Moor: an open debate",
            ["Dr Ember Quillfeather", "Mx Juniper Ashgrove"],
            audience="public",
            expected_size=450,
            days=45,
        )
        self.submit(
            escalated,
            UON_EVENTS,
            controversy_elsewhere="A protest group has said it will picket the debate.",
            safety_protest_capacity="Expected audience is close to the hall's capacity.",
        )
        self.review(
            escalated, UON_PREVENT, 3, 4, "Public debate with a likely protest; needs stewards."
        )
        self.mitigate(
            escalated, UON_PREVENT, "stewards_security", "Evan Eventide", "agreed",
            "Six stewards and a security lead at both entrances.",
        )  # fmt: skip
        self.mitigate(
            escalated, UON_PREVENT, "independent_chair", "Priya Lathom", "proposed",
            "A chair from the philosophy department, not the organising society.",
        )  # fmt: skip
        assessments.escalate(
            self.actor(UON_PREVENT),
            escalated,
            {
                "senior_officer_id": str(self.people[UON_SENIOR].id),
                "escalation_reason": "Large public event with a threatened protest: a "
                "designated event for the Pro-Vice-Chancellor.",
            },
        )
        conditions = self.event(
            "uon_conditions",
            UON_EVENTS,
            "Who Owns the Fells? Land, Law and Lanterns",
            ["Professor Tobias Wrenfield"],
            days=21,
        )
        self.submit(
            conditions,
            UON_EVENTS,
            unlawful_speech="A past talk drew complaints; we have no evidence of unlawful speech.",
        )
        self.review(conditions, UON_PREVENT, 2, 3, "Moderate risk, manageable with a chair.")
        self.mitigate(
            conditions, UON_PREVENT, "independent_chair", "Priya Lathom", "agreed",
            "An independent chair from outside the society.",
        )  # fmt: skip
        self.mitigate(
            conditions, UON_PREVENT, "protected_qa", "Evan Eventide", "in_place",
            "Thirty minutes protected for questions.",
        )  # fmt: skip
        assessments.escalate(
            self.actor(UON_PREVENT),
            conditions,
            {
                "senior_officer_id": str(self.people[UON_SENIOR].id),
                "escalation_reason": "Complaints about a previous talk: a designated event.",
            },
        )
        self.decide(
            conditions,
            UON_SENIOR,
            "approved_with_conditions",
            "The talk is lawful speech; the risk of disorder is managed by the agreed mitigations.",
            conditions="An independent chair; thirty minutes protected for questions.",
        )
        rejected = self.event(
            "uon_rejected",
            UON_EVENTS,
            "Midnight Lantern Procession and Rally",
            ["Dr Ember Quillfeather"],
            venue_kind="off_campus",
            venue_place="Northshire Market Square",
            audience="public",
            expected_size=2000,
            branded_or_funded=True,
            days=10,
        )
        self.submit(
            rejected,
            UON_EVENTS,
            safety_protest_capacity="An outdoor rally at night for up to 2,000 people.",
        )
        self.review(
            rejected, UON_PREVENT, 4, 5, "Crowd safety risk at night with no stewarding plan."
        )
        self.mitigate(
            rejected, UON_PREVENT, "stewards_security", "Evan Eventide", "not_possible",
            "No stewarding company can cover the date.",
        )  # fmt: skip
        self.decide(
            rejected,
            UON_PREVENT,
            "rejected",
            "The event cannot be held safely on this date; the society may propose an indoor "
            "talk instead.",
            lawful_speech_finding="Nothing suggests the speech would be unlawful; the risk "
            "is to crowd safety and could not be mitigated in the time available.",
            reason_category="health_and_safety",
            mitigations_considered=[
                {
                    "type": "stewards_security",
                    "why_insufficient": "No stewarding company is available for the date.",
                },
                {
                    "type": "ticketing_id_checks",
                    "why_insufficient": "An open-air square cannot be ticketed or closed off.",
                },
            ],
        )

    def _ravensmoor(self) -> None:
        approved = self.event(
            "rav_approved",
            RAV_EVENTS,
            "Rights of Way: a History of the Moor",
            ["Professor Isolde Marrowby"],
            organiser_type="staff",
            organiser_name="School of History",
        )
        self.submit(approved, RAV_EVENTS)
        self.review(approved, RAV_PREVENT, 1, 2, "Academic lecture; low risk.")
        self.decide(approved, RAV_PREVENT, "approved", "A routine academic lecture; low risk.")
        postponed = self.event(
            "rav_postponed",
            RAV_EVENTS,
            "Faith, Reason and the Northern Review",
            ["Dr Kasimir Fenhollow"],
            days=14,
        )
        self.submit(postponed, RAV_EVENTS, touring_speaker="Speaking at three campuses this month.")
        self.review(postponed, RAV_PREVENT, 2, 3, "Wait for the coordinator's advice.")
        self.decide(
            postponed,
            RAV_PREVENT,
            "postponed",
            "Postponed until the regional coordinator's advice arrives.",
        )
        reviewing = self.event(
            "rav_under_review",
            RAV_EVENTS,
            "The Moorland Commons Today",
            ["Professor Isolde Marrowby"],
            organiser_type="external_hirer",
            organiser_name="Moorland Policy Unit",
            audience="ticketed",
        )
        self.submit(reviewing, RAV_EVENTS)
        self.review(reviewing, RAV_PREVENT, 2, 2, "External hirer; checking the booking terms.")
        self.mitigate(
            reviewing, RAV_PREVENT, "code_of_conduct", "Rosa Quill", "proposed",
            "The hirer signs the room-booking code of conduct.",
        )  # fmt: skip
        withdrawn = self.event(
            "rav_withdrawn",
            RAV_EVENTS,
            "Philosophy Night: Open Questions",
            ["Dr Kasimir Fenhollow"],
        )
        self.submit(withdrawn, RAV_EVENTS)
        events.change_status(
            self.actor(RAV_EVENTS),
            withdrawn,
            {"status": "withdrawn", "note": "The society cancelled the evening."},
        )

    def _fellgate(self) -> None:
        approved = self.event(
            "fell_approved",
            FELL_LEAD,
            "Civic Memory in Fellgate",
            ["Ms Oriel Stonecrop"],
            venue_kind="online",
            venue_place="The university's webinar platform",
        )
        self.submit(approved, FELL_LEAD)
        self.review(approved, FELL_LEAD, 1, 1, "Online talk on local history.")
        self.decide(approved, FELL_LEAD, "approved", "Low risk; no conditions needed.")
        submitted = self.event(
            "fell_submitted",
            FELL_LEAD,
            "Security, Liberty and the Campus",
            ["Dr Perpetua Inchbold"],
            venue_kind="hybrid",
            audience="public",
        )
        self.submit(submitted, FELL_LEAD)

    def _students_union(self) -> None:
        self.event(
            "su_draft",
            SU_EVENTS,
            "Climate Futures Panel",
            ["Dr Wilhelmina Thornquist"],
            organiser_type="students_union",
            organiser_name="Northshire Students' Union",
            venue_place="Union Building, Main Hall",
        )
        submitted = self.event(
            "su_submitted",
            SU_EVENTS,
            "Podcasting and Politics: Live Recording",
            ["Mr Caspian Reedwater"],
            organiser_type="students_union",
            organiser_name="Northshire Students' Union",
            venue_place="Union Building, Studio 1",
            recorded=True,
        )
        self.submit(submitted, SU_EVENTS)
        withdrawn = self.event(
            "su_withdrawn",
            SU_EVENTS,
            "Freshers' Debate: This House Would Abolish Exams",
            ["Mr Caspian Reedwater"],
            organiser_type="students_union",
            organiser_name="Northshire Students' Union",
            venue_place="Union Building, Main Hall",
        )
        events.change_status(
            self.actor(SU_EVENTS), withdrawn, {"status": "withdrawn", "note": "Moved to spring."}
        )

    # -- ratings and advisory requests ---------------------------------------------------

    def add_advisory(self) -> None:
        police_org = self.orgs["northshire-police-prevent"]
        coordinator, police = self.actor(COORDINATOR), self.actor(POLICE)
        # A request answered two years ago whose rating has since expired (made as the
        # services made them then; a service would refuse an expiry date in the past).
        old_rating = AdvisoryRating(
            speaker_id=self.speakers["Dr Ember Quillfeather"].id,
            owner_org_id=police_org.id,
            distribution=Distribution.SHAREABLE,
            rating=Rating.GREEN,
            rationale="Nothing known at the time that would affect the event.",
            issued_on=self.today - timedelta(days=730),
            expires_on=self.today - timedelta(days=365),
            issued_by_id=self.people[POLICE].id,
        )
        db.session.add(old_rating)
        db.session.flush()
        asked_at = utcnow() - timedelta(days=745)
        db.session.add(
            AdvisoryRequest(
                requesting_org_id=self.people[UON_PREVENT].organisation_id,
                coordinator_org_id=uuid.UUID(coordinator.org_id),
                police_org_id=police_org.id,
                speaker_id=old_rating.speaker_id,
                question="Is there anything we should know before an evening lecture?",
                status=AdvisoryStatus.ANSWERED,
                submitted_by_id=self.people[UON_PREVENT].id,
                submitted_at=asked_at,
                due_on=add_working_days(
                    asked_at.astimezone(LOCAL_ZONE).date(), advisory.DUE_WORKING_DAYS
                ),
                routed_by_id=uuid.UUID(coordinator.id),
                routed_at=asked_at + timedelta(days=2),
                routing_note="A routine check.",
                answered_by_id=self.people[POLICE].id,
                answered_at=asked_at + timedelta(days=9),
                rating_id=old_rating.id,
            )
        )
        # Answered: the current rating.
        answered = advisory.submit_request(
            self.actor(UON_PREVENT),
            {
                "speaker_id": str(self.speakers["Professor Tobias Wrenfield"].id),
                "event_id": str(self.events["uon_conditions"].id),
                "question": "We have had complaints about a previous talk. Is there anything "
                "we should take into account?",
            },
        )
        advisory.route_request(
            coordinator,
            answered,
            {
                "police_org_id": str(police_org.id),
                "routing_note": "A routine check ahead of a designated event.",
            },
        )
        advisory.answer_request(
            police,
            answered,
            {
                "rating": "amber",
                "rationale": "Proceed with an independent chair and protected questions.",
                "expires_on": self.today + timedelta(days=180),
            },
        )
        # In flight: routed to police, not yet answered.
        in_flight = advisory.submit_request(
            self.actor(UON_EVENTS),
            {
                "speaker_id": str(self.speakers["Dr Ember Quillfeather"].id),
                "event_id": str(self.events["uon_escalated"].id),
                "question": "The speaker's earlier rating has expired. Is there anything new "
                "we should know before a large public debate?",
            },
        )
        advisory.route_request(
            coordinator,
            in_flight,
            {
                "police_org_id": str(police_org.id),
                "routing_note": "Large public debate in six weeks; previous rating expired.",
            },
        )
        # Overdue: submitted three weeks ago and still with the coordinator.
        overdue = advisory.submit_request(
            self.actor(RAV_EVENTS),
            {
                "speaker_id": str(self.speakers["Dr Kasimir Fenhollow"].id),
                "event_id": str(self.events["rav_postponed"].id),
                "question": "The speaker is touring several campuses this month. Has any "
                "institution raised concerns?",
            },
        )
        submitted_at = utcnow() - timedelta(days=21)
        overdue.submitted_at = submitted_at
        overdue.due_on = add_working_days(
            submitted_at.astimezone(LOCAL_ZONE).date(), advisory.DUE_WORKING_DAYS
        )
        db.session.flush()


def seed_records(organisations: dict[str, Any], people: dict[str, Any]) -> None:
    """Add the demo's speakers, events at every status, assessments and an advisory request."""
    seeder = _Seeder(organisations, people)
    seeder.add_speakers()
    seeder.add_assertions()
    seeder.add_events()
    seeder.add_advisory()
