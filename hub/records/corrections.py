"""Corrections reach every recipient (the ICO Data Sharing Code: inaccurate data that was shared
is corrected with everyone it went to), and no one else.

One path for statements and speaker records: who holds what of a record comes from the audit
log's disclosures (`agreements.received`), each holder is told in its inbox and by webhook which
of the fields it received changed (their labels and names, never a value, old or new), and the
telling is audited with the count and the field names. A field a holder's schedule withheld was
never received, so its correction is not sent there; nor is one whose value reads the same in
what the holder was given (the initials of a masked name that stay the same). A statement
withdrawn or disputed, and a speaker record erased, concern the whole record: everyone who
received any of it is told.

Payloads and inbox links name the speaker by the id the holder knows it by
(`agreements.received.speaker_id_known_to`), never by more than its schedule gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agreements import received
from agreements.fields import FIELDS
from agreements.policy import ShareableRecord
from audit import services as audit
from audit.actions import (
    ASSERTION_CORRECTION_NOTIFIED,
    SPEAKER_CORRECTION_NOTIFIED,
    SPEAKER_ERASURE_NOTIFIED,
)
from audit.queries import Copy, copies_of
from core.security import Actor
from partners import notifications

#: Where an inbox message about a speaker leads (the shared record, or the search where its
#: holder does not know the speaker's id).
SHARED_SPEAKER = "/shared/speakers/{}"
SHARED_SEARCH = "/shared/speakers"


@dataclass(frozen=True)
class Notice:
    """What a holder is told of one kind of change: a generic title (titles reach email and
    lists, so they name no one) and the body's first sentence and what to do."""

    title: str
    said: str
    todo: str


NOTICES: dict[str, Notice] = {
    "assertion.corrected": Notice(
        "A statement shared with you about a speaker was corrected",
        "A partner corrected a statement it shared with your organisation.",
        "Look at the speaker again for the current version, and correct any copy you keep.",
    ),
    "assertion.withdrawn": Notice(
        "A statement shared with you about a speaker was withdrawn",
        "A partner withdrew a statement it shared with your organisation: it should no longer "
        "be relied on.",
        "Look at the speaker again, and correct or delete any copy you keep.",
    ),
    "assertion.disputed": Notice(
        "A statement shared with you about a speaker was disputed",
        "A partner marked a statement it shared with your organisation as disputed: its "
        "accuracy is contested.",
        "Look at the speaker again, and mark any copy you keep as disputed.",
    ),
    "speaker.corrected": Notice(
        "A speaker record shared with you was corrected",
        "A partner corrected a speaker record it shared with your organisation.",
        "Look at the speaker again for the current details, and correct any copy you keep.",
    ),
    "speaker.erased": Notice(
        "A speaker record shared with you was erased",
        "A partner erased a speaker record it shared with your organisation (its retention "
        "period ended); nothing of it can be read any more.",
        "Erase any copy you keep, unless your organisation has its own lawful basis to keep it.",
    ),
}
#: The audit action that records the telling, by record type and change.
ACTIONS = {
    "assertion": ASSERTION_CORRECTION_NOTIFIED,
    "speaker": SPEAKER_CORRECTION_NOTIFIED,
    "speaker.erased": SPEAKER_ERASURE_NOTIFIED,
}


def field_labels(record_type: str, names: Iterable[str]) -> list[str]:
    """The registry's labels of a record type's fields, in the registry's order."""
    wanted = set(names)
    return [spec.label for name, spec in FIELDS[record_type].items() if name in wanted]


def _holders(record: ShareableRecord, held: Sequence[Copy] | None) -> dict[str, list[Copy]]:
    """Each other organisation's copies of `record`, newest first."""
    copies = received.copies(record) if held is None else held
    by_holder: dict[str, list[Copy]] = {}
    for copy in copies:
        if copy.organisation_id != record.owner_org_id:
            by_holder.setdefault(copy.organisation_id, []).append(copy)
    return by_holder


def tell_corrected(
    actor: Actor,
    before: ShareableRecord,
    after: ShareableRecord,
    fields: Sequence[str],
    *,
    speaker: ShareableRecord | None = None,
    held: Sequence[Copy] | None = None,
) -> int:
    """Tell every organisation that received any of `fields` of the record, and whose copy of
    them now reads differently, which of them changed. Returns how many were told.

    `speaker` is the speaker a statement is about (for the inbox link); `held` the record's
    copies where the caller has read them already."""
    held = received.copies(after) if held is None else held
    told: dict[str, list[str]] = {}
    for holder, copies in _holders(after, held).items():
        changed = {f for copy in copies for f in received.changed_for(copy, before, after, fields)}
        if changed:
            told[holder] = sorted(changed)
    return _tell(actor, after, "corrected", told, speaker=speaker, held=held)


def tell_changed(
    actor: Actor,
    record: ShareableRecord,
    change: str,
    *,
    speaker: ShareableRecord | None = None,
    held: Sequence[Copy] | None = None,
) -> int:
    """Tell every organisation that received anything of the record (even only that it
    exists) that the whole record changed: a statement withdrawn or disputed, a speaker
    erased. Returns how many were told."""
    held = received.copies(record) if held is None else held
    told: dict[str, list[str]] = {holder: [] for holder in _holders(record, held)}
    return _tell(actor, record, change, told, speaker=speaker, held=held)


def tell_erased(actor: Actor, speakers: Sequence[tuple[Any, Any]]) -> int:
    """`tell_changed` for speaker records erased together (retention), given as (id, owner)
    pairs: who holds them is read in one statement. Returns how many organisations were told
    in all."""
    records = [
        ShareableRecord(
            "speaker", str(key), str(owner), "erased", {}, subjects=(("speaker", str(key)),)
        )
        for key, owner in speakers
    ]
    held = copies_of("speaker", [record.id for record in records])
    return sum(
        tell_changed(actor, record, "erased", held=held.get(record.id, [])) for record in records
    )


def _speaker_ids(
    holder: str,
    record: ShareableRecord,
    held: Sequence[Copy],
    speaker: ShareableRecord | None,
    speaker_held: Sequence[Copy],
) -> tuple[str | None, str | None]:
    """The speaker's id for the payload (what the record's own disclosure gave the holder)
    and for the inbox link (a page of the hub, reached by the speaker record's id where the
    holder was given that record: the speaker's page is where its statements were shown)."""
    in_payload = received.speaker_id_known_to(holder, record, held)
    if record.record_type == "speaker" or speaker is None:
        return in_payload, in_payload
    in_link = received.speaker_id_known_to(holder, speaker, speaker_held)
    if in_link is None and in_payload == speaker.id:  # given in full with the statement
        in_link = in_payload
    return in_payload, in_link


def _tell(
    actor: Actor,
    record: ShareableRecord,
    change: str,
    told: dict[str, list[str]],
    *,
    speaker: ShareableRecord | None = None,
    held: Sequence[Copy] | None = None,
) -> int:
    kind = f"{record.record_type}.{change}"
    notice = NOTICES[kind]
    copies = received.copies(record) if held is None else list(held)
    speaker_copies = received.copies(speaker) if speaker is not None and told else []
    for holder in sorted(told):
        fields = told[holder]
        in_payload, in_link = _speaker_ids(holder, record, copies, speaker, speaker_copies)
        data: dict[str, Any] = {}
        if record.record_type == "assertion":
            data["assertion_id"] = record.id
        if in_payload:
            data["speaker_id"] = in_payload
        if fields:
            data["fields"] = fields
        if change == "erased":
            data["status"] = "erased"
        what = (
            f"What changed: {', '.join(field_labels(record.record_type, fields))}."
            if fields
            else ""
        )
        notifications.notify(
            holder,
            kind,
            notice.title,
            " ".join(part for part in (notice.said, what, notice.todo) if part),
            link=SHARED_SPEAKER.format(in_link) if in_link else SHARED_SEARCH,
            data=data,
        )
    if told:
        audit.record(
            actor,
            ACTIONS.get(kind, ACTIONS[record.record_type]),
            "granted",
            resource_type=record.record_type,
            resource_ids=[record.id],
            resource_org=record.owner_org_id,
            subjects=record.subjects,
            fields=sorted({f for fields in told.values() for f in fields}),
            change=change,
            recipients=len(told),
            organisations=sorted(told),
        )
    return len(told)
