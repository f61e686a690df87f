"""The register and accountability: the agreement register, per-agreement disclosure statistics
read from the audit log, and the Article 30 record of processing for an organisation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from agreements import documents, lifecycle
from agreements.fields import EXISTENCE_ONLY, RECORD_TYPES, record_type_label
from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementStatus,
    EffectiveState,
)
from agreements.purposes import PURPOSES
from audit.actions import AGREEMENT_RECORD_OF_PROCESSING
from audit.models import AuditEntry
from audit.services import record as audit_record
from core.db import db, utcnow
from core.errors import PermissionDenied
from core.security import Actor
from partners.models import Organisation, Person, PersonRole, Role, Status

#: Who keeps an organisation's record of processing.
RECORD_KEEPERS = ("dpo", "org_admin", "auditor")
#: States in which an agreement describes processing that happens (or happened) under it.
PROCESSING_STATUSES = (
    AgreementStatus.APPROVED,
    AgreementStatus.SUSPENDED,
    AgreementStatus.TERMINATED,
)


# --- the register --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    """One agreement version as the register lists it."""

    agreement: Agreement
    state: EffectiveState
    parties: list[tuple[str, str]]  # (organisation name, role label)
    purposes: list[str]
    review_due: bool

    @property
    def state_label(self) -> str:
        return documents.STATE_LABELS[self.state]

    @property
    def state_colour(self) -> str:
        return documents.STATE_COLOURS[self.state]


def register(actor: Actor, now: datetime | None = None) -> list[RegisterRow]:
    """Every agreement version the actor's organisation is party to, with its state now."""
    now = now or utcnow()
    agreements = lifecycle.list_agreements(actor)
    names = documents.organisation_names(
        {str(p.organisation_id) for a in agreements for p in a.parties}
    )
    soon = (now + lifecycle.REMINDER_WINDOW).date()
    rows = []
    for agreement in agreements:
        state = agreement.state_at(now)
        live = state in {EffectiveState.ACTIVE, EffectiveState.NOT_STARTED}
        rows.append(
            RegisterRow(
                agreement=agreement,
                state=state,
                parties=[
                    (
                        names.get(str(p.organisation_id), "Unknown organisation"),
                        documents.PARTY_ROLE_LABELS[p.role],
                    )
                    for p in agreement.parties
                ],
                purposes=agreement.purpose_codes,
                review_due=live
                and (agreement.review_on <= soon or agreement.ends_at.date() <= soon),
            )
        )
    return rows


def signatories() -> list[tuple[Organisation, list[Person]]]:
    """The people who may sign for each active organisation (drafting names one per party)."""
    rows = db.session.execute(
        sa.select(Organisation, Person)
        .join(Person, Person.organisation_id == Organisation.id)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(
            PersonRole.role == Role.SIGNATORY,
            Person.status == Status.ACTIVE,
            Organisation.status == Status.ACTIVE,
        )
        .order_by(Organisation.name, Person.name)
    )
    grouped: dict[uuid.UUID, tuple[Organisation, list[Person]]] = {}
    for organisation, person in rows:
        grouped.setdefault(organisation.id, (organisation, []))[1].append(person)
    return list(grouped.values())


def active_organisations() -> list[Organisation]:
    """Organisations that can be party to a new agreement."""
    return list(
        db.session.scalars(
            sa.select(Organisation)
            .where(Organisation.status == Status.ACTIVE, Organisation.kind != "hub")
            .order_by(Organisation.name)
        )
    )


# --- disclosure statistics from the audit log ------------------------------------------------


@dataclass
class DisclosureStatistics:
    """What was disclosed under one agreement version, and what was refused between its parties
    while it was meant to be in force. Counts only: no record, field value or person."""

    total: int = 0
    existence_only: int = 0
    by_recipient: list[tuple[str, int]] = field(default_factory=list)
    by_record_type: list[tuple[str, int]] = field(default_factory=list)
    by_month: list[tuple[str, int]] = field(default_factory=list)
    refusals: int = 0
    refusals_by_reason: list[tuple[str, int]] = field(default_factory=list)
    first_month: str | None = None


REFUSAL_REASONS = {
    "no_agreement": "No agreement in force covered the record and purpose",
    "not_shareable": "The owner keeps the record internal",
}


def month_expression(time_ms: Any = AuditEntry.time_ms) -> Any:
    """The UTC month (YYYY-MM) of a time in milliseconds, computed by the database."""
    seconds = time_ms / 1000
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", sa.func.to_timestamp(seconds)), "YYYY-MM")
    return sa.func.strftime("%Y-%m", seconds, "unixepoch")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def disclosure_statistics(
    agreement: Agreement, now: datetime | None = None
) -> DisclosureStatistics:
    """Counts of disclosures made under this version (by recipient, record type and UTC month),
    and of refusals between its providers and recipients during its term."""
    now = now or utcnow()
    stats = DisclosureStatistics()
    record_types = list(RECORD_TYPES)
    granted = (
        AuditEntry.agreement_id == str(agreement.id),
        AuditEntry.outcome == "granted",
        # Lifecycle entries carry the agreement too; disclosures are about records.
        AuditEntry.resource_type.in_(record_types),
    )
    month = month_expression().label("month")
    rows = db.session.execute(
        sa.select(AuditEntry.actor_org, AuditEntry.resource_type, month, sa.func.count())
        .where(*granted)
        .group_by(AuditEntry.actor_org, AuditEntry.resource_type, month)
    ).all()
    existence = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(*granted, AuditEntry.details.contains(f'"level":"{EXISTENCE_ONLY}"'))
    )
    by_recipient: dict[str, int] = {}
    by_type: dict[str, int] = {}
    by_month: dict[str, int] = {}
    for org, record_type, when, count in rows:
        stats.total += count
        by_recipient[org or ""] = by_recipient.get(org or "", 0) + count
        by_type[record_type] = by_type.get(record_type, 0) + count
        by_month[when] = by_month.get(when, 0) + count
    stats.existence_only = existence or 0

    pairs = {
        (entry["provider"], entry["recipient"])
        for entry in agreement.content.get("data_schedule") or []
    }
    if pairs and agreement.approved_at is not None:
        start = max(agreement.starts_at, agreement.approved_at)
        # The term ends before its end (or termination); what is counted ends with `now`,
        # the refusal made in this very millisecond included.
        end = min(agreement.ends_at, agreement.terminated_at or agreement.ends_at)
        refused = db.session.execute(
            sa.select(
                AuditEntry.resource_org, AuditEntry.actor_org, AuditEntry.reason, sa.func.count()
            )
            .where(
                AuditEntry.outcome == "denied",
                AuditEntry.resource_type.in_(record_types),
                AuditEntry.resource_org.in_({p for p, _ in pairs}),
                AuditEntry.actor_org.in_({r for _, r in pairs}),
                AuditEntry.time_ms >= _ms(start),
                AuditEntry.time_ms < _ms(end),
                AuditEntry.time_ms <= _ms(now),
            )
            .group_by(AuditEntry.resource_org, AuditEntry.actor_org, AuditEntry.reason)
        ).all()
        reasons: dict[str, int] = {}
        for provider, recipient, reason, count in refused:
            if (provider, recipient) in pairs:
                stats.refusals += count
                label = REFUSAL_REASONS.get(reason or "", reason or "Other")
                reasons[label] = reasons.get(label, 0) + count
        stats.refusals_by_reason = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))

    names = documents.organisation_names(k for k in by_recipient if k)
    stats.by_recipient = sorted(
        ((names.get(k, "Unknown organisation"), v) for k, v in by_recipient.items()),
        key=lambda kv: (-kv[1], kv[0]),
    )
    stats.by_record_type = sorted(
        ((record_type_label(k), v) for k, v in by_type.items()), key=lambda kv: (-kv[1], kv[0])
    )
    stats.by_month = sorted(by_month.items())
    return stats


# --- Article 30 record of processing ---------------------------------------------------------


def _deny_record(actor: Actor) -> PermissionDenied:
    return PermissionDenied(
        "Only your organisation's DPO, administrators and auditors export its record of "
        "processing.",
        reason="role_required",
        audit={"action": AGREEMENT_RECORD_OF_PROCESSING, "resource_type": "organisation"},
    )


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def processing_record(actor: Actor, now: datetime | None = None) -> list[dict[str, Any]]:
    """The actor's organisation's record of processing under agreements (UK GDPR Article 30):
    for each agreement version it is party to that was approved, what is shared, with whom, on
    which basis, how long it is kept and how it is protected. The export is audited."""
    if actor.org_id is None or not actor.has_role(*RECORD_KEEPERS):
        raise _deny_record(actor)
    now = now or utcnow()
    org_id = actor.org_id
    agreements = list(
        db.session.scalars(
            sa.select(Agreement)
            .join(AgreementParty, AgreementParty.agreement_id == Agreement.id)
            .where(
                AgreementParty.organisation_id == uuid.UUID(org_id),
                Agreement.status.in_(PROCESSING_STATUSES),
            )
            .order_by(Agreement.reference, Agreement.version)
        )
    )
    names = documents.organisation_names(
        {str(p.organisation_id) for a in agreements for p in a.parties}
    )
    records = []
    for agreement in agreements:
        content = agreement.content
        schedule = content.get("data_schedule") or []
        ours = next(p for p in agreement.parties if str(p.organisation_id) == org_id)
        given = [e for e in schedule if e["provider"] == org_id]
        taken = [e for e in schedule if e["recipient"] == org_id]
        records.append(
            {
                "agreement_id": str(agreement.id),
                "reference": agreement.reference,
                "version": agreement.version,
                "title": agreement.title,
                "state": agreement.state_at(now).value,
                "our_role": ours.role.value,
                "parties": [
                    {
                        "organisation": names.get(str(p.organisation_id), ""),
                        "organisation_id": str(p.organisation_id),
                        "role": p.role.value,
                    }
                    for p in agreement.parties
                ],
                "purposes": [
                    {"code": code, "description": PURPOSES.get(code, code)}
                    for code in content.get("purposes") or []
                ],
                "categories_of_individuals": content.get("categories_of_individuals", ""),
                "categories_of_data": [
                    documents.CATEGORY_LABELS[c]
                    for c in documents.shared_categories(content, org_id=org_id)
                ],
                "record_types_disclosed": _record_types(given),
                "recipients": sorted({names.get(e["recipient"], "") for e in given}),
                "record_types_received": _record_types(taken),
                "received_from": sorted({names.get(e["provider"], "") for e in taken}),
                "retention": content.get("retention", ""),
                "security_measures": content.get("security_measures", ""),
                "lawful_basis": {k: v for k, v in (content.get("lawful_basis") or {}).items() if v},
                "statutory_power": content.get("statutory_power", ""),
                "dpia_reference": content.get("dpia_reference", ""),
                "starts_at": _iso(agreement.starts_at),
                "ends_at": _iso(agreement.ends_at),
                "review_on": _iso(agreement.review_on),
            }
        )
    audit_record(
        actor,
        AGREEMENT_RECORD_OF_PROCESSING,
        "granted",
        resource_type="organisation",
        resource_ids=[org_id],
        resource_org=org_id,
        count=len(records),
    )
    return records


def _record_types(entries: list[dict[str, Any]]) -> list[str]:
    labels = []
    for entry in sorted(entries, key=lambda e: list(RECORD_TYPES).index(e["record_type"])):
        label = record_type_label(entry["record_type"])
        if entry.get("level") == EXISTENCE_ONLY:
            label += " (existence only)"
        if label not in labels:
            labels.append(label)
    return labels
