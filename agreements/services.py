"""The one path for sharing: `disclose(actor, records, purpose)`.

A partner sees another organisation's record only under an agreement that is in force at this
instant, that names the purpose, and whose data schedule gives that record type to the
partner; it sees only the fields the schedule gives, at their levels; and every disclosure is
written to the audit log (field names, never values). Nothing else in the hub reads another
organisation's records.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from agreements import lifecycle
from agreements.fields import EXISTENCE_ONLY, NAME_FIELDS
from agreements.lifecycle import (  # noqa: F401  (the lifecycle is part of this service's API)
    amend,
    approve,
    create_draft,
    get_agreement,
    list_agreements,
    propose,
    resume,
    suspend,
    terminate,
    update_draft,
)
from agreements.models import Agreement, AgreementParty, AgreementPurpose, AgreementStatus
from agreements.policy import Disclosed, ShareableRecord, project
from agreements.purposes import PURPOSES
from audit.actions import DISCLOSURE
from audit.services import record as audit_record
from core.db import db, utcnow
from core.errors import HubError, NotFound
from core.security import Actor
from partners.models import Organisation


class PurposeRefused(HubError):
    """A read of shared data without a purpose, or with one the hub does not know."""

    status = 400
    slug = "purpose-refused"
    title = "A valid purpose is required"


@dataclass(frozen=True)
class Cover:
    """One agreement's schedule entry that covers one provider's record type for the actor."""

    agreement: Agreement
    entry: dict[str, Any]

    @property
    def existence_only(self) -> bool:
        return self.entry.get("level") == EXISTENCE_ONLY

    @property
    def levels(self) -> dict[str, str]:
        return self.entry.get("fields", {})


def check_purpose(actor: Actor, purpose: str | None, action: str) -> str:
    """The purpose of a read of shared data must be given and known; refusals are audited."""
    if not purpose:
        raise PurposeRefused(
            "State the purpose of this query.",
            reason="purpose_missing",
            audit={"action": action, "resource_type": "purpose"},
        )
    if purpose not in PURPOSES:
        raise PurposeRefused(
            f"'{purpose}' is not a purpose the hub knows: use one of "
            f"{', '.join(sorted(PURPOSES))}.",
            reason="purpose_unknown",
            audit={"action": action, "resource_type": "purpose"},
        )
    return purpose


def covers_for(actor: Actor, purpose: str, now: datetime) -> dict[tuple[str, str], list[Cover]]:
    """Every schedule entry in force now that gives something to the actor's organisation for
    `purpose`, by (provider organisation, record type)."""
    if actor.org_id is None:
        return {}
    org = uuid.UUID(actor.org_id)
    agreements = db.session.scalars(
        sa.select(Agreement)
        .join(AgreementParty, AgreementParty.agreement_id == Agreement.id)
        .join(AgreementPurpose, AgreementPurpose.agreement_id == Agreement.id)
        .where(
            AgreementParty.organisation_id == org,
            AgreementPurpose.code == purpose,
            Agreement.status == AgreementStatus.APPROVED,
            Agreement.starts_at <= now,
            Agreement.ends_at > now,
        )
    ).unique()
    covers: dict[tuple[str, str], list[Cover]] = {}
    for agreement in agreements:
        for entry in agreement.content.get("data_schedule", []):
            if entry["recipient"] == actor.org_id:
                covers.setdefault((entry["provider"], entry["record_type"]), []).append(
                    Cover(agreement, entry)
                )
    return covers


def providers_for(
    actor: Actor, record_type: str, purpose: str, now: datetime | None = None
) -> set[str]:
    """Organisations whose `record_type` records the actor may be shown for `purpose` now
    (search uses this to look only where an agreement could disclose something)."""
    covers = covers_for(actor, purpose, now or utcnow())
    return {provider for provider, kind in covers if kind == record_type}


def _best(covers: list[Cover]) -> Cover:
    # Where two agreements cover the same record, the one giving the most is used: each is
    # lawful on its own, and the recipient would otherwise see less than agreed.
    return max(
        covers,
        key=lambda c: (
            not c.existence_only,
            len(c.levels),
            c.agreement.approved_at or c.agreement.created_at,
        ),
    )


def _refuse(actor: Actor, record: ShareableRecord, purpose: str, reason: str, action: str) -> None:
    audit_record(
        actor,
        action,
        "denied",
        reason=reason,
        resource_type=record.record_type,
        resource_ids=[record.id],
        resource_org=record.owner_org_id,
        purpose=purpose,
        subjects=record.subjects,
    )


def _decide(
    actor: Actor, record: ShareableRecord, covers: dict[tuple[str, str], list[Cover]]
) -> Cover | str | None:
    """The cover a record would be disclosed under; a refusal reason; or None for a record of
    the actor's own organisation (no disclosure needed)."""
    if actor.org_id is not None and record.owner_org_id == actor.org_id:
        return None
    if record.distribution != "shareable":
        return "not_shareable"
    candidates = covers.get((record.owner_org_id, record.record_type))
    if not candidates:
        return "no_agreement"
    cover = _best(candidates)
    matched = record.matched_field
    if (
        not cover.existence_only
        and matched
        and matched in NAME_FIELDS.get(record.record_type, ())
        and matched not in cover.levels
    ):
        # Found by a name the schedule withholds: showing the hit would reveal it.
        return "name_withheld"
    return cover


def would_disclose(
    actor: Actor,
    records: Sequence[ShareableRecord],
    purpose: str | None,
    *,
    now: datetime | None = None,
) -> set[str]:
    """Ids of the records `disclose` would return, without disclosing (for totals and counts,
    which must not count what the actor may not see)."""
    purpose = check_purpose(actor, purpose, "disclosure")
    covers = covers_for(actor, purpose, now or utcnow())
    return {r.id for r in records if not isinstance(_decide(actor, r, covers), str)}


def disclose(
    actor: Actor,
    records: Sequence[ShareableRecord],
    purpose: str | None,
    *,
    now: datetime | None = None,
    audit_refusals: bool = True,
    action: str = DISCLOSURE,
) -> list[Disclosed]:
    """Return what `actor` may see of `records` for `purpose`, each minimised by its agreement's
    data schedule and carrying `disclosed_under`; write one audit entry per disclosure (and per
    refusal, unless the caller is filtering candidates it was not asked for by id)."""
    purpose = check_purpose(actor, purpose, action)
    now = now or utcnow()
    covers = covers_for(actor, purpose, now)
    contacts: dict[str, Organisation | None] = {}
    keys: dict[uuid.UUID, bytes] = {}
    results: list[Disclosed] = []
    for record in records:
        decision = _decide(actor, record, covers)
        if decision is None:
            results.append(
                Disclosed(
                    record.record_type,
                    record.id,
                    record.owner_org_id,
                    _own(record),
                    None,
                    fields=tuple(record.values),
                )
            )
            continue
        if isinstance(decision, str):
            if audit_refusals and decision != "name_withheld":
                _refuse(actor, record, purpose, decision, action)
            continue
        cover = decision
        agreement = cover.agreement
        if cover.existence_only:
            if record.owner_org_id not in contacts:
                contacts[record.owner_org_id] = db.session.get(
                    Organisation, uuid.UUID(record.owner_org_id)
                )
            owner = contacts[record.owner_org_id]
            data = {
                "owner": owner.name if owner else "",
                "contact": owner.dp_contact_email if owner else "",
            }
            disclosed_fields: tuple[str, ...] = ()
        else:
            if agreement.lineage_id not in keys:
                keys[agreement.lineage_id] = lifecycle.pseudonym_key(agreement)
            data = project(record, cover.levels, keys[agreement.lineage_id])
            disclosed_fields = tuple(sorted(data))
        under = {
            "agreement_id": str(agreement.id),
            "reference": agreement.reference,
            "version": agreement.version,
        }
        audit_record(
            actor,
            action,
            "granted",
            resource_type=record.record_type,
            resource_ids=[record.id],
            resource_org=record.owner_org_id,
            agreement=lifecycle.ref(agreement),
            purpose=purpose,
            fields=disclosed_fields,
            subjects=record.subjects,
            level=EXISTENCE_ONLY if cover.existence_only else "fields",
        )
        results.append(
            Disclosed(
                record.record_type,
                record.id,
                record.owner_org_id,
                data,
                under,
                existence_only=cover.existence_only,
                fields=disclosed_fields,
            )
        )
    return results


#: What a record asked for by id that the asker may not see, or that does not exist, answers.
NOT_FOUND = "There is no such record that you may see."


def disclose_one(
    actor: Actor,
    record: ShareableRecord,
    purpose: str | None,
    *,
    now: datetime | None = None,
) -> Disclosed:
    """One record asked for by id: disclosed, or NotFound with the words an absent record gets
    (NOT_FOUND), so a refusal answers exactly like one. The refusal is audited by the edge once
    the request's own changes are undone (an entry written here would be rolled back)."""
    now = now or utcnow()
    found = disclose(actor, [record], purpose, now=now, audit_refusals=False)
    if found:
        return found[0]
    checked = check_purpose(actor, purpose, "disclosure")
    reason = _decide(actor, record, covers_for(actor, checked, now))
    raise NotFound(
        NOT_FOUND,
        reason=reason if isinstance(reason, str) else "refused",
        audit={
            "action": DISCLOSURE,
            "resource_type": record.record_type,
            "resource_ids": [record.id],
            "resource_org": record.owner_org_id,
            "purpose": checked,
            "subjects": record.subjects,
        },
    )


def _own(record: ShareableRecord) -> dict[str, Any]:
    from agreements.policy import _plain

    return {name: _plain(value) for name, value in record.values.items()}
