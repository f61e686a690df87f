"""Who may manage organisations and people: pure predicates over an Actor."""

from __future__ import annotations

from core.security import Actor, ActorKind
from partners.models import Organisation


def can_manage_organisations(actor: Actor) -> bool:
    """Hub administrators create, edit, suspend and reactivate organisations."""
    return actor.is_hub_admin


def can_view_directory(actor: Actor) -> bool:
    """Every signed-in person may see the partner directory (names, kinds, DP contacts)."""
    return actor.kind in {ActorKind.PERSON, ActorKind.CLIENT} and actor.org_id is not None


def can_manage_people(actor: Actor, organisation: Organisation) -> bool:
    """An organisation's admins manage its people; hub administrators manage anyone's."""
    if actor.is_hub_admin:
        return True
    return (
        actor.kind == ActorKind.PERSON
        and actor.org_id == str(organisation.id)
        and actor.has_role("org_admin")
    )


def can_view_people(actor: Actor, organisation: Organisation) -> bool:
    """People lists are seen by the organisation's own staff and by hub administrators."""
    return actor.is_hub_admin or (
        actor.kind == ActorKind.PERSON and actor.org_id == str(organisation.id)
    )
