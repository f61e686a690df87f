""" "Explain this access": for an entry that showed someone records (a disclosure, a read, a
search), who it was, under which agreement and for what purpose, which fields they were shown,
and what else that person read that day. Everything is limited by
`permissions.visible_entries(actor)`, as on every review page."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from audit import links, permissions
from audit.actions import DISCLOSURE, READ_VERBS, is_access
from audit.models import AuditEntry, AuditLeaf
from audit.review import DAY_MS, EntryDetail, EntryRow, entry_rows, get_entry, record_review
from core.db import db
from core.errors import NotFound
from core.security import Actor

#: At most this many of the person's other reads that day are listed (the list links to all).
SAME_DAY_LIMIT = 50


@dataclass(frozen=True)
class Explanation:
    """What the explanation page shows about one access."""

    detail: EntryDetail
    fields: list[tuple[str, str]]  # (field name, label)
    same_day: list[EntryRow]
    same_day_total: int
    day: str  # the UTC day, YYYY-MM-DD

    @property
    def row(self) -> EntryRow:
        """The entry explained."""
        return self.detail.row


def _access() -> sa.ColumnElement[bool]:
    """Entries that showed someone records: disclosures and `<kind>.<read verb>` actions."""
    return sa.or_(
        AuditEntry.action == DISCLOSURE,
        *(AuditEntry.action.endswith("." + verb, autoescape=True) for verb in READ_VERBS),
    )


def explain(actor: Actor, seq: int) -> Explanation:
    """Explain entry `seq` if the reviewer may see it and it was an access; audited."""
    detail = get_entry(actor, seq)
    row = detail.row
    if not is_access(row.action):
        raise NotFound(
            f"Entry {seq} did not show anyone records, so there is no access to explain."
        )
    time_ms = int(row.time.timestamp() * 1000)
    day_start = time_ms // DAY_MS * DAY_MS
    where = (
        permissions.visible_entries(actor),
        AuditEntry.actor == row.actor,
        AuditEntry.time_ms >= day_start,
        AuditEntry.time_ms < day_start + DAY_MS,
        AuditEntry.seq != seq,
        _access(),
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*where))
    results = db.session.execute(
        sa.select(AuditEntry, AuditLeaf.idx)
        .outerjoin(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(*where)
        .order_by(AuditEntry.seq)
        .limit(SAME_DAY_LIMIT)
    ).all()
    record_review(actor, page="explain", resource_ids=[str(seq)], same_day=total)
    return Explanation(
        detail=detail,
        fields=[(name, links.field_label(row.resource_type, name)) for name in row.fields],
        same_day=entry_rows(actor, results),
        same_day_total=total,
        day=row.time.date().isoformat(),
    )
