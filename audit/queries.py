"""What other packages ask of the log, answered here from its indexed side tables
(`audit_entry_subjects`, `audit_entry_resources`) rather than by matching text in the entries.

- `recipients_of`: which organisations received each record (who was it disclosed to).
- `refusals_naming`: refused attempts at an organisation's records, found by their ids.
- `entries_about`: what was disclosed to others, or refused, about one subject (found by the
  subject's pseudonyms), for a subject access request.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from audit import actions
from audit.models import AuditEntry, AuditEntryResource, AuditEntrySubject
from audit.services import RESOURCE_ID_LENGTH
from core.db import db


def _ids(record_ids: Iterable[str]) -> list[str]:
    return sorted({str(i)[:RESOURCE_ID_LENGTH] for i in record_ids})


def recipients_of(record_type: str, record_ids: Iterable[str]) -> dict[str, set[str]]:
    """The organisations each record was disclosed to (granted disclosures only)."""
    ids = _ids(record_ids)
    found: dict[str, set[str]] = {i: set() for i in ids}
    if not ids:
        return found
    rows = db.session.execute(
        sa.select(AuditEntryResource.resource_id, AuditEntry.actor_org)
        .join(AuditEntry, AuditEntry.seq == AuditEntryResource.entry_seq)
        .where(
            AuditEntryResource.resource_type == record_type,
            AuditEntryResource.resource_id.in_(ids),
            AuditEntry.action == actions.DISCLOSURE,
            AuditEntry.outcome == "granted",
            AuditEntry.actor_org.is_not(None),
        )
        .distinct()
    )
    for resource_id, actor_org in rows:
        found[resource_id].add(actor_org)
    return found


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
