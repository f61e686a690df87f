"""Demo agreements for the Northshire region, at several statuses.

Made through the lifecycle services, as the people named in them would make them: a party's
signatory or administrator drafts and proposes, each party's named signatory approves (as if
they had just entered their password), and a DPO suspends. Dates are relative to today, so the
active agreements are in force whenever the demo is seeded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agreements import lifecycle
from agreements.fields import EXISTENCE_ONLY
from agreements.models import Agreement
from core.db import utcnow
from partners import signin

UON = "university-of-northshire"
RAV = "ravensmoor-university"
FELL = "fellgate-metropolitan"
SU = "northshire-su"
POLICE = "northshire-police-prevent"
COORDINATOR = "northshire-coordinator"
COUNCIL = "northshire-council"

#: The named signatory of each party (see hub/demo.py), and the designated person.
SIGNATORIES = {
    UON: ("signatory@uni-northshire.example", "Dara Protheroe, Data Protection Officer"),
    RAV: ("prevent@ravensmoor.example", "Ruth Cawley, Data Protection Officer"),
    FELL: ("admin@fellgate-met.example", "Felix Oduya, Data Protection Officer"),
    SU: ("admin@northshire-su.example", "Sam Ellery, Governance Manager"),
    POLICE: ("dpo@northshire-police.example", "Insp. Maud Penrose, Data Protection Officer"),
    COORDINATOR: ("coordinator@northshire-region.example", "Colm Ridley, Regional Coordinator"),
    COUNCIL: ("admin@northshire-council.example", "Lena Marsh, Prevent Lead"),
}

PUBLIC_TASK = (
    "UK GDPR Article 6(1)(e): a task in the public interest, the Prevent duty under section 26 "
    "of the Counter-Terrorism and Security Act 2015."
)
ARTICLE_9 = "UK GDPR Article 9(2)(g): substantial public interest."
SCHEDULE_1 = (
    "DPA 2018 Schedule 1, paragraph 6 (statutory and government purposes) and paragraph 10 "
    "(preventing or detecting unlawful acts)."
)
ARTICLE_10 = (
    "UK GDPR Article 10, with DPA 2018 Schedule 1 paragraph 10 (preventing or detecting "
    "unlawful acts)."
)
PART_3 = (
    "DPA 2018 Part 3: processing by a competent authority for the law enforcement purposes "
    "(section 31), sensitive processing under section 35(5) with Schedule 8 paragraph 1 "
    "(statutory purposes); logged under section 62."
)


def _sections(**overrides: str) -> dict[str, str]:
    """The ICO sections in plain words, as a regional protocol would have them."""
    sections = {
        "statutory_power": "The Prevent duty: section 26 of the Counter-Terrorism and Security "
        "Act 2015, and the Prevent duty guidance for higher education in England and Wales.",
        "necessity": "Each party must assess the risk of events with external speakers. "
        "Knowing what a partner already learned about a speaker avoids repeating checks and "
        "gives a fuller picture; only the fields in the schedule are shared, at the lowest "
        "level that serves the purpose.",
        "categories_of_individuals": "External speakers invited to events, and the "
        "organisers named on event records.",
        "direction_and_frequency": "On demand: a member of staff queries the hub for a "
        "speaker or event, stating the purpose; nothing is pushed in bulk.",
        "onward_sharing": "No onward sharing without the provider's written consent, except "
        "where the law requires it.",
        "retention": "Recipients keep shared data only as long as the event or case it was "
        "used for, and at most 12 months; it is then deleted from local records.",
        "security_measures": "Access through the hub only, by named staff with two-factor "
        "sign-in; every disclosure is recorded in the hub's verifiable audit log.",
        "accuracy_and_corrections": "Providers correct or withdraw statements in the hub; "
        "every recipient the audit log shows is told at once.",
        "rights_procedure": "Each party answers requests about its own records; requests "
        "about shared data are passed to the provider within 5 working days.",
        "exemptions": "DPA 2018 Schedule 2 paragraph 2 (crime and taxation) may apply to "
        "specific items, decided case by case and recorded.",
        "dpia_reference": "NSH-DPIA-2026-03",
        "breach_steps": "Tell the provider's DPO within 24 hours; the provider decides on "
        "notifying the ICO within 72 hours; a DPO may suspend sharing at once.",
        "termination_and_destruction": "On termination, recipients delete shared data within "
        "30 days and confirm it in writing to each provider.",
    }
    sections.update(overrides)
    return sections


class _Seeder:
    """Makes the demo's agreements through the lifecycle, as the demo people."""

    def __init__(self, organisations: dict[str, Any], people: dict[str, Any]) -> None:
        self.organisations = organisations
        self.people = people
        self.now = utcnow()

    def org(self, slug: str) -> str:
        return str(self.organisations[slug].id)

    def actor(self, email: str) -> Any:
        return signin.actor_for(self.people[email])

    def party(self, slug: str, role: str = "controller") -> dict[str, str]:
        email, designated = SIGNATORIES[slug]
        return {
            "organisation_id": self.org(slug),
            "role": role,
            "designated_person": designated,
            "signatory_id": str(self.people[email].id),
        }

    def rule(self, provider: str, recipient: str, record_type: str, fields: Any) -> dict:
        entry: dict[str, Any] = {
            "provider": self.org(provider),
            "recipient": self.org(recipient),
            "record_type": record_type,
        }
        if fields == EXISTENCE_ONLY:
            entry["level"] = EXISTENCE_ONLY
        else:
            entry["fields"] = fields
        return entry

    def draft(
        self,
        drafter: str,
        *,
        reference: str,
        title: str,
        kind: str,
        parties: list[dict[str, str]],
        purposes: list[str],
        lawful_basis: dict[str, str],
        schedule: list[dict[str, Any]],
        starts_in_days: int,
        ends_in_days: int,
        review_in_days: int,
        **sections: str,
    ) -> Agreement:
        starts = (self.now + timedelta(days=starts_in_days)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        data = {
            "reference": reference,
            "title": title,
            "type": kind,
            "parties": parties,
            "purposes": purposes,
            "lawful_basis": lawful_basis,
            "data_schedule": schedule,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(days=ends_in_days - starts_in_days)).isoformat(),
            "review_on": (self.now + timedelta(days=review_in_days)).date().isoformat(),
            **_sections(**sections),
        }
        return lifecycle.create_draft(self.actor(drafter), data)

    def propose(self, agreement: Agreement, email: str) -> None:
        lifecycle.propose(self.actor(email), agreement)

    def approve(self, agreement: Agreement, *slugs: str) -> None:
        for slug in slugs:
            lifecycle.approve(
                self.actor(SIGNATORIES[slug][0]),
                agreement,
                content_hash=agreement.content_hash or "",
                # The demo stands in for the signatory's password re-entry on the page.
                reauthenticated_at=utcnow(),
            )

    # --- the agreements -----------------------------------------------------------------

    def universities(self) -> Agreement:
        """Active, reciprocal: each university gives the other different fields, some masked
        or pseudonymised, some withheld."""
        signatory = SIGNATORIES[UON][0]
        agreement = self.draft(
            signatory,
            reference="NSH-DSA-2026-01",
            title="Northshire universities: external speakers and events",
            kind="reciprocal",
            parties=[self.party(UON), self.party(RAV)],
            purposes=["event_risk_assessment", "speaker_due_diligence"],
            lawful_basis={
                "article_6": PUBLIC_TASK,
                "article_9": ARTICLE_9,
                "schedule_1": SCHEDULE_1,
            },
            schedule=[
                self.rule(
                    UON,
                    RAV,
                    "speaker",
                    {
                        "display_name": "full",
                        "aliases": "full",
                        "affiliations": "masked",
                        "topics": "pseudonymised",
                        "sources": "masked",
                    },
                ),
                self.rule(
                    UON,
                    RAV,
                    "event",
                    {
                        "title": "full",
                        "organiser_type": "full",
                        "starts_at": "generalised",
                        "venue_kind": "full",
                        "audience": "full",
                        "expected_size": "generalised",
                        "speakers": "pseudonymised",
                        "status": "full",
                        "outcome": "full",
                    },
                ),
                self.rule(
                    UON,
                    RAV,
                    "decision",
                    {
                        "event": "pseudonymised",
                        "outcome": "full",
                        "conditions": "full",
                        "reason_category": "full",
                        "decided_on": "generalised",
                    },
                ),
                self.rule(
                    RAV,
                    UON,
                    "speaker",
                    {
                        "display_name": "full",
                        "aliases": "masked",
                        "affiliations": "full",
                        "sources": "full",
                    },
                ),
                self.rule(
                    RAV,
                    UON,
                    "event",
                    {
                        "title": "full",
                        "organiser_name": "masked",
                        "starts_at": "full",
                        "venue_kind": "full",
                        "expected_size": "full",
                        "speakers": "full",
                        "outcome": "full",
                    },
                ),
                self.rule(RAV, UON, "assessment", EXISTENCE_ONLY),
            ],
            starts_in_days=-90,
            ends_in_days=640,
            review_in_days=270,
        )
        self.propose(agreement, signatory)
        self.approve(agreement, UON, RAV)
        return agreement

    def police(self) -> Agreement:
        """Active, one way: the police Prevent team gives advisory ratings (not their
        rationale) to the regional coordinator under Part 3; its review falls due soon."""
        signatory = SIGNATORIES[POLICE][0]
        agreement = self.draft(
            signatory,
            reference="NSH-DSA-2026-02",
            title="Police Prevent advisory ratings for the regional coordinator",
            kind="one_way",
            parties=[self.party(POLICE), self.party(COORDINATOR)],
            purposes=["advisory_request", "working_group_case_review"],
            lawful_basis={
                "article_6": "UK GDPR Article 6(1)(e), for the coordinator's processing as part "
                "of the Department for Education's Prevent role.",
                "article_10": ARTICLE_10,
                "dpa_part_3": PART_3,
            },
            schedule=[
                self.rule(
                    POLICE,
                    COORDINATOR,
                    "advisory_rating",
                    {
                        "speaker": "full",
                        "rating": "full",
                        "issued_on": "full",
                        "expires_on": "full",
                    },
                ),
                self.rule(
                    POLICE,
                    COORDINATOR,
                    "speaker",
                    {
                        "display_name": "full",
                        "aliases": "full",
                    },
                ),
            ],
            starts_in_days=-200,
            ends_in_days=530,
            review_in_days=20,
            direction_and_frequency="One way, from the police Prevent team to the regional "
            "coordinator, when the coordinator routes an institution's advisory request.",
            onward_sharing="The coordinator passes the rating (never its rationale) only to the "
            "institution that asked; nothing else is passed on.",
            retention="The coordinator keeps a rating until it expires, and at most 12 months.",
        )
        self.propose(agreement, signatory)
        self.approve(agreement, POLICE, COORDINATOR)
        return agreement

    def draft_fellgate(self) -> Agreement:
        """A draft, still being written."""
        return self.draft(
            SIGNATORIES[FELL][0],
            reference="NSH-DSA-2026-03",
            title="Fellgate and Northshire: event risk assessments",
            kind="reciprocal",
            parties=[self.party(FELL), self.party(UON)],
            purposes=["event_risk_assessment"],
            lawful_basis={"article_6": PUBLIC_TASK},
            schedule=[
                self.rule(FELL, UON, "event", {"title": "full", "outcome": "full"}),
                self.rule(UON, FELL, "event", {"title": "full", "outcome": "full"}),
                self.rule(FELL, UON, "assessment", {"rating": "full"}),
                self.rule(UON, FELL, "assessment", {"rating": "full"}),
            ],
            starts_in_days=30,
            ends_in_days=760,
            review_in_days=400,
        )

    def proposed_council(self) -> Agreement:
        """Proposed: the coordinator has approved; the council's signatory has not yet."""
        signatory = SIGNATORIES[COORDINATOR][0]
        agreement = self.draft(
            signatory,
            reference="NSH-DSA-2026-04",
            title="Regional working group: case reviews with the county council",
            kind="reciprocal",
            parties=[self.party(COORDINATOR), self.party(COUNCIL)],
            purposes=["working_group_case_review"],
            lawful_basis={"article_6": PUBLIC_TASK},
            schedule=[
                self.rule(COORDINATOR, COUNCIL, "speaker", {"display_name": "full"}),
                self.rule(COUNCIL, COORDINATOR, "speaker", {"display_name": "full"}),
                self.rule(COUNCIL, COORDINATOR, "event", EXISTENCE_ONLY),
            ],
            starts_in_days=7,
            ends_in_days=372,
            review_in_days=190,
        )
        self.propose(agreement, signatory)
        self.approve(agreement, COORDINATOR)
        return agreement

    def suspended_union(self) -> Agreement:
        """Approved, then suspended by the university's DPO."""
        signatory = SIGNATORIES[SU][0]
        agreement = self.draft(
            signatory,
            reference="NSH-DSA-2025-07",
            title="Students' union society events: speaker checks",
            kind="reciprocal",
            parties=[self.party(SU), self.party(UON)],
            purposes=["speaker_due_diligence"],
            lawful_basis={"article_6": PUBLIC_TASK},
            schedule=[
                self.rule(SU, UON, "speaker", {"display_name": "full", "sources": "full"}),
                self.rule(UON, SU, "speaker", {"display_name": "full", "sources": "masked"}),
            ],
            starts_in_days=-150,
            ends_in_days=215,
            review_in_days=60,
        )
        self.propose(agreement, signatory)
        self.approve(agreement, SU, UON)
        lifecycle.suspend(
            self.actor("dpo@uni-northshire.example"),
            agreement,
            "A disclosure outside the agreed purpose is being reviewed by both DPOs.",
        )
        return agreement

    def expired_fellgate(self) -> Agreement:
        """Approved, and past its end date (expiry needs no job: only the clock)."""
        signatory = SIGNATORIES[FELL][0]
        agreement = self.draft(
            signatory,
            reference="NSH-DSA-2024-11",
            title="Fellgate event outcomes for the regional coordinator (pilot)",
            kind="one_way",
            parties=[self.party(FELL), self.party(COORDINATOR)],
            purposes=["working_group_case_review"],
            lawful_basis={"article_6": PUBLIC_TASK},
            schedule=[
                self.rule(
                    FELL,
                    COORDINATOR,
                    "event",
                    {
                        "title": "full",
                        "starts_at": "generalised",
                        "outcome": "full",
                    },
                ),
            ],
            starts_in_days=-400,
            ends_in_days=-35,
            review_in_days=-120,
        )
        self.propose(agreement, signatory)
        self.approve(agreement, FELL, COORDINATOR)
        return agreement


def seed_agreements(organisations: dict[str, Any], people: dict[str, Any]) -> None:
    """An active reciprocal agreement between two universities, a one-way agreement from police
    to the coordinator, and others at draft, proposed, suspended and expired."""
    seeder = _Seeder(organisations, people)
    seeder.universities()
    seeder.police()
    seeder.draft_fellgate()
    seeder.proposed_council()
    seeder.suspended_union()
    seeder.expired_fellgate()
