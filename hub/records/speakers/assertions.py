"""Assertions: statements about a speaker, each with who recorded it, from which source, when,
whether it is fact or opinion, and a status history (disputed, corrected, withdrawn); the
organisations a statement was disclosed to are told when it is corrected, withdrawn or disputed
(`hub.records.corrections`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from agreements.policy import ShareableRecord
from audit import services as audit
from audit.actions import ASSERTION_READ
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied
from core.security import Actor
from core.validation import Checker
from hub.records import corrections, permissions, shareable
from hub.records.models import (
    Assertion,
    AssertionKind,
    AssertionRevision,
    AssertionStatus,
    Confidence,
    Distribution,
    RecordStatus,
    Speaker,
)
from hub.records.speakers.services import require_reader

#: A statement must be reviewed at least this often: a review date is after the statement's
#: date, in the future, and no more than three years from the day it is set.
MAX_REVIEW_AHEAD = timedelta(days=3 * 365 + 1)
MAX_TEXT = 5000
MAX_REASON = 2000

KIND_LABELS = {AssertionKind.FACT: "Fact", AssertionKind.OPINION: "Opinion"}
KIND_HINTS = {
    AssertionKind.FACT: "Something that can be checked against the source.",
    AssertionKind.OPINION: "A judgement or view, the recorder's or the source's.",
}
CONFIDENCE_LABELS = {
    Confidence.HIGH: "High",
    Confidence.MEDIUM: "Medium",
    Confidence.LOW: "Low",
}
STATUS_LABELS = {
    AssertionStatus.ACTIVE: "Active",
    AssertionStatus.DISPUTED: "Disputed",
    AssertionStatus.CORRECTED: "Corrected",
    AssertionStatus.WITHDRAWN: "Withdrawn",
}
STATUS_COLOURS = {
    AssertionStatus.ACTIVE: "green",
    AssertionStatus.DISPUTED: "orange",
    AssertionStatus.CORRECTED: "blue",
    AssertionStatus.WITHDRAWN: "grey",
}
#: Which status changes are allowed (a correction is `correct_assertion`, not a status change).
#: A withdrawn statement stays withdrawn: record a new one instead.
TRANSITIONS: dict[AssertionStatus, frozenset[AssertionStatus]] = {
    AssertionStatus.ACTIVE: frozenset({AssertionStatus.DISPUTED, AssertionStatus.WITHDRAWN}),
    AssertionStatus.DISPUTED: frozenset({AssertionStatus.ACTIVE, AssertionStatus.WITHDRAWN}),
    AssertionStatus.CORRECTED: frozenset({AssertionStatus.DISPUTED, AssertionStatus.WITHDRAWN}),
    AssertionStatus.WITHDRAWN: frozenset(),
}
#: Fields `update_assertion` may change (the statement itself changes only by correction).
DETAIL_FIELDS = ("confidence", "special_category", "criminal_offence", "review_by", "distribution")


def _refs(assertion: Assertion) -> dict[str, Any]:
    return {
        "resource_type": "assertion",
        "resource_ids": [str(assertion.id)],
        "resource_org": str(assertion.owner_org_id),
    }


def _subjects(assertion: Assertion) -> list[tuple[str, str]]:
    return [("speaker", str(assertion.speaker_id))]


def can_change_status(actor: Actor, assertion: Assertion) -> bool:
    """Writers of the owner; and its data protection officer, who handles disputes of
    accuracy and objections (they may dispute or withdraw a statement, not rewrite it)."""
    return permissions.can_write(actor, assertion.owner_org_id) or (
        permissions.can_read(actor, assertion.owner_org_id) and actor.has_role("dpo")
    )


def is_review_overdue(assertion: Assertion, today: date | None = None) -> bool:
    """A live statement whose review date has passed."""
    return assertion.status != AssertionStatus.WITHDRAWN and assertion.review_by < (
        today or utcnow().date()
    )


def get_assertion(
    actor: Actor, speaker: Speaker, assertion_id: uuid.UUID | str, action: str = ASSERTION_READ
) -> Assertion:
    """An assertion about `speaker` that the actor's organisation owns (others: not found)."""
    require_reader(actor, action)
    try:
        key = assertion_id if isinstance(assertion_id, uuid.UUID) else uuid.UUID(str(assertion_id))
    except ValueError as exc:
        raise NotFound("There is no such statement.") from exc
    assertion = db.session.get(Assertion, key)
    if assertion is None or assertion.speaker_id != speaker.id:
        raise NotFound("There is no such statement.")
    if not permissions.can_read(actor, assertion.owner_org_id):
        raise NotFound(
            "There is no such statement.",
            reason="not_owner",
            audit={"action": action, **_refs(assertion)},
        )
    return assertion


def assertions_about(actor: Actor, speaker: Speaker) -> list[Assertion]:
    """The statements the actor's organisation holds about `speaker`, oldest first."""
    require_reader(actor, "assertion.list")
    if actor.org_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Assertion)
            .where(
                Assertion.speaker_id == speaker.id,
                Assertion.owner_org_id == uuid.UUID(actor.org_id),
            )
            .order_by(Assertion.created_at, Assertion.id)
        )
    )


def _review_date(check: Checker, stated_on: date | None, today: date) -> date | None:
    review_by = check.date("review_by", "the date to review this statement by")
    if review_by is None:
        return None
    if stated_on is not None and review_by <= stated_on:
        check.add("review_by", "The review date must be after the date of the statement.")
    elif review_by <= today:
        check.add("review_by", "The review date must be in the future.")
    elif review_by > today + MAX_REVIEW_AHEAD:
        check.add("review_by", "The review date must be no more than 3 years from today.")
    return review_by


def _denied(action: str, detail: str, speaker: Speaker) -> PermissionDenied:
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={
            "action": action,
            "resource_type": "speaker",
            "resource_ids": [str(speaker.id)],
            "resource_org": str(speaker.owner_org_id),
        },
    )


def create_assertion(actor: Actor, speaker: Speaker, data: Mapping[str, Any]) -> Assertion:
    """Record a statement about `speaker`, owned by the actor's organisation: fact or opinion,
    the text, its source (and web address), the date it was made, the recorder's confidence,
    whether it is special-category or criminal-offence data, and a review date.

    Flagged statements are internal unless the recorder says otherwise: sharing them needs a
    lawful basis that an agreement records.
    """
    action = "assertion.create"
    require_reader(actor, action)
    if not permissions.can_read(actor, speaker.owner_org_id):
        raise NotFound(
            "There is no such speaker.",
            reason="not_owner",
            audit={
                "action": action,
                "resource_type": "speaker",
                "resource_ids": [str(speaker.id)],
                "resource_org": str(speaker.owner_org_id),
            },
        )
    if not permissions.can_write(actor, speaker.owner_org_id):
        raise _denied(action, "Only events officers and Prevent leads record statements.", speaker)
    if speaker.status != RecordStatus.ACTIVE:
        raise Conflict(
            "This record was merged into another: record the statement there.",
            reason="not_active",
        )
    today = utcnow().date()
    check = Checker(data)
    kind = check.choice("kind", AssertionKind, "whether this is a fact or an opinion")
    text = check.text("text", "the statement", max_length=MAX_TEXT)
    source = check.text("source", "where this comes from (the source)", max_length=MAX_REASON)
    source_url = check.url("source_url", "the web address of the source", required=False)
    stated_on = check.date("stated_on", "the date of the statement")
    if stated_on is not None and stated_on > today:
        check.add("stated_on", "The date of the statement must be today or in the past.")
    confidence = check.choice("confidence", Confidence, "how confident you are")
    special = check.boolean("special_category", "special-category data")
    criminal = check.boolean("criminal_offence", "criminal-offence data")
    review_by = _review_date(check, stated_on, today)
    distribution = check.choice(
        "distribution", Distribution, "how far this statement may be shared", required=False
    )
    check.raise_if_any()
    if distribution is None:
        distribution = Distribution.INTERNAL if special or criminal else speaker.distribution
    assertion = Assertion(
        speaker_id=speaker.id,
        owner_org_id=uuid.UUID(actor.org_id),
        distribution=distribution,
        kind=kind,
        text=text,
        source=source,
        source_url=source_url or None,
        stated_on=stated_on,
        confidence=confidence,
        special_category=special,
        criminal_offence=criminal,
        review_by=review_by,
        status=AssertionStatus.ACTIVE,
        version=1,
        created_by_id=actor.person_id,
    )
    assertion.revisions.append(
        AssertionRevision(
            version=1,
            status=AssertionStatus.ACTIVE,
            text=text,
            reason="Recorded.",
            changed_by_id=actor.person_id,
        )
    )
    db.session.add(assertion)
    db.session.flush()
    fields = [
        "kind", "text", "source", "stated_on", "confidence", "special_category",
        "criminal_offence", "review_by", "distribution",
    ]  # fmt: skip
    if assertion.source_url:
        fields.append("source_url")
    audit.record(
        actor,
        action,
        "granted",
        fields=fields,
        subjects=_subjects(assertion),
        speaker_id=str(speaker.id),
        kind=kind.value,
        special_category=int(special),
        criminal_offence=int(criminal),
        **_refs(assertion),
    )
    return assertion


def _guard(actor: Actor, assertion: Assertion, action: str, *, status_only: bool) -> None:
    require_reader(actor, action)
    if not permissions.can_read(actor, assertion.owner_org_id):
        raise NotFound(
            "There is no such statement.",
            reason="not_owner",
            audit={"action": action, **_refs(assertion)},
        )
    allowed = (
        can_change_status(actor, assertion)
        if status_only
        else permissions.can_write(actor, assertion.owner_org_id)
    )
    if not allowed:
        raise PermissionDenied(
            "Your roles do not let you change this statement.",
            reason="not_permitted",
            audit={"action": action, **_refs(assertion)},
        )


def _revise(
    actor: Actor, assertion: Assertion, status: AssertionStatus, text: str, reason: str
) -> None:
    assertion.version += 1
    assertion.status = status
    assertion.text = text
    assertion.updated_at = utcnow()
    assertion.revisions.append(
        AssertionRevision(
            version=assertion.version,
            status=status,
            text=text,
            reason=reason,
            changed_by_id=actor.person_id,
        )
    )


def _reason(check: Checker) -> str:
    return check.text("reason", "the reason for this change", max_length=MAX_REASON)


def change_assertion_status(
    actor: Actor, assertion: Assertion, data: Mapping[str, Any]
) -> Assertion:
    """Mark a statement disputed, active again, or withdrawn, with a reason; the change is
    kept as a new revision (the version goes up)."""
    action = "assertion.status"
    _guard(actor, assertion, action, status_only=True)
    check = Checker(data)
    target = check.choice("status", AssertionStatus, "the new status")
    reason = _reason(check)
    if target is not None:
        allowed = TRANSITIONS[assertion.status]
        if target == AssertionStatus.CORRECTED:
            check.add("status", "To correct a statement, give the corrected text.")
        elif target == assertion.status:
            check.add("status", f"The statement is already {STATUS_LABELS[target].lower()}.")
        elif target not in allowed:
            current = STATUS_LABELS[assertion.status].lower()
            if allowed:
                options = " or ".join(STATUS_LABELS[s].lower() for s in sorted(allowed))
                check.add("status", f"A {current} statement can only be made {options}.")
            else:
                check.add("status", f"A {current} statement cannot be changed.")
    check.raise_if_any()
    before = assertion.status
    _revise(actor, assertion, target, assertion.text, reason)
    db.session.flush()
    audit.record(
        actor,
        action,
        "granted",
        fields=["status"],
        subjects=_subjects(assertion),
        from_status=before.value,
        to_status=target.value,
        version=assertion.version,
        **_refs(assertion),
    )
    if target in {AssertionStatus.WITHDRAWN, AssertionStatus.DISPUTED}:
        # The whole statement is in question: everyone who received any of it is told.
        corrections.tell_changed(
            actor, shareable.assertion(assertion), target.value, speaker=_speaker_record(assertion)
        )
    return assertion


def correct_assertion(actor: Actor, assertion: Assertion, data: Mapping[str, Any]) -> Assertion:
    """Replace a statement's text with a corrected one, with a reason: its status becomes
    corrected and the earlier text stays in the history."""
    action = "assertion.correct"
    _guard(actor, assertion, action, status_only=False)
    check = Checker(data)
    text = check.text("text", "the corrected statement", max_length=MAX_TEXT)
    reason = _reason(check)
    if assertion.status == AssertionStatus.WITHDRAWN:
        check.add("text", "A withdrawn statement cannot be corrected: record a new one.")
    elif text and text == assertion.text:
        check.add("text", "The corrected statement is the same as the current one.")
    check.raise_if_any()
    before = shareable.assertion(assertion)
    _revise(actor, assertion, AssertionStatus.CORRECTED, text, reason)
    db.session.flush()
    audit.record(
        actor,
        action,
        "granted",
        fields=["text", "status"],
        subjects=_subjects(assertion),
        version=assertion.version,
        **_refs(assertion),
    )
    corrections.tell_corrected(
        actor,
        before,
        shareable.assertion(assertion),
        ["text", "status"],
        speaker=_speaker_record(assertion),
    )
    return assertion


def update_assertion(actor: Actor, assertion: Assertion, data: Mapping[str, Any]) -> list[str]:
    """Change a statement's confidence, flags, review date or distribution (not what it says:
    that is a correction). Returns the names of the fields that changed."""
    action = "assertion.update"
    _guard(actor, assertion, action, status_only=False)
    if assertion.status == AssertionStatus.WITHDRAWN:
        raise Conflict("A withdrawn statement cannot be changed.", reason="withdrawn")
    today = utcnow().date()
    check = Checker(data)
    clean: dict[str, Any] = {}
    if "confidence" in data:
        clean["confidence"] = check.choice("confidence", Confidence, "how confident you are")
    for flag, label in (
        ("special_category", "special-category data"),
        ("criminal_offence", "criminal-offence data"),
    ):
        if flag in data:
            clean[flag] = check.boolean(flag, label)
    if "review_by" in data:
        clean["review_by"] = _review_date(check, assertion.stated_on, today)
    if "distribution" in data:
        clean["distribution"] = check.choice(
            "distribution", Distribution, "how far this statement may be shared"
        )
    check.raise_if_any()
    changed = [
        key for key in DETAIL_FIELDS if key in clean and getattr(assertion, key) != clean[key]
    ]
    if not changed:
        return []
    before = shareable.assertion(assertion)
    for key in changed:
        setattr(assertion, key, clean[key])
    assertion.updated_at = utcnow()
    db.session.flush()
    audit.record(
        actor, action, "granted", fields=changed, subjects=_subjects(assertion), **_refs(assertion)
    )
    # A shared statement's confidence, flags or review date are corrections too, for those
    # who received them.
    corrections.tell_corrected(
        actor, before, shareable.assertion(assertion), changed, speaker=_speaker_record(assertion)
    )
    return changed


# --- corrections reach every recipient --------------------------------------------------


def _speaker_record(assertion: Assertion) -> ShareableRecord:
    return shareable.speaker_header(db.session.get(Speaker, assertion.speaker_id))
