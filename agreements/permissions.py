"""Who may do what to an agreement: one predicate per action, asked by the lifecycle service
(which enforces it) and by the agreement's page (which offers only what the actor may do).

Each predicate answers for the actor and the agreement alone; whether the agreement's state
allows the step (only a suspended agreement can be resumed...) is `step_allowed`'s question,
so that a refusal can say which of the two stood in the way.
"""

from __future__ import annotations

from collections.abc import Callable

from agreements.models import Agreement, AgreementParty, AgreementStatus
from core.db import db
from core.security import Actor, ActorKind
from partners.models import Person

#: Roles that draft, change, propose and amend agreements for their organisation.
DRAFTER_ROLES = ("org_admin", "dpo", "signatory", "coordinator")


def party_org_ids(agreement: Agreement) -> set[str]:
    """The organisations party to an agreement."""
    return {str(p.organisation_id) for p in agreement.parties}


def is_party(actor: Actor, agreement: Agreement) -> bool:
    """The actor belongs to one of the agreement's parties."""
    return actor.org_id is not None and actor.org_id in party_org_ids(agreement)


def is_hub_reviewer(actor: Actor) -> bool:
    """The hub operator's administrators, DPOs and auditors, who see every agreement."""
    return actor.is_hub_admin or (actor.org_kind == "hub" and actor.has_role("dpo", "auditor"))


def is_hub_operator_dpo(actor: Actor) -> bool:
    """The hub operator's data protection officer (or the operator itself, from the CLI)."""
    return actor.kind == ActorKind.SYSTEM or (
        actor.kind == ActorKind.PERSON and actor.org_kind == "hub" and actor.has_role("dpo")
    )


def can_read(actor: Actor, agreement: Agreement) -> bool:
    """Parties' members and the hub's reviewers read an agreement."""
    return is_party(actor, agreement) or is_hub_reviewer(actor)


def can_create(actor: Actor) -> bool:
    """Administrators, DPOs, signatories and coordinators draft agreements (the hub operator's
    people review agreements; they are never a party to one through the pages)."""
    return actor.has_role(*DRAFTER_ROLES)


def can_draft(actor: Actor, agreement: Agreement) -> bool:
    """A party's administrators, DPOs, signatories and coordinators change, propose and
    amend an agreement."""
    return is_party(actor, agreement) and actor.has_role(*DRAFTER_ROLES)


def signing_party(actor: Actor, agreement: Agreement) -> AgreementParty | None:
    """The party row the actor is the named signatory of, or None."""
    if actor.kind != ActorKind.PERSON or not actor.id or not actor.has_role("signatory"):
        return None
    return next(
        (
            p
            for p in agreement.parties
            if str(p.signatory_id) == actor.id and str(p.organisation_id) == actor.org_id
        ),
        None,
    )


def can_approve(actor: Actor, agreement: Agreement) -> bool:
    """A party's named signatory approves for that party."""
    return signing_party(actor, agreement) is not None


def can_suspend(actor: Actor, agreement: Agreement) -> bool:
    """Any party's DPO suspends sharing at once."""
    return is_party(actor, agreement) and actor.has_role("dpo")


def suspending_org_id(agreement: Agreement) -> str | None:
    """The organisation whose DPO suspended the agreement (None: the hub operator did, or the
    agreement is not suspended)."""
    if agreement.suspended_by_id is None:
        return None
    person = db.session.get(Person, agreement.suspended_by_id)
    return str(person.organisation_id) if person is not None else None


def can_resume(actor: Actor, agreement: Agreement) -> bool:
    """Only the suspending party's DPO lifts a suspension, or the hub operator's DPO (recorded
    as such): another party cannot overrule the party that stopped the sharing."""
    if is_hub_operator_dpo(actor):
        return True
    suspender = suspending_org_id(agreement)
    return (
        suspender is not None
        and actor.org_id == suspender
        and actor.has_role("dpo")
        and is_party(actor, agreement)
    )


def resumes_as_operator(actor: Actor, agreement: Agreement) -> bool:
    """True when a lift by `actor` is the hub operator's, not the suspending party's."""
    suspender = suspending_org_id(agreement)
    return is_hub_operator_dpo(actor) and not (
        suspender is not None and actor.org_id == suspender and actor.has_role("dpo")
    )


def can_terminate(actor: Actor, agreement: Agreement) -> bool:
    """A party's signatory ends the agreement for good."""
    return is_party(actor, agreement) and actor.has_role("signatory")


#: For each step: who may take it, and the states it can be taken from.
STEPS: dict[str, tuple[Callable[[Actor, Agreement], bool], frozenset[AgreementStatus]]] = {
    "update": (can_draft, frozenset({AgreementStatus.DRAFT})),
    "propose": (can_draft, frozenset({AgreementStatus.DRAFT})),
    "approve": (can_approve, frozenset({AgreementStatus.PROPOSED})),
    "suspend": (can_suspend, frozenset({AgreementStatus.APPROVED})),
    "resume": (can_resume, frozenset({AgreementStatus.SUSPENDED})),
    "terminate": (
        can_terminate,
        frozenset({AgreementStatus.APPROVED, AgreementStatus.SUSPENDED}),
    ),
    "amend": (can_draft, frozenset({AgreementStatus.APPROVED, AgreementStatus.SUSPENDED})),
}


def step_allowed(actor: Actor, agreement: Agreement, step: str) -> bool:
    """The actor may take `step` and the agreement's state allows it now."""
    may, states = STEPS[step]
    return agreement.status in states and may(actor, agreement)


def abilities(actor: Actor, agreement: Agreement) -> dict[str, bool]:
    """What the agreement's page offers the actor, step by step."""
    can = {step: step_allowed(actor, agreement, step) for step in STEPS}
    can["edit"] = can.pop("update")
    can["download"] = agreement.signed_note is not None
    return can
