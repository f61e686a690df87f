"""Who may manage organisations and people: pure predicates over an Actor, and the table that
names, for each action, the predicate that allows it and what a refusal says.

Services enforce an action with `require` (which raises the audited refusal); pages ask
`allows` for what to offer and call `require` before showing a form, so a refusal is written
in one place whichever door it comes through.
"""

from __future__ import annotations

from audit.actions import (
    ORGANISATION_CREATE,
    ORGANISATION_UPDATE,
    PERSON_CREATE,
    PERSON_ENROLMENT_LINK,
    PERSON_UNLOCK,
    PERSON_UPDATE,
)
from core.rules import Rule, Rules
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


_HUB_ADMINS = "Only hub administrators can {}."
_ORG_ADMINS = "Only this organisation's administrators can {}."

RULES = Rules(
    {
        "organisation.list": Rule(
            lambda actor, _org: can_view_directory(actor), "You cannot view the directory."
        ),
        ORGANISATION_CREATE: Rule(
            lambda actor, _org: can_manage_organisations(actor),
            _HUB_ADMINS.format("add organisations"),
        ),
        ORGANISATION_UPDATE: Rule(
            lambda actor, _org: can_manage_organisations(actor),
            _HUB_ADMINS.format("edit organisations"),
        ),
        **dict.fromkeys(
            ("organisation.suspend", "organisation.reactivate"),
            Rule(
                lambda actor, _org: can_manage_organisations(actor),
                _HUB_ADMINS.format("suspend or reactivate organisations"),
            ),
        ),
        "person.list": Rule(
            lambda actor, org: org is not None and can_view_people(actor, org),
            "You cannot see another organisation's people.",
        ),
        PERSON_CREATE: Rule(
            lambda actor, org: org is not None and can_manage_people(actor, org),
            _ORG_ADMINS.format("add people"),
        ),
        PERSON_UPDATE: Rule(
            lambda actor, org: org is not None and can_manage_people(actor, org),
            _ORG_ADMINS.format("change its people"),
        ),
        **dict.fromkeys(
            ("person.suspend", "person.reactivate"),
            Rule(
                lambda actor, org: org is not None and can_manage_people(actor, org),
                _ORG_ADMINS.format("suspend its people"),
            ),
        ),
        PERSON_ENROLMENT_LINK: Rule(
            lambda actor, org: org is not None and can_manage_people(actor, org),
            _ORG_ADMINS.format("do this"),
        ),
        PERSON_UNLOCK: Rule(
            lambda actor, org: org is not None and can_manage_people(actor, org),
            _ORG_ADMINS.format("unlock its people's sign-in"),
        ),
    },
    resource_type="organisation",
)


allows = RULES.allows
require = RULES.require
