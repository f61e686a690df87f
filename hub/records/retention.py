"""Retention: erase speakers and anonymise events whose keep-until date has passed.

A speaker past `retention_until` is erased: the record stays as a tombstone (status `erased`,
name "[erased]") so that ids in the audit log and in merges still resolve, while every name,
alias, affiliation, source, topic, search row, rating and event link goes, and its assertions
are deleted with their revisions (or emptied of their text when another record refers to them).
An event past `retention_until` is anonymised: its title and free text are cleared and its
speakers unlinked, but its decision's outcome, reason category and date stay, so the annual
return counts it as before. Each erasure is one audit entry holding ids and counts only, and
every organisation a speaker record had been disclosed to is told it was erased
(`hub.records.corrections`; no values).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from audit.actions import PURGE_EVENT, PURGE_RUN, PURGE_SPEAKER
from core.db import Base, db, utcnow
from core.errors import PermissionDenied
from core.security import Actor
from core.validation import LOCAL_ZONE
from hub.records import corrections
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    Appeal,
    Assertion,
    AssertionRevision,
    Decision,
    Event,
    EventSpeaker,
    EventStatusChange,
    Mitigation,
    MitigationConsidered,
    PostEventReport,
    RecordStatus,
    RiskAssessment,
    Speaker,
    SpeakerAffiliation,
    SpeakerAlias,
    SpeakerMerge,
    SpeakerName,
    SpeakerSource,
    SpeakerTopic,
    TriageAnswer,
)

ERASED = "[erased]"
#: Records handled per batch of statements (bounded IN lists on both engines).
CHUNK = 500

#: The tables whose rows about a speaker are deleted outright, and how each is counted.
SPEAKER_CHILDREN = {
    "aliases": SpeakerAlias,
    "affiliations": SpeakerAffiliation,
    "sources": SpeakerSource,
    "topics": SpeakerTopic,
    "search_rows": SpeakerName,
    "ratings": AdvisoryRating,
    "appearances": EventSpeaker,
}


@dataclass
class PurgeReport:
    """What a purge did (or, in a dry run, would do)."""

    dry_run: bool
    today: date
    speakers: int = 0
    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, value: int) -> None:
        """Add `value` to the running total `key`."""
        self.counts[key] = self.counts.get(key, 0) + value

    def lines(self) -> list[str]:
        """The report as lines for the command line."""
        verb = "would be" if self.dry_run else "were"
        lines = [
            f"Retention date before {self.today.isoformat()}:",
            f"  speakers {verb} erased: {self.speakers}",
            f"  events {verb} anonymised: {self.events}",
        ]
        for key, value in sorted(self.counts.items()):
            if value:
                lines.append(f"  {key.replace('_', ' ')}: {value}")
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
        return lines


def purge(actor: Actor, *, today: date | None = None, dry_run: bool = False) -> PurgeReport:
    """Erase speakers and anonymise events past their retention date (the operator only)."""
    if not actor.is_hub_admin:
        raise PermissionDenied(
            "Only the hub operator runs retention.",
            reason="role_required",
            audit={"action": PURGE_RUN, "resource_type": "retention"},
        )
    today = today or utcnow().astimezone(LOCAL_ZONE).date()
    report = PurgeReport(dry_run=dry_run, today=today)
    speaker_rows = db.session.execute(
        sa.select(Speaker.id, Speaker.owner_org_id)
        .where(Speaker.retention_until < today, Speaker.status != RecordStatus.ERASED)
        .order_by(Speaker.id)
    ).all()
    for chunk in _chunks(speaker_rows):
        _erase_speakers(actor, chunk, report, dry_run)
    event_rows = db.session.execute(
        sa.select(Event.id, Event.owner_org_id)
        .where(Event.retention_until < today, Event.erased_at.is_(None))
        .order_by(Event.id)
    ).all()
    for chunk in _chunks(event_rows):
        _anonymise_events(actor, chunk, report, dry_run)
    if not dry_run:
        db.session.flush()
        # The session's identity map still holds the old values of rows changed in SQL.
        db.session.expire_all()
    return report


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _per_id(column: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = db.session.execute(
        sa.select(column, sa.func.count()).where(column.in_(ids)).group_by(column)
    )
    return {key: count for key, count in rows}


def _referenced_elsewhere(ids: list[uuid.UUID], table: sa.Table, skip: set[str]) -> set[Any]:
    """Ids of `table` rows that a foreign key of some other table still points at."""
    found: set[Any] = set()
    for other in Base.metadata.sorted_tables:
        if other.name in skip:
            continue
        for fk in other.foreign_keys:
            try:
                target = fk.column.table
            except sa.exc.NoReferencedTableError:
                continue  # a key into a table this process has not loaded cannot be ours
            if target is table:
                found.update(
                    db.session.scalars(sa.select(fk.parent).where(fk.parent.in_(ids)).distinct())
                )
    return found


# --- speakers -----------------------------------------------------------------------------


def _erase_speakers(actor: Actor, rows: Sequence[Any], report: PurgeReport, dry_run: bool) -> None:
    ids = [row.id for row in rows]
    counts = {name: _per_id(model.speaker_id, ids) for name, model in SPEAKER_CHILDREN.items()}
    assertion_rows = db.session.execute(
        sa.select(Assertion.id, Assertion.speaker_id).where(Assertion.speaker_id.in_(ids))
    ).all()
    assertion_ids = [row.id for row in assertion_rows]
    kept = _referenced_elsewhere(
        assertion_ids, Assertion.__table__, {"assertion_revisions", "assertions"}
    )
    for row in assertion_rows:
        key = "assertions_anonymised" if row.id in kept else "assertions_deleted"
        counts.setdefault(key, {})
        counts[key][row.speaker_id] = counts[key].get(row.speaker_id, 0) + 1
    requests = _per_id(AdvisoryRequest.speaker_id, ids)
    counts["advisory_requests_cleared"] = requests
    report.speakers += len(ids)
    for name, per in counts.items():
        report.add(name, sum(per.values()))
    if dry_run:
        return
    now = utcnow()
    # Requests keep their dates and route (the workflow's record) but not the question.
    db.session.execute(
        sa.update(AdvisoryRequest)
        .where(AdvisoryRequest.speaker_id.in_(ids))
        .values(question=ERASED, routing_note="", decline_reason="", rating_id=None)
    )
    gone = [a for a in assertion_ids if a not in kept]
    if gone:
        db.session.execute(
            sa.delete(AssertionRevision).where(AssertionRevision.assertion_id.in_(gone))
        )
        db.session.execute(sa.delete(Assertion).where(Assertion.id.in_(gone)))
    if kept:
        db.session.execute(
            sa.update(AssertionRevision)
            .where(AssertionRevision.assertion_id.in_(kept))
            .values(text=ERASED, reason="")
        )
        db.session.execute(
            sa.update(Assertion)
            .where(Assertion.id.in_(kept))
            .values(text=ERASED, source=ERASED, source_url=None, updated_at=now)
        )
    for model in SPEAKER_CHILDREN.values():
        db.session.execute(sa.delete(model).where(model.speaker_id.in_(ids)))
    db.session.execute(
        sa.update(SpeakerMerge)
        .where(sa.or_(SpeakerMerge.kept_id.in_(ids), SpeakerMerge.merged_id.in_(ids)))
        .values(reason="")
    )
    db.session.execute(
        sa.update(Speaker)
        .where(Speaker.id.in_(ids))
        .values(status=RecordStatus.ERASED, display_name=ERASED, updated_at=now)
    )
    for row in rows:
        audit.record(
            actor,
            PURGE_SPEAKER,
            "granted",
            resource_type="speaker",
            resource_ids=[str(row.id)],
            resource_org=str(row.owner_org_id),
            subjects=[("speaker", str(row.id))],
            **{name: per.get(row.id, 0) for name, per in sorted(counts.items())},
        )
    corrections.tell_erased(actor, [(row.id, row.owner_org_id) for row in rows])


# --- events -------------------------------------------------------------------------------


def _anonymise_events(
    actor: Actor, rows: Sequence[Any], report: PurgeReport, dry_run: bool
) -> None:
    ids = [row.id for row in rows]
    decision_ids = list(
        db.session.scalars(sa.select(Decision.id).where(Decision.event_id.in_(ids)))
    )
    assessment_ids = list(
        db.session.scalars(sa.select(RiskAssessment.id).where(RiskAssessment.event_id.in_(ids)))
    )
    unlinked = _per_id(EventSpeaker.event_id, ids)
    report.events += len(ids)
    report.add("speakers_unlinked_from_events", sum(unlinked.values()))
    report.add("decisions_cleared", len(decision_ids))
    if dry_run:
        return
    now = utcnow()
    db.session.execute(sa.delete(EventSpeaker).where(EventSpeaker.event_id.in_(ids)))
    db.session.execute(
        sa.update(Event)
        .where(Event.id.in_(ids))
        .values(
            title=ERASED,
            synopsis="",
            organiser_name="",
            venue_place="",
            chair_name="",
            tags=[],
            erased_at=now,
            updated_at=now,
        )
    )
    # The decision's outcome, reason category and date stay: the annual return counts them.
    if decision_ids:
        db.session.execute(
            sa.update(Decision)
            .where(Decision.id.in_(decision_ids))
            .values(rationale="", conditions="", lawful_speech_finding="")
        )
        db.session.execute(
            sa.update(MitigationConsidered)
            .where(MitigationConsidered.decision_id.in_(decision_ids))
            .values(why_insufficient="")
        )
        db.session.execute(
            sa.update(Appeal)
            .where(Appeal.decision_id.in_(decision_ids))
            .values(grounds="", rationale="")
        )
    if assessment_ids:
        db.session.execute(
            sa.update(RiskAssessment)
            .where(RiskAssessment.id.in_(assessment_ids))
            .values(review_notes="", escalation_reason="")
        )
        db.session.execute(
            sa.update(TriageAnswer)
            .where(TriageAnswer.assessment_id.in_(assessment_ids))
            .values(detail="")
        )
        db.session.execute(
            sa.update(Mitigation)
            .where(Mitigation.assessment_id.in_(assessment_ids))
            .values(description="", owner_name="")
        )
    db.session.execute(
        sa.update(PostEventReport).where(PostEventReport.event_id.in_(ids)).values(incidents="")
    )
    db.session.execute(
        sa.update(EventStatusChange).where(EventStatusChange.event_id.in_(ids)).values(note="")
    )
    for row in rows:
        audit.record(
            actor,
            PURGE_EVENT,
            "granted",
            resource_type="event",
            resource_ids=[str(row.id)],
            resource_org=str(row.owner_org_id),
            fields=sorted(ANONYMISED_EVENT_FIELDS),
            speakers_unlinked=unlinked.get(row.id, 0),
        )


#: Field names cleared on an anonymised event and its dependants (named in the audit entry).
ANONYMISED_EVENT_FIELDS = (
    "event.title",
    "event.synopsis",
    "event.organiser_name",
    "event.venue_place",
    "event.chair_name",
    "event.tags",
    "event.speakers",
    "decision.rationale",
    "decision.conditions",
    "decision.lawful_speech_finding",
    "mitigation_considered.why_insufficient",
    "appeal.grounds",
    "appeal.rationale",
    "assessment.review_notes",
    "assessment.escalation_reason",
    "triage_answer.detail",
    "mitigation.description",
    "mitigation.owner_name",
    "report.incidents",
    "status_change.note",
)
