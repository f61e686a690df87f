"""An agreement's life: draft -> proposed (frozen) -> approved by every party's signatory ->
in force between its dates; suspended by any party's DPO, terminated, or amended."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from agreements import content as agreement_content
from agreements import permissions
from agreements.models import (
    Agreement,
    AgreementChange,
    AgreementKey,
    AgreementParty,
    AgreementPurpose,
    AgreementStatus,
    AgreementType,
    EffectiveState,
    PartyRole,
)
from audit import notes
from audit.actions import (
    AGREEMENT_ACTIVATE,
    AGREEMENT_AMEND,
    AGREEMENT_APPROVE,
    AGREEMENT_CREATE,
    AGREEMENT_PROPOSE,
    AGREEMENT_READ,
    AGREEMENT_RESUME,
    AGREEMENT_SUSPEND,
    AGREEMENT_TERMINATE,
    AGREEMENT_UPDATE,
)
from audit.services import AgreementRef
from audit.services import record as audit_record
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.keys import FieldCipher
from core.security import Actor, ActorKind
from partners import notifications
from partners.models import Organisation

REAUTH_WINDOW = timedelta(minutes=5)
REMINDER_WINDOW = timedelta(days=30)
SIGNED_NOTE_HEADER = "hub-agreement/v1"


def ref(agreement: Agreement) -> AgreementRef:
    """How the audit log names an agreement version."""
    return AgreementRef(str(agreement.id), agreement.version, agreement.content_hash or "")


def _audit_refs(action: str, agreement: Agreement | None) -> dict[str, Any]:
    return {
        "action": action,
        "resource_type": "agreement",
        "resource_ids": [str(agreement.id)] if agreement else [],
    }


def _deny(action: str, detail: str, agreement: Agreement | None = None) -> PermissionDenied:
    return PermissionDenied(detail, reason="not_permitted", audit=_audit_refs(action, agreement))


def _clash(action: str, detail: str, agreement: Agreement, reason: str = "wrong_state") -> Conflict:
    return Conflict(detail, reason=reason, audit=_audit_refs(action, agreement))


ALREADY_APPROVED = "Your organisation has already approved this version."
#: Why a step is refused to someone who may not take it, and to someone who may but not now.
STEP_REFUSALS = {
    "update": (
        "Only a party's administrators, DPOs, signatories and coordinators can do this.",
        "Only a draft can be changed; amend the agreement to change it.",
    ),
    "propose": (
        "Only a party's administrators, DPOs, signatories and coordinators can do this.",
        "Only a draft can be proposed.",
    ),
    "approve": (
        "Only a party's named signatory can approve for that party.",
        "Only a proposed agreement can be approved.",
    ),
    "suspend": (
        "Only a party's data protection officer can suspend an agreement.",
        "Only an approved agreement can be suspended.",
    ),
    "resume": (
        "Only the data protection officer of the party that suspended the agreement (or the "
        "hub operator's) can lift the suspension.",
        "The agreement is not suspended.",
    ),
    "terminate": (
        "Only a party's signatory can terminate an agreement.",
        "Only an approved or suspended agreement can be terminated.",
    ),
    "amend": (
        "Only a party's administrators, DPOs, signatories and coordinators can do this.",
        "Only an approved or suspended agreement can be amended.",
    ),
}


def require_step(actor: Actor, agreement: Agreement, step: str) -> None:
    """Refuse a step the actor may not take (403) or the agreement's state does not allow
    (409); both audited as `agreement.<step>`."""
    may, states = permissions.STEPS[step]
    action = f"agreement.{step}"
    not_permitted, wrong_state = STEP_REFUSALS[step]
    if agreement.status not in states and permissions.can_read(actor, agreement):
        raise _clash(action, wrong_state, agreement)  # whoever asks, the state says no
    if not may(actor, agreement):
        raise _deny(action, not_permitted, agreement)
    party = permissions.signing_party(actor, agreement) if step == "approve" else None
    if party is not None and party.approved_hash == agreement.content_hash:
        raise _clash(action, ALREADY_APPROVED, agreement, reason="already_approved")


# --- reading ----------------------------------------------------------------------------


def get_agreement(actor: Actor, agreement_id: str | uuid.UUID) -> Agreement:
    """An agreement the actor's organisation is party to (hub reviewers see all)."""
    try:
        agreement = db.session.get(Agreement, uuid.UUID(str(agreement_id)))
    except ValueError:
        agreement = None
    if agreement is None:
        raise NotFound("There is no such agreement.")
    if not permissions.can_read(actor, agreement):
        raise NotFound(
            "There is no such agreement.",
            reason="not_party",
            audit={
                "action": AGREEMENT_READ,
                "resource_type": "agreement",
                "resource_ids": [str(agreement.id)],
            },
        )
    return agreement


def _register(actor: Actor) -> sa.Select | None:
    """The agreement versions the actor sees in the register (None: none at all)."""
    query = sa.select(Agreement).order_by(Agreement.reference, Agreement.version.desc())
    if permissions.is_hub_reviewer(actor):
        return query
    if actor.org_id is None:
        return None
    return query.join(AgreementParty).where(
        AgreementParty.organisation_id == uuid.UUID(actor.org_id)
    )


def list_agreements(actor: Actor) -> list[Agreement]:
    """The register: every agreement version the actor's organisation is party to."""
    query = _register(actor)
    return [] if query is None else list(db.session.scalars(query))


def suspended(actor: Actor) -> list[Agreement]:
    """The suspended agreements of the actor's register (nothing is shared under them)."""
    query = _register(actor)
    if query is None:
        return []
    return list(db.session.scalars(query.where(Agreement.status == AgreementStatus.SUSPENDED)))


def awaiting_approval_by(actor: Actor) -> list[Agreement]:
    """Proposed agreements that name the actor as their party's signatory and that the party
    has not approved yet."""
    if actor.kind != ActorKind.PERSON or not actor.id or actor.org_id is None:
        return []
    if not actor.has_role("signatory"):
        return []
    return list(
        db.session.scalars(
            sa.select(Agreement)
            .join(AgreementParty)
            .where(
                Agreement.status == AgreementStatus.PROPOSED,
                AgreementParty.organisation_id == uuid.UUID(actor.org_id),
                AgreementParty.signatory_id == uuid.UUID(actor.id),
                AgreementParty.approved_at.is_(None),
            )
            .order_by(Agreement.reference, Agreement.version.desc())
        )
    )


# --- drafting ---------------------------------------------------------------------------


def _apply_content(agreement: Agreement, clean: dict[str, Any]) -> None:
    agreement.content = clean
    agreement.reference = clean["reference"]
    agreement.title = clean["title"]
    agreement.type = AgreementType(clean["type"])
    agreement.starts_at = datetime.fromisoformat(clean["starts_at"].replace("Z", "+00:00"))
    agreement.ends_at = datetime.fromisoformat(clean["ends_at"].replace("Z", "+00:00"))
    agreement.review_on = datetime.fromisoformat(clean["review_on"]).date()
    agreement.parties = [
        AgreementParty(
            organisation_id=uuid.UUID(p["organisation_id"]),
            position=i,
            role=PartyRole(p["role"]),
            designated_person=p["designated_person"],
            signatory_id=uuid.UUID(p["signatory_id"]) if p["signatory_id"] else None,
        )
        for i, p in enumerate(clean["parties"])
    ]
    agreement.purposes = [AgreementPurpose(code=code) for code in clean["purposes"]]


def _log(agreement: Agreement, actor: Actor, summary: str) -> None:
    agreement.changes.append(
        AgreementChange(
            changed_by_id=actor.person_id,
            changed_at=utcnow(),
            summary=summary,
        )
    )


def require_create(actor: Actor) -> None:
    """Refuse (403, audited) anyone who may not draft an agreement: the one refusal the
    service and the drafting page both raise."""
    if not permissions.can_create(actor):
        raise _deny(
            AGREEMENT_CREATE,
            "Only administrators, DPOs, signatories and coordinators draft agreements.",
        )


def create_draft(actor: Actor, data: dict[str, Any]) -> Agreement:
    """Draft a new agreement; the drafter's organisation must be a party."""
    require_create(actor)
    clean = agreement_content.validate(data)
    if actor.org_id not in {p["organisation_id"] for p in clean["parties"]}:
        raise ValidationFailed(
            "Your organisation must be a party to the agreement.",
            errors={"parties": ["Include your own organisation as a party."]},
        )
    clash = db.session.scalar(
        sa.select(Agreement.id).where(Agreement.reference == clean["reference"])
    )
    if clash is not None:
        raise ValidationFailed(
            "An agreement with this reference exists; amend it instead.",
            errors={"reference": ["This reference is already used."]},
        )
    agreement = Agreement(
        lineage_id=uuid.uuid4(),
        version=1,
        status=AgreementStatus.DRAFT,
        created_by_id=actor.person_id,
    )
    _apply_content(agreement, clean)
    _log(agreement, actor, "Drafted.")
    db.session.add(agreement)
    db.session.flush()
    pseudonym_key(agreement)  # made with the lineage, so disclosures only ever read it
    audit_record(
        actor,
        AGREEMENT_CREATE,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
    )
    return agreement


def update_draft(actor: Actor, agreement: Agreement, data: dict[str, Any]) -> Agreement:
    """Change a draft; once proposed, content is frozen."""
    require_step(actor, agreement, "update")
    clean = agreement_content.validate({**data, "reference": agreement.reference})
    if actor.org_id not in {p["organisation_id"] for p in clean["parties"]}:
        raise ValidationFailed(
            "Your organisation must be a party to the agreement.",
            errors={"parties": ["Include your own organisation as a party."]},
        )
    changed = sorted(k for k in clean if clean.get(k) != agreement.content.get(k))
    _apply_content(agreement, clean)
    _log(agreement, actor, "Changed: " + (", ".join(changed) or "nothing"))
    db.session.flush()
    audit_record(
        actor,
        AGREEMENT_UPDATE,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        fields=changed,
        agreement=ref(agreement),
    )
    return agreement


def propose(actor: Actor, agreement: Agreement) -> Agreement:
    """Freeze the content and fix its hash: what each signatory will approve."""
    require_step(actor, agreement, "propose")
    # Re-validate: parties' people may have changed since drafting.
    clean = agreement_content.validate(agreement.content)
    _apply_content(agreement, clean)
    agreement.content_hash = agreement_content.content_hash(clean)
    agreement.status = AgreementStatus.PROPOSED
    agreement.proposed_at = utcnow()
    _log(agreement, actor, f"Proposed; content hash {agreement.content_hash}.")
    db.session.flush()
    audit_record(
        actor,
        AGREEMENT_PROPOSE,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
    )
    _notify_parties(
        agreement,
        "agreement.proposed",
        f"Agreement {agreement.reference} v{agreement.version} awaits approval",
    )
    return agreement


def approve(
    actor: Actor,
    agreement: Agreement,
    *,
    content_hash: str,
    reauthenticated_at: datetime | None,
    hub_party: str | None = None,
) -> Agreement:
    """A party's named signatory approves exactly the proposed content (re-authenticated in the
    last five minutes). When every party has approved, the hub signs it.

    A peer hub party (`hub_party`, its organisation id) has no people here: the hub's operator
    (the system actor, from the command line) records the approval its signatory gave at the
    peer."""
    if hub_party is not None:
        party = next(
            (
                p
                for p in agreement.parties
                if str(p.organisation_id) == hub_party and p.signatory_id is None
            ),
            None,
        )
        allowed = party is not None and actor.kind == ActorKind.SYSTEM
    else:
        party = next(
            (p for p in agreement.parties if actor.id and str(p.signatory_id) == actor.id), None
        )
        allowed = (
            party is not None
            and actor.has_role("signatory")
            and actor.org_id == str(party.organisation_id)
        )
    if not allowed or party is None:
        raise _deny(
            "agreement.approve",
            "Only a party's named signatory can approve for that party.",
            agreement,
        )
    if agreement.status != AgreementStatus.PROPOSED:
        raise _clash("agreement.approve", STEP_REFUSALS["approve"][1], agreement)
    if reauthenticated_at is None or utcnow() - reauthenticated_at > REAUTH_WINDOW:
        raise PermissionDenied(
            "Confirm your password to approve: approvals need a sign-in in the last 5 minutes.",
            reason="reauthentication_required",
            audit={
                "action": AGREEMENT_APPROVE,
                "resource_type": "agreement",
                "resource_ids": [str(agreement.id)],
            },
        )
    if content_hash != agreement.content_hash:
        raise _clash(
            "agreement.approve",
            "The agreement changed after you read it. Read it again before approving.",
            agreement,
            reason="content_changed",
        )
    if party.approved_at is not None and party.approved_hash == agreement.content_hash:
        raise _clash("agreement.approve", ALREADY_APPROVED, agreement, reason="already_approved")
    party.approved_at = utcnow()
    party.approved_by_id = actor.person_id
    party.approved_hash = agreement.content_hash
    _log(agreement, actor, "Approved for one party.")
    audit_record(
        actor,
        AGREEMENT_APPROVE,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
        party=str(party.organisation_id),
    )
    if all(p.approved_hash == agreement.content_hash for p in agreement.parties):
        _activate(actor, agreement)
    db.session.flush()
    return agreement


def _activate(actor: Actor, agreement: Agreement) -> None:
    agreement.status = AgreementStatus.APPROVED
    agreement.approved_at = utcnow()
    agreement.signed_note = sign(agreement)
    # An amendment replaces the version before it once approved.
    for previous in db.session.scalars(
        sa.select(Agreement).where(
            Agreement.lineage_id == agreement.lineage_id,
            Agreement.id != agreement.id,
            Agreement.status.in_([AgreementStatus.APPROVED, AgreementStatus.SUSPENDED]),
        )
    ):
        previous.status = AgreementStatus.SUPERSEDED
        _log(previous, actor, f"Superseded by version {agreement.version}.")
    _log(agreement, actor, "Approved by every party; signed by the hub.")
    audit_record(
        actor,
        AGREEMENT_ACTIVATE,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
    )
    _notify_parties(
        agreement,
        "agreement.approved",
        f"Agreement {agreement.reference} v{agreement.version} is approved",
    )


def sign(agreement: Agreement) -> str:
    """The hub's signed note over the agreement's content hash (C2SP signed-note, Ed25519)."""
    text = (
        f"{SIGNED_NOTE_HEADER}\n{agreement.reference}\n{agreement.version}\n"
        f"{agreement.content_hash}\n"
    )
    return notes.sign_note(text, current_app.config["HUB_AUDIT_SIGNER_KEY"])


def signed_document(agreement: Agreement) -> dict[str, Any]:
    """The downloadable, offline-verifiable agreement: content, hash and the hub's signature."""
    if agreement.signed_note is None:
        raise Conflict("Only an approved agreement is signed.")
    return {
        "format": SIGNED_NOTE_HEADER,
        "reference": agreement.reference,
        "version": agreement.version,
        "content": agreement.content,
        "content_hash": agreement.content_hash,
        "signed_note": agreement.signed_note,
    }


def verify_signed_document(document: dict[str, Any], verifier_key: str) -> str:
    """Check a signed agreement offline; returns a one-line confirmation or raises ValueError."""
    try:
        text, _ = notes.open_note(document["signed_note"], [verifier_key])
    except (KeyError, notes.NoteError) as exc:
        raise ValueError(f"the signature does not verify with this key: {exc}") from exc
    lines = text.rstrip("\n").split("\n")
    if len(lines) != 4 or lines[0] != SIGNED_NOTE_HEADER:
        raise ValueError("the signed note is not a hub agreement signature")
    _header, reference, version, signed_hash = lines
    actual = agreement_content.content_hash(document.get("content", {}))
    if actual != signed_hash:
        raise ValueError("the content does not match what the hub signed (it was changed)")
    if (reference, version) != (document.get("reference"), str(document.get("version"))):
        raise ValueError("the reference or version does not match the signature")
    return f"OK: {reference} version {version} is as the hub signed it (content {actual})."


# --- suspension, termination, amendment -------------------------------------------------


def suspend(actor: Actor, agreement: Agreement, reason: str) -> Agreement:
    """Any party's DPO suspends sharing at once."""
    require_step(actor, agreement, "suspend")
    if not reason.strip():
        raise ValidationFailed(
            "Give the reason for suspending.",
            errors={"reason": ["Give the reason for suspending."]},
        )
    agreement.status = AgreementStatus.SUSPENDED
    agreement.suspended_at = utcnow()
    agreement.suspended_by_id = actor.person_id
    agreement.suspension_reason = reason.strip()
    _log(agreement, actor, "Suspended.")
    db.session.flush()
    audit_record(
        actor,
        AGREEMENT_SUSPEND,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
    )
    _notify_parties(
        agreement,
        "agreement.suspended",
        f"Agreement {agreement.reference} is suspended: sharing has stopped",
    )
    return agreement


def resume(actor: Actor, agreement: Agreement) -> Agreement:
    """The suspending party's DPO lifts a suspension (or the hub operator's DPO, recorded as
    such); every party is told, as of the suspension."""
    require_step(actor, agreement, "resume")
    by_operator = permissions.resumes_as_operator(actor, agreement)
    agreement.status = AgreementStatus.APPROVED
    _log(
        agreement,
        actor,
        "Suspension lifted by the hub operator." if by_operator else "Suspension lifted.",
    )
    db.session.flush()
    audit_record(
        actor,
        AGREEMENT_RESUME,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
        basis="hub_operator" if by_operator else "suspending_party",
    )
    _notify_parties(
        agreement,
        "agreement.resumed",
        f"Agreement {agreement.reference}: the suspension is lifted and sharing has resumed",
    )
    return agreement


def terminate(actor: Actor, agreement: Agreement, reason: str) -> Agreement:
    """A party's signatory ends the agreement for good."""
    require_step(actor, agreement, "terminate")
    if not reason.strip():
        raise ValidationFailed(
            "Give the reason for terminating.",
            errors={"reason": ["Give the reason for terminating."]},
        )
    agreement.status = AgreementStatus.TERMINATED
    agreement.terminated_at = utcnow()
    agreement.terminated_by_id = actor.person_id
    agreement.termination_reason = reason.strip()
    _log(agreement, actor, "Terminated.")
    db.session.flush()
    audit_record(
        actor,
        AGREEMENT_TERMINATE,
        "granted",
        resource_type="agreement",
        resource_ids=[str(agreement.id)],
        agreement=ref(agreement),
    )
    _notify_parties(
        agreement, "agreement.terminated", f"Agreement {agreement.reference} is terminated"
    )
    return agreement


def amend(actor: Actor, agreement: Agreement) -> Agreement:
    """Start a new version (a draft copy); the current version stays in force until the new
    one is approved by every party again."""
    require_step(actor, agreement, "amend")
    pending = db.session.scalar(
        sa.select(Agreement.id).where(
            Agreement.lineage_id == agreement.lineage_id,
            Agreement.status.in_([AgreementStatus.DRAFT, AgreementStatus.PROPOSED]),
        )
    )
    if pending is not None:
        raise _clash(
            "agreement.amend",
            "An amendment is already in progress.",
            agreement,
            reason="amendment_pending",
        )
    latest = db.session.scalar(
        sa.select(sa.func.max(Agreement.version)).where(
            Agreement.lineage_id == agreement.lineage_id
        )
    )
    draft = Agreement(
        lineage_id=agreement.lineage_id,
        version=(latest or 1) + 1,
        status=AgreementStatus.DRAFT,
        created_by_id=actor.person_id,
    )
    _apply_content(draft, dict(agreement.content))
    _log(draft, actor, f"Amendment of version {agreement.version} started.")
    db.session.add(draft)
    db.session.flush()
    audit_record(
        actor,
        AGREEMENT_AMEND,
        "granted",
        resource_type="agreement",
        resource_ids=[str(draft.id)],
        agreement=ref(draft),
        amends=str(agreement.id),
    )
    return draft


# --- keys, reminders, notifications -----------------------------------------------------


def _key_context(lineage: uuid.UUID) -> str:
    """What a lineage's pseudonymisation key is bound to when encrypted (the AEAD context)."""
    return f"agreement-key:{lineage}"


def pseudonym_keys(
    agreements: Iterable[Agreement], stored: Mapping[uuid.UUID, bytes] | None = None
) -> dict[uuid.UUID, bytes]:
    """The pseudonymisation keys of these agreements' lineages, by lineage id: from `stored`
    (keys as stored, read with the agreements), else those made already read in one
    statement, else made as `pseudonym_key` makes them."""
    wanted = {agreement.lineage_id: agreement for agreement in agreements}
    if not wanted:
        return {}
    cipher: FieldCipher = current_app.extensions["hub_field_cipher"]
    found = {lineage: blob for lineage, blob in (stored or {}).items() if lineage in wanted}
    missing = [lineage for lineage in wanted if lineage not in found]
    if missing:
        found.update(
            (row.lineage_id, row.key_encrypted)
            for row in db.session.scalars(
                sa.select(AgreementKey).where(AgreementKey.lineage_id.in_(missing))
            )
        )
    keys = {lineage: cipher.decrypt(blob, _key_context(lineage)) for lineage, blob in found.items()}
    for lineage, agreement in wanted.items():
        if lineage not in keys:
            keys[lineage] = pseudonym_key(agreement)
    return keys


def pseudonym_key(agreement: Agreement) -> bytes:
    """The agreement lineage's pseudonymisation key. It is made when the lineage is drafted;
    lineages older than that get theirs on first use, where two requests may race to make it:
    the loser's insert fails inside a savepoint and it reads the winner's key."""
    cipher: FieldCipher = current_app.extensions["hub_field_cipher"]
    context = _key_context(agreement.lineage_id)
    row = db.session.get(AgreementKey, agreement.lineage_id)
    if row is None:
        key = secrets.token_bytes(32)
        try:
            with db.session.begin_nested():
                db.session.add(
                    AgreementKey(
                        lineage_id=agreement.lineage_id,
                        key_encrypted=cipher.encrypt(key, context),
                    )
                )
            return key
        except sa.exc.IntegrityError:
            row = db.session.scalars(
                sa.select(AgreementKey)
                .where(AgreementKey.lineage_id == agreement.lineage_id)
                .execution_options(populate_existing=True)
            ).one()
    return cipher.decrypt(row.key_encrypted, context)


#: Who at each party is emailed when an agreement changes (everyone sees it in the inbox).
CHANGE_EMAIL_ROLES = ("dpo", "signatory")


def _notify_parties(agreement: Agreement, kind: str, title: str) -> None:
    for party in agreement.parties:
        notifications.notify(
            party.organisation_id,
            kind,
            title,
            link=f"/agreements/{agreement.id}",
            data={
                "agreement_id": str(agreement.id),
                "reference": agreement.reference,
                "version": agreement.version,
            },
            email_roles=CHANGE_EMAIL_ROLES,
            email_text=[
                f"The data-sharing agreement {agreement.reference}, version "
                f"{agreement.version}, to which your organisation is a party, has changed. "
                "Read it in the hub to see what this means for your organisation."
            ],
        )


def due_reviews(actor: Actor, now: datetime | None = None) -> list[tuple[Agreement, str]]:
    """Agreements of the actor's organisation whose review or end date is within 30 days."""
    now = now or utcnow()
    found = []
    for agreement in list_agreements(actor):
        if agreement.state_at(now) not in {EffectiveState.ACTIVE, EffectiveState.NOT_STARTED}:
            continue
        if agreement.review_on <= (now + REMINDER_WINDOW).date():
            found.append((agreement, f"review due {agreement.review_on.isoformat()}"))
        if agreement.ends_at <= now + REMINDER_WINDOW:
            found.append((agreement, f"ends {agreement.ends_at.date().isoformat()}"))
    return found


def queue_review_reminders(now: datetime | None = None) -> int:
    """Queue one email per party contact for each review or end date within 30 days."""
    now = now or utcnow()
    queued = 0
    agreements = db.session.scalars(
        sa.select(Agreement).where(Agreement.status == AgreementStatus.APPROVED)
    )
    for agreement in agreements:
        if agreement.state_at(now) not in {EffectiveState.ACTIVE, EffectiveState.NOT_STARTED}:
            continue
        dues = []
        if agreement.review_on <= (now + REMINDER_WINDOW).date():
            dues.append(("review", agreement.review_on.isoformat()))
        if agreement.ends_at <= now + REMINDER_WINDOW:
            dues.append(("end", agreement.ends_at.date().isoformat()))
        for what, when in dues:
            for party in agreement.parties:
                organisation = db.session.get(Organisation, party.organisation_id)
                if organisation is None:
                    continue
                email = notifications.queue_email(
                    organisation.dp_contact_email,
                    f"Agreement {agreement.reference}: {what} date {when}",
                    [
                        f"The data-sharing agreement {agreement.reference} "
                        f"({agreement.title}), version {agreement.version}, reaches its "
                        f"{what} date on {when}. Review it in the hub."
                    ],
                    kind=f"agreement.{what}",
                    dedupe_key=f"agreement:{agreement.id}:{what}:{when}:{organisation.id}",
                    link=f"/agreements/{agreement.id}",
                )
                queued += email is not None
    return queued
