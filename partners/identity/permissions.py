"""Who may configure an organisation's identity provider: pure predicates over an Actor."""

from __future__ import annotations

from core.security import Actor, ActorKind
from partners.models import Organisation


def can_configure_identity_provider(actor: Actor, organisation: Organisation) -> bool:
    """The organisation's own administrators, and hub administrators."""
    if actor.is_hub_admin:
        return True
    return (
        actor.kind == ActorKind.PERSON
        and actor.org_id == str(organisation.id)
        and actor.has_role("org_admin")
    )
