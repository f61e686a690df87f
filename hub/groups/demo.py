"""The demo's Northshire Prevent working group: a seven-party agreement made through the
agreements lifecycle (each party's signatory approves), every partner invited and accepted by
its administrator, two meetings held (minutes approved, one amended, feedback sent), one to
come with cases on its agenda, and actions open, done and overdue.

Everything is made through the services, acting as the demo's people, so each step is in the
audit log. Two invented speaker records let the coordinator's dashboard show a touring speaker.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from agreements import lifecycle
from agreements.demo import ARTICLE_9, PUBLIC_TASK, SCHEDULE_1, SIGNATORIES
from agreements.fields import EXISTENCE_ONLY
from agreements.models import Agreement
from core.db import db, utcnow
from core.validation import LOCAL_ZONE
from hub.groups import actions, membership, services
from hub.groups.meetings import agenda, feedback
from hub.groups.meetings import services as meetings
from hub.groups.models import GroupAction, Meeting, WorkingGroup
from hub.records.events import services as events
from hub.records.models import Event, Speaker
from hub.records.speakers import services as speakers
from partners import signin

COORDINATOR = "coordinator@northshire-region.example"
UON, RAV, FELL, SU = (
    "university-of-northshire",
    "ravensmoor-university",
    "fellgate-metropolitan",
    "northshire-su",
)
POLICE, COUNCIL, REGION = (
    "northshire-police-prevent",
    "northshire-council",
    "northshire-coordinator",
)
INSTITUTIONS = (UON, RAV, FELL, SU)
MEMBERS = (REGION, UON, RAV, FELL, SU, POLICE, COUNCIL)
#: Each organisation's administrator answers the invitation.
ADMINS = {
    UON: "admin@uni-northshire.example",
    RAV: "admin@ravensmoor.example",
    FELL: "admin@fellgate-met.example",
    SU: "admin@northshire-su.example",
    POLICE: "admin@northshire-police.example",
    COUNCIL: "admin@northshire-council.example",
}
ATTENDEES = (
    "prevent@uni-northshire.example",
    "prevent@ravensmoor.example",
    "events@fellgate-met.example",
    "events@northshire-su.example",
    "prevent@northshire-police.example",
    "prevent@northshire-council.example",
)
GROUP_NAME = "Northshire Prevent Working Group"
AGREEMENT_REFERENCE = "NSH-DSA-2026-05"
TOURING_SPEAKER = "Dr Kasimir Fenhollow"

TERMS = (
    "The group brings together the region's universities, the students' union, the police "
    "Prevent team and the county council to review cases of external speakers and events, "
    "share good practice and agree actions.\n"
    "It meets once a term and whenever a case needs a joint view. Each member names who "
    "attends for it; attendees see a case only as far as the group's agreement gives their "
    "own organisation.\n"
    "Decisions and actions are fed back to each institution's Prevent lead after every "
    "meeting. Minutes are circulated for comment and approved at the next meeting."
)

#: What each kind of member receives of an institution's records for case reviews.
TO_COORDINATOR = {
    "speaker": {"display_name": "full", "aliases": "full", "topics": "full"},
    "event": {
        "title": "full",
        "starts_at": "full",
        "venue_kind": "full",
        "audience": "full",
        "expected_size": "generalised",
        "speakers": "full",
        "status": "full",
        "outcome": "full",
    },
}
TO_POLICE = {
    "speaker": {"display_name": "full", "aliases": "full"},
    "event": {"title": "full", "starts_at": "generalised", "venue_kind": "full"},
}
TO_COUNCIL = {
    "speaker": EXISTENCE_ONLY,
    "event": {"title": "full", "starts_at": "generalised"},
}
TO_PEER = {
    "speaker": {"display_name": "masked", "topics": "pseudonymised"},
    "event": {"title": "full", "starts_at": "generalised", "outcome": "full"},
}


def _at(days: int, hour: int) -> datetime:
    """A UK local time `days` from today at `hour`:00, in UTC."""
    day = utcnow().astimezone(LOCAL_ZONE).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=LOCAL_ZONE).astimezone(UTC)


class _Seeder:
    """Builds the demo group as the demo's people would."""

    def __init__(self, organisations: dict[str, Any], people: dict[str, Any]) -> None:
        self.orgs = organisations
        self.people = people

    def actor(self, email: str) -> Any:
        return signin.actor_for(self.people[email])

    def org_id(self, slug: str) -> str:
        return str(self.orgs[slug].id)

    # -- the agreement -------------------------------------------------------------------

    def _rule(self, provider: str, recipient: str, record_type: str, fields: Any) -> dict:
        entry: dict[str, Any] = {
            "provider": self.org_id(provider),
            "recipient": self.org_id(recipient),
            "record_type": record_type,
        }
        if fields == EXISTENCE_ONLY:
            entry["level"] = EXISTENCE_ONLY
        else:
            entry["fields"] = fields
        return entry

    def agreement(self) -> Agreement:
        """The group's multi-party agreement, drafted and proposed by the coordinator and
        approved by each party's signatory (as if each had just re-entered their password)."""
        schedule = []
        for provider in INSTITUTIONS:
            for record_type in ("speaker", "event"):
                schedule.append(
                    self._rule(provider, REGION, record_type, TO_COORDINATOR[record_type])
                )
                schedule.append(self._rule(provider, POLICE, record_type, TO_POLICE[record_type]))
                schedule.append(self._rule(provider, COUNCIL, record_type, TO_COUNCIL[record_type]))
                for peer in INSTITUTIONS:
                    if peer != provider:
                        schedule.append(
                            self._rule(provider, peer, record_type, TO_PEER[record_type])
                        )
        now = utcnow()
        starts = (now - timedelta(days=120)).replace(hour=0, minute=0, second=0, microsecond=0)
        data = {
            "reference": AGREEMENT_REFERENCE,
            "title": "Northshire Prevent Working Group: case reviews",
            "type": "reciprocal",
            "parties": [
                {
                    "organisation_id": self.org_id(slug),
                    "role": "controller",
                    "designated_person": SIGNATORIES[slug][1],
                    "signatory_id": str(self.people[SIGNATORIES[slug][0]].id),
                }
                for slug in MEMBERS
            ],
            "purposes": ["working_group_case_review"],
            "lawful_basis": {
                "article_6": PUBLIC_TASK,
                "article_9": ARTICLE_9,
                "schedule_1": SCHEDULE_1,
            },
            "data_schedule": schedule,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(days=850)).isoformat(),
            "review_on": (now + timedelta(days=150)).date().isoformat(),
            "statutory_power": "The Prevent duty: section 26 of the Counter-Terrorism and "
            "Security Act 2015, and the Prevent duty guidance for higher education.",
            "necessity": "Members review cases together so that one institution's knowledge "
            "of a speaker or event informs the others' proportionate decisions; each member "
            "receives only the fields its role in the group needs.",
            "categories_of_individuals": "External speakers at members' events.",
            "direction_and_frequency": "At and around the group's meetings: a case is put on "
            "a meeting's agenda and each attendee sees it as the schedule gives their "
            "organisation.",
            "onward_sharing": "None outside the group without the providing member's consent.",
            "retention": "Members keep what they were shown only as long as the case is open "
            "in the group, and at most 12 months.",
            "security_measures": "Access through the hub only, by named attendees with "
            "two-factor sign-in; every disclosure is recorded in the audit log.",
            "accuracy_and_corrections": "Providers correct their records in the hub; the next "
            "look at a case shows the correction.",
            "rights_procedure": "Each member answers requests about its own records.",
            "exemptions": "Decided case by case and recorded.",
            "dpia_reference": "NSH-DPIA-2026-07",
            "breach_steps": "Tell the providing member's DPO within 24 hours; any party's DPO "
            "may suspend the agreement at once.",
            "termination_and_destruction": "Members delete case material within 30 days.",
        }
        coordinator = self.actor(COORDINATOR)
        agreement = lifecycle.create_draft(coordinator, data)
        lifecycle.propose(coordinator, agreement)
        for slug in MEMBERS:
            lifecycle.approve(
                self.actor(SIGNATORIES[slug][0]),
                agreement,
                content_hash=agreement.content_hash or "",
                # The demo stands in for each signatory's password re-entry on the page.
                reauthenticated_at=utcnow(),
            )
        return agreement

    # -- a touring speaker ---------------------------------------------------------------

    def touring_speaker(self) -> None:
        """The same invented speaker recorded at two more institutions, each with a talk
        coming up, so the coordinator's dashboard shows him touring the region."""
        for email, title, days in (
            ("events@uni-northshire.example", "Belief and Doubt in the North", 24),
            ("events@fellgate-met.example", "Reason, Faith and the Civic University", 31),
        ):
            actor = self.actor(email)
            # Shareable by choice, as the records demo's speakers are.
            speaker = speakers.create_speaker(
                actor, {"display_name": TOURING_SPEAKER, "distribution": "shareable"}
            )
            events.create_event(
                actor,
                {
                    "organiser_type": "society",
                    "organiser_name": "Philosophy Society",
                    "title": title,
                    "synopsis": f"{title}: a talk followed by questions from the audience.",
                    "starts_at": _at(days, 18),
                    "ends_at": _at(days, 20),
                    "venue_kind": "on_campus",
                    "venue_place": "Lecture Theatre 1",
                    "audience": "internal",
                    "expected_size": 90,
                    "distribution": "shareable",
                    "speaker_ids": [str(speaker.id)],
                },
            )

    # -- the group -----------------------------------------------------------------------

    def group(self, agreement: Agreement) -> WorkingGroup:
        coordinator = self.actor(COORDINATOR)
        group = services.create_group(
            coordinator,
            {
                "name": GROUP_NAME,
                "region": self.orgs[REGION].region,
                "terms_of_reference": TERMS,
                "cadence": "termly",
                "agreement_id": str(agreement.id),
            },
        )
        for slug, admin in ADMINS.items():
            membership.invite(coordinator, group, {"organisation_id": self.org_id(slug)})
            membership.respond(self.actor(admin), group, True)
        for email in ATTENDEES:
            membership.add_attendee(coordinator, group, {"person_id": str(self.people[email].id)})
        return group

    def _event(self, title: str) -> Event:
        return db.session.scalars(sa.select(Event).where(Event.title == title)).one()

    def _speaker(self, name: str, owner: str) -> Speaker:
        return db.session.scalars(
            sa.select(Speaker).where(
                Speaker.display_name == name, Speaker.owner_org_id == self.orgs[owner].id
            )
        ).one()

    def _meeting(self, group: WorkingGroup, days: int, place: str, link: str = "") -> Meeting:
        return meetings.schedule_meeting(
            self.actor(COORDINATOR),
            group,
            {
                "starts_at": _at(days, 10),
                "ends_at": _at(days, 12),
                "location": place,
                "online_link": link,
            },
        )

    def _hold(
        self,
        meeting: Meeting,
        minutes: str,
        *,
        absent: tuple[str, ...] = (),
        decided: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        """Attendance as it was, the decisions taken, then minutes drafted, circulated and
        approved."""
        coordinator = self.actor(COORDINATOR)
        for text, concerns in decided:
            meetings.record_decision(
                coordinator,
                meeting,
                {"text": text, "concerns_org_id": str(concerns) if concerns else ""},
            )
        statuses = {
            str(row.person_id): ("apologies" if row.person.email in absent else "attended")
            for row in meetings.attendance_rows(meeting)
        }
        meetings.record_attendance(coordinator, meeting, statuses)
        meetings.save_minutes(coordinator, meeting, {"minutes": minutes})
        meetings.circulate_minutes(coordinator, meeting)
        meetings.approve_minutes(coordinator, meeting)

    def _action(self, meeting: Meeting, title: str, owner: str, due_days: int) -> GroupAction:
        action = actions.create_action(
            self.actor(COORDINATOR),
            meeting,
            {
                "title": title,
                "owner_person_id": str(self.people[owner].id),
                "due_on": (actions.local_today() + timedelta(days=max(due_days, 0))).isoformat(),
            },
        )
        if due_days < 0:
            # Agreed at a past meeting and due since: the service only accepts dates from
            # today, so the demo moves the date back as it would have been set then.
            action.due_on = actions.local_today() + timedelta(days=due_days)
        return action

    def meetings(self, group: WorkingGroup) -> None:
        coordinator = self.actor(COORDINATOR)
        uon, fell = self.orgs[UON], self.orgs[FELL]

        first = self._meeting(group, -84, "Northshire County Hall, Committee Room 2")
        agenda.add_agenda_item(
            coordinator,
            first,
            {"title": "Terms of reference and the group's agreement", "notes": ""},
        )
        agenda.add_agenda_item(
            coordinator,
            first,
            {
                "title": "Case: a large public debate with a threatened protest",
                "notes": "Brought by the University of Northshire.",
                "case": f"event:{self._event('Memory, Myth and the Moor: an open debate').id}",
            },
        )
        self._hold(
            first,
            "1. The group agreed its terms of reference and noted that its agreement, "
            f"{AGREEMENT_REFERENCE}, is in force for every member.\n"
            "2. Case (agenda item 2): members shared what they knew; the police Prevent team "
            "had nothing that would affect the event. The university will keep stewarding and "
            "an independent chair in place.",
            absent=("prevent@northshire-council.example",),
            decided=(
                ("The group adopts its terms of reference.", None),
                ("The University of Northshire keeps six stewards and an independent chair for "
                 "the debate (agenda item 2).", uon.id),
            ),
        )  # fmt: skip
        meetings.amend_minutes(
            coordinator,
            first,
            {
                "text": "In item 2, the independent chair is from the philosophy department, "
                "not the history department.",
                "reason": "Corrected by the University of Northshire's Prevent lead.",
            },
        )
        first_done = self._action(
            first,
            "Share the university's stewarding plan template with members",
            "prevent@uni-northshire.example",
            -60,
        )
        actions.update_action(
            self.actor("prevent@uni-northshire.example"),
            first_done,
            {"status": "done", "note": "Template shared with every member by email."},
        )
        self._action(
            first,
            "Circulate the council's community tension briefing",
            "prevent@northshire-council.example",
            -30,
        )

        second = self._meeting(group, -28, "Online", "https://meet.example/northshire-prevent")
        agenda.add_agenda_item(
            coordinator,
            second,
            {
                "title": "Case: a speaker touring several campuses this term",
                "notes": "Raised by Ravensmoor University.",
                "case": f"speaker:{self._speaker(TOURING_SPEAKER, RAV).id}",
            },
        )
        agenda.add_agenda_item(
            coordinator, second, {"title": "Freedom of speech notices: good practice"}
        )
        coordinator_decisions = (
            ("Members will tell the coordinator when a touring speaker is booked, so that the "
             "group can look at the case once rather than at each campus.", None),
            ("Fellgate Metropolitan University will pilot the freedom of speech notice at its "
             "next three public events.", fell.id),
            ("The University of Northshire will present its escalation process at the next "
             "meeting.", uon.id),
        )  # fmt: skip
        self._hold(
            second,
            "1. Case (agenda item 1): a speaker is booked at three of the region's campuses "
            "this term. Members compared what their agreements let them see and agreed to "
            "look at bookings together.\n"
            "2. Freedom of speech notices: Fellgate described its draft notice; members "
            "welcomed a pilot.",
            decided=coordinator_decisions,
        )
        self._action(
            second,
            "Report back on the freedom of speech notice pilot",
            "events@fellgate-met.example",
            21,
        )
        self._action(
            second,
            "Send the escalation process summary to the coordinator",
            "prevent@uni-northshire.example",
            -7,
        )
        feedback.send_digest(coordinator, first)
        feedback.send_digest(coordinator, second)

        upcoming = self._meeting(
            group, 35, "Ravensmoor University, Senate Room", "https://meet.example/northshire"
        )
        agenda.add_agenda_item(
            coordinator,
            upcoming,
            {
                "title": "Case: a designated event coming up",
                "notes": "The University of Northshire asks for members' views.",
                "case": f"event:{self._event('Memory, Myth and the Moor: an open debate').id}",
            },
        )
        agenda.add_agenda_item(
            coordinator,
            upcoming,
            {
                "title": "Case: the touring speaker, again",
                "case": f"speaker:{self._speaker(TOURING_SPEAKER, RAV).id}",
            },
        )
        agenda.add_agenda_item(
            coordinator,
            upcoming,
            {"title": "The University of Northshire's escalation process"},
        )


def seed_groups(organisations: dict[str, Any], people: dict[str, Any]) -> WorkingGroup:
    """The Northshire working group, its agreement, meetings and actions."""
    seeder = _Seeder(organisations, people)
    agreement = seeder.agreement()
    seeder.touring_speaker()
    db.session.flush()
    group = seeder.group(agreement)
    seeder.meetings(group)
    db.session.flush()
    return group
