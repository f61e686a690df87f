"""Marking an unusual-access flag reviewed, with a note.

The note is the reviewer's free text, so it is kept in its own table (`audit_flag_reviews`),
never in the log: the log's entry says only that a review happened, of which rule, and the
review's id (action `audit.flag.review`). Only a flag the reviewer can see now can be marked,
and reviews are shown to the reviewer's own organisation (and to the hub's reviewers, who see
every organisation's entries).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from audit import activity, permissions
from audit import services as audit
from audit.actions import AUDIT_FLAG_REVIEW
from audit.models import AuditFlagReview
from audit.names import names_of_people
from audit.review import require_reviewer
from core.db import db
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.security import Actor, ActorKind
from core.validation import Checker

NOTE_LIMIT = 2000
RESOURCE_TYPE = "audit_flag_review"


@dataclass(frozen=True)
class ReviewShown:
    """One review of a flag as the activity page shows it."""

    id: str
    reviewer_name: str
    reviewed_at: datetime
    note: str


def find_flag(actor: Actor, key: str, today: int | None = None) -> activity.Flag:
    """The flag with this key among those the reviewer sees now, else NotFound."""
    require_reviewer(actor, AUDIT_FLAG_REVIEW)
    result = activity.activity(actor, today)
    for flags in result.flags.values():
        for flag in flags:
            if flag.key == key:
                return flag
    raise NotFound(
        "There is no such unusual-access flag in the last 30 days that you may see.",
        audit={"action": AUDIT_FLAG_REVIEW, "resource_type": RESOURCE_TYPE},
    )


def review_flag(
    actor: Actor, key: str, data: Mapping[str, Any], today: int | None = None
) -> AuditFlagReview:
    """Mark a flag reviewed with a note (required); audited without the note."""
    require_reviewer(actor, AUDIT_FLAG_REVIEW)
    if actor.kind != ActorKind.PERSON or not actor.id:
        raise PermissionDenied(
            "Only a person can mark a flag reviewed.",
            reason="person_required",
            audit={"action": AUDIT_FLAG_REVIEW, "resource_type": RESOURCE_TYPE},
        )
    flag = find_flag(actor, key, today)
    check = Checker(data)
    note = check.text("note", "what you found", max_length=NOTE_LIMIT)
    if check.errors:
        # The refusal's entry names the rule only: the typed note is not kept.
        raise ValidationFailed(
            next(iter(check.errors.values()))[0],
            errors=check.errors,
            audit={"action": AUDIT_FLAG_REVIEW, "resource_type": RESOURCE_TYPE, "rule": flag.rule},
        )
    row = AuditFlagReview(
        id=uuid.uuid4(),
        flag_key=flag.key,
        rule=flag.rule,
        organisation_id=actor.org_id,
        reviewed_by_id=uuid.UUID(str(actor.id)),
        note=note,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        AUDIT_FLAG_REVIEW,
        "granted",
        resource_type=RESOURCE_TYPE,
        resource_ids=[str(row.id)],
        resource_org=flag.organisation,
        rule=flag.rule,
    )
    return row


def reviews_of(actor: Actor, keys: Iterable[str]) -> dict[str, list[ReviewShown]]:
    """The reviews of these flags the reviewer may see, oldest first, by flag key."""
    require_reviewer(actor)
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    query = sa.select(AuditFlagReview).where(AuditFlagReview.flag_key.in_(wanted))
    if not permissions.sees_whole_log(actor):
        query = query.where(AuditFlagReview.organisation_id == actor.org_id)
    rows = list(db.session.scalars(query.order_by(AuditFlagReview.reviewed_at, AuditFlagReview.id)))
    names = names_of_people([f"person:{row.reviewed_by_id}" for row in rows])
    found: dict[str, list[ReviewShown]] = defaultdict(list)
    for row in rows:
        found[row.flag_key].append(
            ReviewShown(
                id=str(row.id),
                reviewer_name=names.get(f"person:{row.reviewed_by_id}", "A reviewer"),
                reviewed_at=row.reviewed_at,
                note=row.note,
            )
        )
    return dict(found)


def unreviewed(actor: Actor, today: int | None = None) -> list[activity.Flag]:
    """The flags of the last days the reviewer sees that nobody they can see has reviewed:
    what is left to look at, newest first."""
    flags = [flag for found in activity.activity(actor, today).flags.values() for flag in found]
    reviewed = reviews_of(actor, [flag.key for flag in flags])
    return sorted(
        (flag for flag in flags if flag.key not in reviewed),
        key=lambda flag: (flag.day, flag.rule),
        reverse=True,
    )
