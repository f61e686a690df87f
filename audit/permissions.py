"""Who may read the audit log, and which entries: pure predicates and one SQL filter."""

from __future__ import annotations

import sqlalchemy as sa

from audit.models import AuditEntry
from core.security import Actor, ActorKind

READER_ROLES = ("dpo", "auditor")


def can_read_log(actor: Actor) -> bool:
    """DPOs and auditors; and partner clients, each call of which needs its audit scope at the
    edge (`audit:read` for entries, `audit:verify` for proofs: `core.access`)."""
    if actor.kind == ActorKind.SYSTEM:
        return True
    if actor.kind == ActorKind.PERSON:
        return actor.has_role(*READER_ROLES)
    return actor.kind == ActorKind.CLIENT


def can_manage_witness(actor: Actor, organisation_id: str) -> bool:
    """An organisation's witness key (registering, revoking, where checkpoints are submitted
    to it): its own administrators, or the hub's."""
    return actor.is_hub_admin or (
        actor.org_id == str(organisation_id) and actor.has_role("org_admin")
    )


def sees_whole_log(actor: Actor) -> bool:
    """The hub operator's DPOs and auditors review every organisation's entries: people of the
    hub-kind organisation in those roles, never a client (a peer hub's client is an
    organisation like any other, and reads only its own organisation's entries)."""
    return actor.kind == ActorKind.SYSTEM or (
        actor.kind == ActorKind.PERSON and actor.org_kind == "hub" and actor.has_role(*READER_ROLES)
    )


def visible_entries(actor: Actor) -> sa.ColumnElement[bool]:
    """The entries an actor may read: everything for the hub's reviewers; otherwise what
    their organisation did and what was done to their organisation's data."""
    if sees_whole_log(actor):
        return sa.true()
    if not can_read_log(actor) or actor.org_id is None:
        return sa.false()
    return sa.or_(AuditEntry.actor_org == actor.org_id, AuditEntry.resource_org == actor.org_id)
