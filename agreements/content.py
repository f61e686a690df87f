"""What an agreement records (the ICO Data Sharing Code's list), validated field by field."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from agreements.fields import EXISTENCE_ONLY, FIELDS, Category, Level
from agreements.models import AgreementType, PartyRole
from agreements.purposes import PURPOSES
from core.db import db
from core.validation import Checker
from partners.models import Organisation, Person

#: The narrative sections, each required, with the label used in messages and documents.
SECTIONS = {
    "statutory_power": "the statutory power (e.g. the Prevent duty, Counter-Terrorism and "
    "Security Act 2015 s.26)",
    "necessity": "why the sharing is necessary and proportionate",
    "categories_of_individuals": "the categories of individuals the data is about",
    "direction_and_frequency": "the direction, frequency and trigger of sharing",
    "onward_sharing": "the limits on onward sharing",
    "retention": "how long each party keeps the data and how it is disposed of",
    "security_measures": "the security measures",
    "accuracy_and_corrections": "how accuracy is checked and corrections reach recipients",
    "rights_procedure": "how individuals' rights are handled",
    "exemptions": "which exemptions may apply (or 'none')",
    "dpia_reference": "the DPIA reference",
    "breach_steps": "the steps on a breach",
    "termination_and_destruction": "what happens to shared data on termination",
}

LAWFUL_BASIS_KEYS = ("article_6", "article_9", "article_10", "schedule_1", "dpa_part_3")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are hashed and signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an agreement's canonical content."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def _moment_text(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def validate(data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a whole agreement and return its clean content (or raise ValidationFailed)."""
    check = Checker(data)
    content: dict[str, Any] = {
        "reference": check.text("reference", "the agreement's reference", max_length=64),
        "title": check.text("title", "the agreement's title", max_length=300),
    }
    kind = check.choice("type", AgreementType, "the type of agreement")
    content["type"] = kind.value if kind else None
    parties = _parties(check, data.get("parties"))
    content["parties"] = parties
    purposes = check.strings("purposes", "purposes", max_items=len(PURPOSES))
    for code in purposes:
        if code not in PURPOSES:
            check.add(
                "purposes",
                f"'{code}' is not a purpose the hub knows ({', '.join(sorted(PURPOSES))}).",
            )
    if not purposes:
        check.add("purposes", "Choose at least one purpose.")
    content["purposes"] = sorted(purposes)
    for key, label in SECTIONS.items():
        content[key] = check.text(key, label, max_length=5000)
    starts = check.moment("starts_at", "the start date")
    ends = check.moment("ends_at", "the end date")
    review = check.date("review_on", "the review date")
    if starts and ends and ends <= starts:
        check.add("ends_at", "The end date must be after the start date.")
    if starts and ends and review and not (starts.date() <= review <= ends.date()):
        check.add("review_on", "The review date must fall between the start and end dates.")
    content.update(
        starts_at=_moment_text(starts),
        ends_at=_moment_text(ends),
        review_on=review.isoformat() if review else None,
    )
    party_ids = {p["organisation_id"] for p in parties}
    schedule = _schedule(check, data.get("data_schedule"), party_ids)
    content["data_schedule"] = schedule
    content["lawful_basis"] = _lawful_basis(check, data.get("lawful_basis") or {}, schedule)
    if kind is not None and check.ok("parties", "data_schedule"):
        _type_rules(check, kind, parties, schedule)
    check.raise_if_any()
    return content


def _parties(check: Checker, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) < 2:
        check.add("parties", "Name at least two parties.")
        return []
    parties = []
    seen = set()
    for position, item in enumerate(raw):
        sub = Checker(item if isinstance(item, Mapping) else {})
        org_id = sub.picked("organisation_id", "the party organisation")
        role = sub.choice("role", PartyRole, "the party's role")
        designated = sub.text("designated_person", "the party's designated person")
        organisation = _organisation(org_id) if org_id else None
        # A peer hub has no people here: its signatory signs the counterpart at the peer, and
        # this hub's operator records that approval (`federation approve-agreement`).
        hub_party = organisation is not None and organisation.kind.value == "hub"
        signatory = sub.text(
            "signatory_id", "the party's signatory", required=not hub_party, max_length=64
        )
        if org_id and organisation is None:
            sub.add("organisation_id", "There is no such organisation.")
        if organisation is not None and org_id in seen:
            sub.add("organisation_id", f"{organisation.name} is named twice.")
        seen.add(org_id)
        if organisation is not None and signatory:
            person = _person(signatory)
            if person is None or person.organisation_id != organisation.id:
                sub.add("signatory_id", f"The signatory must be a person at {organisation.name}.")
            elif "signatory" not in person.roles:
                sub.add("signatory_id", f"{person.name} does not hold the signatory role.")
        for key, messages in sub.errors.items():
            for message in messages:
                check.add(f"parties.{position}.{key}", message)
        parties.append(
            {
                "organisation_id": org_id,
                "role": role.value if role else None,
                "designated_person": designated,
                "signatory_id": signatory,
            }
        )
    return parties


def _organisation(org_id: str) -> Organisation | None:
    try:
        return db.session.get(Organisation, uuid.UUID(org_id))
    except ValueError:
        return None


def _person(person_id: str) -> Person | None:
    try:
        return db.session.get(Person, uuid.UUID(person_id))
    except ValueError:
        return None


def _schedule(check: Checker, raw: Any, party_ids: set[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        check.add("data_schedule", "Set out the data schedule: which records go to whom.")
        return []
    entries = []
    seen = set()
    for position, item in enumerate(raw):
        prefix = f"data_schedule.{position}"
        if not isinstance(item, Mapping):
            check.add(prefix, "Each schedule entry must be an object.")
            continue
        provider, recipient = str(item.get("provider", "")), str(item.get("recipient", ""))
        record_type = str(item.get("record_type", ""))
        if provider not in party_ids or recipient not in party_ids:
            check.add(prefix, "Schedule entries must be between parties to the agreement.")
        if provider == recipient:
            check.add(prefix, "A party does not share with itself.")
        if record_type not in FIELDS:
            check.add(
                prefix, f"'{record_type}' is not a record type ({', '.join(sorted(FIELDS))})."
            )
            continue
        key = (provider, recipient, record_type)
        if key in seen:
            check.add(prefix, "Each record type appears once per provider and recipient.")
        seen.add(key)
        entry: dict[str, Any] = {
            "provider": provider,
            "recipient": recipient,
            "record_type": record_type,
        }
        if item.get("level") == EXISTENCE_ONLY:
            entry["level"] = EXISTENCE_ONLY
        else:
            fields = item.get("fields") if isinstance(item.get("fields"), Mapping) else {}
            levels = {}
            for name, level in fields.items():
                spec = FIELDS[record_type].get(name)
                if spec is None:
                    check.add(prefix, f"'{name}' is not a field of {record_type}.")
                    continue
                try:
                    chosen = Level(level)
                except ValueError:
                    check.add(prefix, f"'{level}' is not a level for {name}.")
                    continue
                if chosen not in spec.levels:
                    check.add(prefix, f"{spec.label} cannot be {chosen.value}.")
                    continue
                if chosen != Level.WITHHELD:
                    levels[name] = chosen.value
            if not levels:
                check.add(
                    prefix, f"Give at least one {record_type} field, or choose existence only."
                )
            entry["fields"] = dict(sorted(levels.items()))
        entries.append(entry)
    return sorted(entries, key=lambda e: (e["provider"], e["recipient"], e["record_type"]))


def _lawful_basis(
    check: Checker, raw: Mapping[str, Any], schedule: list[dict[str, Any]]
) -> dict[str, str]:
    """UK GDPR Article 6 always; Article 9 with a Schedule 1 condition if special-category data
    is shared; Article 10 if criminal-offence data is; DPA 2018 Part 3 where police provide."""
    sub = Checker(raw)
    basis = {key: sub.text(key, key, required=False, max_length=2000) for key in LAWFUL_BASIS_KEYS}
    categories: set[Category] = set()
    police_providers = False
    for entry in schedule:
        organisation = _organisation(entry["provider"])
        if organisation is not None and organisation.kind.value == "police_prevent":
            police_providers = True
        for name in entry.get("fields", {}):
            categories |= FIELDS[entry["record_type"]][name].categories
    if not basis["article_6"] and not (police_providers and basis["dpa_part_3"]):
        check.add("lawful_basis.article_6", "Give the UK GDPR Article 6 lawful basis.")
    if Category.SPECIAL_CATEGORY in categories and not (basis["article_9"] and basis["schedule_1"]):
        check.add(
            "lawful_basis.article_9",
            "The schedule shares special-category data: give "
            "the Article 9 condition and the DPA 2018 Schedule 1 condition.",
        )
    if (
        Category.CRIMINAL_OFFENCE in categories
        and not basis["article_10"]
        and not basis["dpa_part_3"]
    ):
        check.add(
            "lawful_basis.article_10",
            "The schedule shares criminal-offence data: give "
            "the Article 10 basis (with its Schedule 1 condition).",
        )
    if police_providers and not basis["dpa_part_3"]:
        check.add(
            "lawful_basis.dpa_part_3",
            "A police party provides data: record the DPA "
            "2018 Part 3 (law-enforcement processing) basis.",
        )
    return basis


def _type_rules(
    check: Checker,
    kind: AgreementType,
    parties: list[dict[str, Any]],
    schedule: list[dict[str, Any]],
) -> None:
    providers = {entry["provider"] for entry in schedule}
    recipients = {entry["recipient"] for entry in schedule}
    if kind == AgreementType.ONE_WAY and (len(providers) != 1 or providers & recipients):
        check.add("type", "A one-way disclosure has one providing party that receives nothing.")
    if kind == AgreementType.RECIPROCAL and not (providers & recipients):
        check.add("type", "A reciprocal agreement has parties that both give and receive.")
    if kind == AgreementType.JOINT_CONTROLLER and any(
        party["role"] != PartyRole.JOINT_CONTROLLER.value for party in parties
    ):
        check.add("type", "Every party to a joint-controller agreement is a joint controller.")


def organisations_by_id(ids: set[str]) -> dict[str, Organisation]:
    """Organisations for a set of ids, for rendering."""
    keys = [uuid.UUID(i) for i in ids]
    return {
        str(o.id): o
        for o in db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(keys)))
    }
