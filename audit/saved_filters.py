"""A reviewer's saved filters: a name and the entries page's query string, kept per person
outside the log (the name is their free text). Saving and deleting are audited by the filter's
id and the names of the filters it uses, never its name or values."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa

from audit import services as audit
from audit.actions import AUDIT_FILTER_DELETE, AUDIT_FILTER_SAVE
from audit.models import AuditSavedFilter
from audit.review import EntryFilter, require_reviewer
from core.db import db
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.security import Actor, ActorKind
from core.validation import Checker

NAME_LIMIT = 100
SAVED_LIMIT = 50
RESOURCE_TYPE = "audit_saved_filter"


def _person(actor: Actor, action: str) -> uuid.UUID:
    """The reviewer's person id (only people keep saved filters)."""
    require_reviewer(actor, action)
    if actor.kind != ActorKind.PERSON or not actor.id:
        raise PermissionDenied(
            "Only a person can keep saved filters.",
            reason="person_required",
            audit={"action": action, "resource_type": RESOURCE_TYPE},
        )
    return uuid.UUID(str(actor.id))


def saved_filters(actor: Actor) -> list[AuditSavedFilter]:
    """The reviewer's saved filters, by name."""
    require_reviewer(actor)
    if actor.kind != ActorKind.PERSON or not actor.id:
        return []
    return list(
        db.session.scalars(
            sa.select(AuditSavedFilter)
            .where(AuditSavedFilter.person_id == uuid.UUID(str(actor.id)))
            .order_by(AuditSavedFilter.name, AuditSavedFilter.id)
        )
    )


def query_args(saved: AuditSavedFilter) -> dict[str, str]:
    """A saved filter's query parameters, for a link to the page it filters."""
    return dict(parse_qsl(saved.query))


def save_filter(
    actor: Actor, data: Mapping[str, Any], entry_filter: EntryFilter
) -> AuditSavedFilter:
    """Keep `entry_filter` under a name of the reviewer's choosing (unique to them)."""
    person_id = _person(actor, AUDIT_FILTER_SAVE)
    check = Checker(data)
    name = check.text("name", "a name for the filter", max_length=NAME_LIMIT)
    mine = saved_filters(actor)
    if check.ok("name") and any(saved.name.casefold() == name.casefold() for saved in mine):
        check.add("name", "You already have a saved filter with that name. Choose another name.")
    if check.ok("name") and len(mine) >= SAVED_LIMIT:
        check.add("name", f"You can keep up to {SAVED_LIMIT} saved filters. Delete one first.")
    if not entry_filter.names():
        check.add("name", "Choose at least one filter before saving.")
    if check.errors:
        raise ValidationFailed(
            next(iter(check.errors.values()))[0],
            errors=check.errors,
            audit={"action": AUDIT_FILTER_SAVE, "resource_type": RESOURCE_TYPE},
        )
    row = AuditSavedFilter(
        id=uuid.uuid4(),
        person_id=person_id,
        name=name,
        query=urlencode(sorted(entry_filter.query_args().items())),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        AUDIT_FILTER_SAVE,
        "granted",
        resource_type=RESOURCE_TYPE,
        resource_ids=[str(row.id)],
        filters=entry_filter.names(),
    )
    return row


def delete_filter(actor: Actor, filter_id: str) -> None:
    """Delete one of the reviewer's own saved filters (another's is answered as missing)."""
    person_id = _person(actor, AUDIT_FILTER_DELETE)
    try:
        wanted = uuid.UUID(filter_id)
    except ValueError:
        wanted = None
    row = db.session.get(AuditSavedFilter, wanted) if wanted else None
    if row is None or row.person_id != person_id:
        raise NotFound(
            "There is no such saved filter of yours.",
            audit={"action": AUDIT_FILTER_DELETE, "resource_type": RESOURCE_TYPE},
        )
    db.session.delete(row)
    db.session.flush()
    audit.record(
        actor,
        AUDIT_FILTER_DELETE,
        "granted",
        resource_type=RESOURCE_TYPE,
        resource_ids=[str(row.id)],
    )
