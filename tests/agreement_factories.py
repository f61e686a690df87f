"""Factories for agreements (a pytest plugin of the root conftest): parties with signatories,
drafted, proposed and approved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agreements import services as agreements
from core.db import utcnow
from tests.conftest import actor_of

BASIS = {
    "article_6": "Art. 6(1)(e) public task (Prevent duty)",
    "article_9": "Art. 9(2)(g) substantial public interest",
    "schedule_1": "DPA 2018 Sch. 1 para 10 (preventing or detecting unlawful acts)",
    "article_10": "Art. 10 with DPA 2018 Sch. 1 para 10",
    "dpa_part_3": "DPA 2018 Part 3 s.35 (law enforcement purposes)",
}


def agreement_data(
    parties: list[dict[str, Any]],
    schedule: list[dict[str, Any]],
    *,
    reference: str = "TEST-DSA-1",
    kind: str = "reciprocal",
    purposes: list[str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> dict[str, Any]:
    """A complete agreement body, every ICO section filled."""
    starts_at = starts_at or utcnow() - timedelta(days=1)
    ends_at = ends_at or utcnow() + timedelta(days=365)
    data: dict[str, Any] = {
        "reference": reference,
        "title": f"Agreement {reference}",
        "type": kind,
        "parties": parties,
        "purposes": purposes or ["speaker_due_diligence"],
        "lawful_basis": BASIS,
        "data_schedule": schedule,
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "review_on": (starts_at + (ends_at - starts_at) / 2).date().isoformat(),
    }
    for key in (
        "statutory_power",
        "necessity",
        "categories_of_individuals",
        "direction_and_frequency",
        "onward_sharing",
        "retention",
        "security_measures",
        "accuracy_and_corrections",
        "rights_procedure",
        "exemptions",
        "dpia_reference",
        "breach_steps",
        "termination_and_destruction",
    ):
        data[key] = f"Test text for {key}."
    return data


@pytest.fixture
def party(make_person):
    """A party entry for an organisation, with a signatory person created for it."""

    def factory(org, role: str = "controller"):
        signatory = make_person(org, ["signatory", "dpo"])
        return {
            "organisation_id": str(org.id),
            "role": role,
            "designated_person": "Designated Person",
            "signatory_id": str(signatory.id),
        }, signatory

    return factory


@pytest.fixture
def make_agreement(party):
    """An approved agreement: make_agreement([org_a, org_b], schedule, **options)."""

    def factory(orgs, schedule, *, approve: bool = True, **options):
        entries, signatories = zip(*(party(org) for org in orgs), strict=True)
        data = agreement_data(list(entries), schedule, **options)
        drafter = actor_of(signatories[0])
        agreement = agreements.create_draft(drafter, data)
        if not approve:
            return agreement, signatories
        agreements.propose(drafter, agreement)
        for signatory in signatories:
            agreements.approve(
                actor_of(signatory),
                agreement,
                content_hash=agreement.content_hash,
                reauthenticated_at=datetime.now(UTC),
            )
        return agreement, signatories

    return factory


def rule(
    provider,
    recipient,
    record_type: str,
    fields: dict[str, str] | None = None,
    *,
    existence_only: bool = False,
) -> dict[str, Any]:
    """A schedule entry."""
    entry: dict[str, Any] = {
        "provider": str(provider.id),
        "recipient": str(recipient.id),
        "record_type": record_type,
    }
    if existence_only:
        entry["level"] = "existence_only"
    else:
        entry["fields"] = fields or {}
    return entry
