"""What a recipient holds of a shared record: the fields the audit log says were disclosed to it
(`audit.queries.copies_of`), each as the schedule of the agreement version it was disclosed under
gives it (the sharing path's own `project`, with that lineage's pseudonymisation key).

Corrections are sent by it (who received a field, and whether what they received changes), and
webhook payloads and inbox links name records by it (the id a recipient knows a record by), so
that neither repeats the sharing rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agreements import lifecycle
from agreements.fields import Level
from agreements.models import Agreement
from agreements.policy import ShareableRecord, project
from audit.queries import Copy, copies_of
from core.db import db

#: The field of a record about a speaker (a statement, a rating) that names the speaker.
SPEAKER_REFERENCE = "speaker"


@dataclass(frozen=True)
class Schedule:
    """The levels one agreement version gives one recipient for one provider's record type,
    and the key its pseudonyms are made with (None where the version is not known here)."""

    levels: Mapping[str, str]
    key: bytes


def copies(record: ShareableRecord) -> list[Copy]:
    """The copies of `record` other organisations hold (not its owner's), newest first."""
    return [
        copy
        for copy in copies_of(record.record_type, [record.id]).get(record.id, [])
        if copy.organisation_id != record.owner_org_id
    ]


def _agreement(agreement_id: str | None) -> Agreement | None:
    try:
        return db.session.get(Agreement, uuid.UUID(str(agreement_id))) if agreement_id else None
    except ValueError:
        return None


def schedule_of(copy: Copy, record: ShareableRecord) -> Schedule | None:
    """The levels under which `copy` was disclosed: the schedule entry of its agreement version
    for (the record's owner, the holder, the record type). Approved content is frozen, so this
    is what was applied then."""
    agreement = _agreement(copy.agreement_id)
    if agreement is None:
        return None
    for entry in agreement.content.get("data_schedule", []):
        if (
            entry.get("provider") == record.owner_org_id
            and entry.get("recipient") == copy.organisation_id
            and entry.get("record_type") == record.record_type
        ):
            key = lifecycle.pseudonym_keys([agreement])[agreement.lineage_id]
            return Schedule(entry.get("fields", {}), key)
    return None


def as_held(
    copy: Copy, record: ShareableRecord, schedule: Schedule | None = None
) -> dict[str, Any]:
    """`record`'s values of the fields `copy` received, as its schedule gives them (masked,
    pseudonymised, generalised...): what the holder's copy would say if it were sent again. A
    copy whose agreement is not known here is taken to hold the fields in full (it can only
    over-tell, never under-tell)."""
    schedule = schedule or schedule_of(copy, record)
    if schedule is None:
        schedule = Schedule({name: Level.FULL.value for name in copy.fields}, b"")
    levels = {name: level for name, level in schedule.levels.items() if name in copy.fields}
    return project(record, levels, schedule.key)


def changed_for(
    copy: Copy, before: ShareableRecord, after: ShareableRecord, fields: Iterable[str]
) -> list[str]:
    """Which of `fields` changed in what `copy`'s holder received: those it was given whose
    value as its schedule gives it differs now (a masked name whose initials stay the same, or
    a pseudonymised one corrected only in case, reads the same to it)."""
    schedule = schedule_of(copy, before)
    held_before = as_held(copy, before, schedule)
    held_after = as_held(copy, after, schedule)
    return sorted(
        name
        for name in set(fields)
        if name in copy.fields and held_before.get(name) != held_after.get(name)
    )


def speaker_id_known_to(
    organisation_id: str, record: ShareableRecord, held: Sequence[Copy] | None = None
) -> str | None:
    """The id `organisation_id` knows the speaker of `record` by (webhook payloads and inbox
    links carry this, never more).

    A speaker record is named by its own id in every disclosure of it (even an existence-only
    hit), so its holder knows that id. A record about a speaker (a statement, a rating) names
    the speaker in its `speaker` field, which the holder got as its schedule gives it: the id
    in full, a pseudonym under that agreement's key (`psn:...`, exactly as its read showed it),
    or nothing where the field was withheld. None where nothing was disclosed to it.
    `held` are the record's copies where the caller has read them already."""
    mine = [
        copy
        for copy in (copies(record) if held is None else held)
        if copy.organisation_id == str(organisation_id)
    ]
    if not mine:
        return None
    if record.record_type == "speaker":
        return record.id
    latest = max(mine, key=lambda copy: copy.latest_seq)  # what it was sent last, it keeps
    reference = as_held(latest, record).get(SPEAKER_REFERENCE)
    if isinstance(reference, list | tuple):
        reference = reference[0] if reference else None
    return str(reference) if reference else None
