"""What other packages ask of the log, answered here from its indexed side tables
(`audit_entry_subjects`, `audit_entry_resources`) rather than by matching text in the entries.

- `copies_of`: what each organisation received of each record (which fields, under which
  agreement version): the one answer to "who holds what of it", which corrections are sent by.
- `recipients_of`: which organisations received each record (who was it disclosed to).
- `refusals_naming`: refused attempts at an organisation's records, found by their ids.
- `entries_about`: what was disclosed to others, or refused, about one subject (found by the
  subject's pseudonyms), for a subject access request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from audit import actions
from audit.models import AuditEntry, AuditEntryResource, AuditEntrySubject
from audit.services import RESOURCE_ID_LENGTH
from core.db import db


def _ids(record_ids: Iterable[str]) -> list[str]:
    return sorted({str(i)[:RESOURCE_ID_LENGTH] for i in record_ids})


@dataclass(frozen=True)
class Copy:
    """What one organisation received of one record under one agreement version: every field
    any granted disclosure to it named (an existence-only hit names none), and the newest such
    disclosure's sequence number."""

    organisation_id: str
    agreement_id: str | None
    fields: frozenset[str]
    latest_seq: int


def copies_of(record_type: str, record_ids: Iterable[str]) -> dict[str, list[Copy]]:
    """Each record's copies held by other organisations, from the granted disclosures of it
    (one per organisation and agreement version, newest first). The fields are the ones the
    disclosure entries name, so a field the schedule withheld was never received."""
    ids = _ids(record_ids)
    found: dict[str, list[Copy]] = {i: [] for i in ids}
    if not ids:
        return found
    # The same record read again under the same agreement writes the same field list: grouping
    # by it keeps the rows few however often the record was read.
    rows = db.session.execute(
        sa.select(
            AuditEntryResource.resource_id,
            AuditEntry.actor_org,
            AuditEntry.agreement_id,
            AuditEntry.fields,
            sa.func.max(AuditEntry.seq),
        )
        .join(AuditEntry, AuditEntry.seq == AuditEntryResource.entry_seq)
        .where(
            AuditEntryResource.resource_type == record_type,
            AuditEntryResource.resource_id.in_(ids),
            AuditEntry.action == actions.DISCLOSURE,
            AuditEntry.outcome == "granted",
            AuditEntry.actor_org.is_not(None),
        )
        .group_by(
            AuditEntryResource.resource_id,
            AuditEntry.actor_org,
            AuditEntry.agreement_id,
            AuditEntry.fields,
        )
    )
    merged: dict[tuple[str, str, str | None], tuple[set[str], int]] = {}
    for resource_id, actor_org, agreement_id, fields, seq in rows:
        held, latest = merged.setdefault((resource_id, actor_org, agreement_id), (set(), 0))
        held.update(json.loads(fields) if fields else ())
        merged[(resource_id, actor_org, agreement_id)] = (held, max(latest, seq))
    for (resource_id, actor_org, agreement_id), (held, latest) in merged.items():
        found[resource_id].append(Copy(actor_org, agreement_id, frozenset(held), latest))
    for copies in found.values():
        copies.sort(key=lambda copy: -copy.latest_seq)
    return found


def recipients_of(record_type: str, record_ids: Iterable[str]) -> dict[str, set[str]]:
    """The organisations each record was disclosed to (granted disclosures only)."""
    return {
        record_id: {copy.organisation_id for copy in copies}
        for record_id, copies in copies_of(record_type, record_ids).items()
    }


def refusals_naming(record_type: str, record_ids: Iterable[str], owner: str) -> list[AuditEntry]:
    """Refused attempts naming any of `owner`'s records `record_ids`, oldest first."""
    ids = _ids(record_ids)
    if not ids:
        return []
    naming = sa.select(AuditEntryResource.entry_seq).where(
        AuditEntryResource.resource_type == record_type,
        AuditEntryResource.resource_id.in_(ids),
    )
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(
                AuditEntry.seq.in_(naming),
                AuditEntry.resource_org == owner,
                AuditEntry.outcome != "granted",
            )
            .order_by(AuditEntry.seq)
        )
    )


def entries_about(pseudonyms: Iterable[str], owner: str, *, refusals: bool) -> list[AuditEntry]:
    """Entries about one subject of `owner`'s records (found by the subject's pseudonyms):
    what was disclosed to other organisations (disclosures and advisory answers), or, with
    `refusals`, what was refused. Oldest first."""
    wanted = sorted(set(pseudonyms))
    if not wanted:
        return []
    about = sa.select(AuditEntrySubject.entry_seq).where(AuditEntrySubject.pseudonym.in_(wanted))
    query = sa.select(AuditEntry).where(AuditEntry.seq.in_(about), AuditEntry.resource_org == owner)
    if refusals:
        query = query.where(AuditEntry.outcome != "granted")
    else:
        query = query.where(
            AuditEntry.outcome == "granted",
            sa.or_(
                AuditEntry.action == actions.DISCLOSURE,
                AuditEntry.action.like(actions.ADVISORY_PREFIX + "%"),
            ),
            AuditEntry.actor_org.is_not(None),
            AuditEntry.actor_org != owner,
        )
    return list(db.session.scalars(query.order_by(AuditEntry.seq)))
