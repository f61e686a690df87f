"""Who may do what with an institution's records: pure predicates over an Actor.

In this issue a record is seen only inside the organisation that owns it, plus the routed
exception of advisory requests (the coordinator they are sent to, the police team they are
routed to). Sharing across organisations comes with agreements, through `disclose()`.
"""

from __future__ import annotations

import uuid

from core.security import Actor, ActorKind

#: Roles that may read their own organisation's records.
READERS = ("events_officer", "prevent_lead", "dpo", "auditor", "org_admin")
#: Roles that may read partners' records disclosed to their organisation: the record roles,
#: and a regional coordinator reviewing cases with partners under the region's agreements.
SHARED_READERS = (*READERS, "coordinator")
#: Roles that may create and change their own organisation's records.
WRITERS = ("events_officer", "prevent_lead")
#: Roles that review, escalate and decide events (besides a named senior officer).
REVIEWERS = ("prevent_lead",)
#: Organisation kinds that host events.
HOST_KINDS = ("university", "students_union")


def holds(actor: Actor, roles: tuple[str, ...]) -> bool:
    """A person by their roles. A partner client acts for its organisation: which of its calls
    it may make is the scope its endpoint requires (`core.access.require_scope`), checked
    at the edge, so here it holds what a client can hold at all (never a power kept for people:
    see `can_decide`, `is_coordinator`)."""
    if actor.kind == ActorKind.CLIENT:
        return True
    return actor.has_role(*roles)


def is_reader(actor: Actor) -> bool:
    """May read (some of) its own organisation's records at all."""
    return actor.kind == ActorKind.SYSTEM or holds(actor, READERS)


def _same_org(actor: Actor, owner_org_id: uuid.UUID | str | None) -> bool:
    return (
        actor.org_id is not None and owner_org_id is not None and actor.org_id == str(owner_org_id)
    )


def can_read_shared(actor: Actor) -> bool:
    """May ask for partners' records at all (what is disclosed is the agreements' business)."""
    return actor.kind == ActorKind.SYSTEM or (
        actor.kind in {ActorKind.PERSON, ActorKind.CLIENT}
        and actor.org_id is not None
        and holds(actor, SHARED_READERS)
    )


def can_read(actor: Actor, owner_org_id: uuid.UUID | str | None) -> bool:
    """Staff of the owning organisation with a records role."""
    return actor.kind in {ActorKind.PERSON, ActorKind.CLIENT, ActorKind.SYSTEM} and (
        actor.kind == ActorKind.SYSTEM or (_same_org(actor, owner_org_id) and is_reader(actor))
    )


def can_write(actor: Actor, owner_org_id: uuid.UUID | str | None) -> bool:
    """Events officers and Prevent leads of the owning organisation."""
    return _same_org(actor, owner_org_id) and holds(actor, WRITERS)


def can_create_records(actor: Actor) -> bool:
    """Events officers and Prevent leads create records in their own organisation."""
    return actor.org_id is not None and holds(actor, WRITERS)


def can_host_events(actor: Actor) -> bool:
    """Universities and students' unions record events."""
    return can_create_records(actor) and actor.org_kind in HOST_KINDS


def can_review(actor: Actor, owner_org_id: uuid.UUID | str | None) -> bool:
    """Prevent leads of the owning organisation review and escalate."""
    return _same_org(actor, owner_org_id) and holds(actor, REVIEWERS)


def can_decide(
    actor: Actor,
    owner_org_id: uuid.UUID | str | None,
    designated: bool,
    senior_officer_id: uuid.UUID | str | None,
) -> bool:
    """A designated event is decided by its named senior officer; others by a Prevent lead."""
    if not _same_org(actor, owner_org_id) or actor.kind == ActorKind.CLIENT:
        return False
    if designated:
        return senior_officer_id is not None and actor.id == str(senior_officer_id)
    return actor.has_role(*REVIEWERS)


def is_coordinator(actor: Actor) -> bool:
    """A regional coordinator."""
    return actor.org_kind == "regional_coordinator" and actor.has_role("coordinator")


def is_police_prevent(actor: Actor) -> bool:
    """A police Prevent team's Prevent lead."""
    return actor.org_kind == "police_prevent" and holds(actor, ("prevent_lead",))
