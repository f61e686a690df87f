"""Subject access: a DPO's pack of everything the organisation holds about one speaker, every
disclosure of it to another organisation, and every refused attempt to see it.

Each controller answers its own requests: a DPO builds packs only for speaker records their
own organisation owns, and the pack lists only the disclosures that organisation made (from
the audit log, found by the speaker's subject pseudonym). Organisations that received the data,
or hold their own records (police ratings), are named so the requester can be directed to them.

The DPO records an exemption note per item; the notes go straight into the generated JSON or
PDF and are not stored (only the generation is, as an audit entry holding counts, not notes):
a regenerated pack needs its notes entered again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from agreements.models import Agreement
from audit import queries as audit_queries
from audit import services as audit
from audit.actions import SUBJECT_ACCESS_PREPARE
from audit.models import AuditEntry
from core import documents
from core.db import db
from core.documents import long_moment
from core.errors import PermissionDenied
from core.security import Actor, ActorKind
from core.validation import Checker
from hub.records.events import decisions
from hub.records.events import services as events
from hub.records.models import (
    EVENT_STATUS_LABELS,
    OUTCOME_LABELS,
    AdvisoryRequest,
    Assertion,
    Event,
    EventSpeaker,
    Speaker,
    SpeakerMerge,
)
from hub.records.speakers import assertions, ratings, search
from hub.records.speakers import services as speakers
from partners.models import Organisation
from partners.services import organisation_names

#: Only a data protection officer answers subject access requests.
SUBJECT_ACCESS_ROLES = ("dpo",)
DEFAULT_NOTE = "No exemption applied"
MAX_NOTE = 2000

SECTIONS = {
    "record": "The speaker record",
    "statements": "Statements about the speaker, with their history",
    "ratings": "Advisory ratings on the speaker",
    "appearances": "Appearances at events, with their outcomes",
    "advisory": "Advisory requests about the speaker",
    "disclosures": "Disclosures to other organisations",
    "refusals": "Refused attempts to see the record",
}

ACTION_LABELS = {
    "disclosure": "Shared under a data-sharing agreement",
    "advisory.read": "Seen through an advisory request",
    "advisory.list": "Listed in advisory requests",
}


@dataclass(frozen=True)
class PackItem:
    """One thing held (or one disclosure or refusal), which gets its own exemption note."""

    key: str
    section: str
    title: str
    rows: list[tuple[str, str]]
    data: dict[str, Any]


@dataclass
class Pack:
    """Everything a subject access response about one speaker record lists."""

    speaker_id: str
    controller: str
    controller_contact: str
    items: list[PackItem]
    recipients: list[tuple[str, str]] = field(default_factory=list)
    other_controllers: list[tuple[str, str]] = field(default_factory=list)
    merged_ids: list[str] = field(default_factory=list)

    def section(self, name: str) -> list[PackItem]:
        """The items of one section, in order."""
        return [item for item in self.items if item.section == name]


# --- permission -------------------------------------------------------------------------


def can_answer(actor: Actor) -> bool:
    """A DPO of an organisation answers subject access requests about its own records."""
    return (
        actor.kind == ActorKind.PERSON
        and actor.org_id is not None
        and actor.has_role(*SUBJECT_ACCESS_ROLES)
    )


def require_dpo(actor: Actor, action: str) -> None:
    """Refuse (403, audited) anyone who is not a data protection officer."""
    if not can_answer(actor):
        raise PermissionDenied(
            "Only your organisation's data protection officer answers subject access requests.",
            reason="role_required",
            audit={"action": action, "resource_type": "speaker"},
        )


def find_speakers(actor: Actor, query: str, limit: int = 20) -> list[Any]:
    """The DPO's own organisation's speakers whose name is like `query`."""
    require_dpo(actor, "subject_access.search")
    return search.search_speakers(actor, query, limit=limit)


# --- presentation of values -------------------------------------------------------------


def iso(value: date | datetime | None) -> str | None:
    """A date or moment as ISO 8601 (moments in UTC, with Z)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def long_date(value: date | datetime | None) -> str:
    """3 March 2026 (a moment as its UK local date and time)."""
    return long_moment(value) if isinstance(value, datetime) else documents.long_date(value)


def _label(labels: Mapping[Any, str], value: Any) -> str:
    """A coded value's label (or the code in words)."""
    if value is None:
        return ""
    return labels.get(value, str(getattr(value, "value", value)).replace("_", " "))


def _yes(value: bool) -> str:
    """Yes or No."""
    return "Yes" if value else "No"


# --- building the pack ------------------------------------------------------------------


def _merged_ids(speaker: Speaker) -> list[str]:
    """Every record merged (directly or through others) into this one."""
    found: list[str] = []
    frontier = [speaker.id]
    while frontier:
        merged = list(
            db.session.scalars(
                sa.select(SpeakerMerge.merged_id).where(SpeakerMerge.kept_id.in_(frontier))
            )
        )
        merged = [m for m in merged if str(m) not in found]
        found.extend(str(m) for m in merged)
        frontier = merged
    return found


def _speaker_item(speaker: Speaker, merged: list[str]) -> PackItem:
    """The speaker record with every field, and the records merged into it."""
    merges = speakers.merges_into(speaker)
    merged_names = speakers.merged_record_names(merges)
    data = {
        "id": str(speaker.id),
        "display_name": speaker.display_name,
        "aliases": [{"name": a.name, "kind": a.kind.value} for a in speaker.aliases],
        "affiliations": [
            {"organisation_name": a.organisation_name, "role": a.role} for a in speaker.affiliations
        ],
        "topics": [t.topic for t in speaker.topics],
        "sources": [
            {"url": s.url, "title": s.title, "retrieved_on": iso(s.retrieved_on)}
            for s in speaker.sources
        ],
        "distribution": speaker.distribution.value,
        "status": speaker.status.value,
        "retention_until": iso(speaker.retention_until),
        "created_at": iso(speaker.created_at),
        "updated_at": iso(speaker.updated_at),
        "merged_from": [
            {
                "id": str(m.merged_id),
                "display_name": merged_names.get(str(m.merged_id), ""),
                "merged_at": iso(m.merged_at),
                "reason": m.reason,
            }
            for m in merges
        ],
        "all_merged_record_ids": merged,
    }
    rows = [
        ("Name", speaker.display_name),
        (
            "Other names",
            "; ".join(
                f"{a.name} ({_label(speakers.ALIAS_KIND_LABELS, a.kind)})" for a in speaker.aliases
            ),
        ),
        (
            "Affiliations",
            "; ".join(
                f"{a.organisation_name} ({a.role})" if a.role else a.organisation_name
                for a in speaker.affiliations
            ),
        ),
        ("Topics", "; ".join(t.topic for t in speaker.topics)),
        (
            "Sources",
            "; ".join(
                f"{s.url}"
                + (f" ({s.title})" if s.title else "")
                + f", read {long_date(s.retrieved_on)}"
                for s in speaker.sources
            ),
        ),
        ("Sharing", _label(speakers.DISTRIBUTION_LABELS, speaker.distribution)),
        ("Kept until", long_date(speaker.retention_until)),
        ("Recorded", long_date(speaker.created_at)),
        ("Last changed", long_date(speaker.updated_at)),
    ]
    for m in merges:
        rows.append(
            (
                "Merged from",
                f"{merged_names.get(str(m.merged_id), '')} on {long_date(m.merged_at)}"
                + (f": {m.reason}" if m.reason else ""),
            )
        )
    return PackItem("speaker", "record", "The speaker record", rows, data)


def _statement_item(statement: Assertion, number: int) -> PackItem:
    """A statement with its revision history."""
    revisions = [
        {
            "version": r.version,
            "status": r.status.value,
            "text": r.text,
            "reason": r.reason,
            "changed_at": iso(r.changed_at),
        }
        for r in statement.revisions
    ]
    data = {
        "id": str(statement.id),
        "kind": statement.kind.value,
        "text": statement.text,
        "source": statement.source,
        "source_url": statement.source_url,
        "stated_on": iso(statement.stated_on),
        "confidence": statement.confidence.value,
        "status": statement.status.value,
        "special_category": statement.special_category,
        "criminal_offence": statement.criminal_offence,
        "review_by": iso(statement.review_by),
        "distribution": statement.distribution.value,
        "version": statement.version,
        "recorded_at": iso(statement.created_at),
        "revisions": revisions,
    }
    rows = [
        ("Statement", statement.text),
        ("Fact or opinion", _label(assertions.KIND_LABELS, statement.kind)),
        (
            "Source",
            statement.source + (f" ({statement.source_url})" if statement.source_url else ""),
        ),
        ("Date of the statement", long_date(statement.stated_on)),
        ("Confidence", _label(assertions.CONFIDENCE_LABELS, statement.confidence)),
        ("Status", _label(assertions.STATUS_LABELS, statement.status)),
        ("Special-category data", _yes(statement.special_category)),
        ("Criminal-offence data", _yes(statement.criminal_offence)),
        ("Review by", long_date(statement.review_by)),
        ("Sharing", _label(speakers.DISTRIBUTION_LABELS, statement.distribution)),
    ]
    for r in statement.revisions:
        rows.append(
            (
                f"Version {r.version}",
                f"{_label(assertions.STATUS_LABELS, r.status)}, {long_date(r.changed_at)}: "
                f"{r.text}" + (f" (reason: {r.reason})" if r.reason else ""),
            )
        )
    return PackItem(f"statement-{statement.id}", "statements", f"Statement {number}", rows, data)


def _rating_item(rating: ratings.RatingView, number: int) -> PackItem:
    """An advisory rating on the speaker, with its issuer: the organisation's own in full, a
    police answer as the organisation received it (the rating, never the police's rationale,
    which the police hold and answer for as their own record)."""
    data = {
        "id": str(rating.id),
        "issued_by": rating.issuer_name,
        "rating": rating.rating.value,
        "issued_on": iso(rating.issued_on),
        "expires_on": iso(rating.expires_on),
    }
    rows = [
        ("Issued by", rating.issuer_name),
        ("Rating", _label(ratings.RATING_LABELS, rating.rating)),
    ]
    if rating.rationale is not None:
        data["rationale"] = rating.rationale
        rows.append(("Rationale", rating.rationale))
    else:
        rows.append(("Rationale", f"Held by {rating.issuer_name}; ask them for it."))
    rows += [
        ("Issued on", long_date(rating.issued_on)),
        ("Expires on", long_date(rating.expires_on)),
    ]
    return PackItem(f"rating-{rating.id}", "ratings", f"Advisory rating {number}", rows, data)


def _appearance_item(event: Event, link: EventSpeaker) -> PackItem:
    """An appearance at one of the organisation's events, with its outcome."""
    standing = [
        {
            "outcome": d.outcome.value,
            "decided_on": iso(d.decided_on),
            "rationale": d.rationale,
            "conditions": d.conditions,
            "reason_category": d.reason_category.value if d.reason_category else None,
            "lawful_speech_finding": d.lawful_speech_finding,
            "superseded_by_appeal": d.superseded_by_appeal,
        }
        for d in event.decisions
    ]
    report = event.report
    data = {
        "event_id": str(event.id),
        "title": event.title,
        "starts_at": iso(event.starts_at),
        "ends_at": iso(event.ends_at),
        "venue_kind": event.venue_kind.value,
        "venue_place": event.venue_place,
        "role": link.role.value,
        "status": event.status.value,
        "outcome": event.outcome.value if event.outcome else None,
        "decisions": standing,
        "report": (
            {"conditions_held": report.conditions_held.value, "incidents": report.incidents}
            if report
            else None
        ),
    }
    rows = [
        ("Event", event.title),
        ("Starts", long_date(event.starts_at)),
        (
            "Venue",
            _label(events.VENUE_KIND_LABELS, event.venue_kind)
            + (f", {event.venue_place}" if event.venue_place else ""),
        ),
        ("Part", _label(speakers.ROLE_LABELS, link.role)),
        ("Status", _label(EVENT_STATUS_LABELS, event.status)),
        ("Outcome", _label(OUTCOME_LABELS, event.outcome) or "Not decided"),
    ]
    for d in event.decisions:
        outcome = _label(OUTCOME_LABELS, d.outcome)
        text = f"{outcome} on {long_date(d.decided_on)}: {d.rationale}"
        if d.conditions:
            text += f" Conditions: {d.conditions}"
        if d.reason_category:
            text += f" Reason: {_label(decisions.REASON_CATEGORY_LABELS, d.reason_category)}."
        if d.lawful_speech_finding:
            text += f" Finding on lawful speech: {d.lawful_speech_finding}"
        if d.superseded_by_appeal:
            text += " (replaced on appeal)"
        rows.append(("Decision", text))
    if report:
        rows.append(
            (
                "After the event",
                _label(events.CONDITIONS_HELD_LABELS, report.conditions_held)
                + (f". {report.incidents}" if report.incidents else ""),
            )
        )
    return PackItem(
        f"appearance-{event.id}", "appearances", f"Appearance: {event.title}", rows, data
    )


def _advisory_item(request: AdvisoryRequest, names: Mapping[str, str], number: int) -> PackItem:
    """An advisory request the organisation made about the speaker."""
    # The routing note is written between the coordinator and police: not this controller's.
    data = {
        "id": str(request.id),
        "question": request.question,
        "status": request.status.value,
        "submitted_at": iso(request.submitted_at),
        "due_on": iso(request.due_on),
        "coordinator": names.get(str(request.coordinator_org_id), ""),
        "police": names.get(str(request.police_org_id), "") if request.police_org_id else None,
        "routed_at": iso(request.routed_at),
        "answered_at": iso(request.answered_at),
        "decline_reason": request.decline_reason or None,
        "rating_id": str(request.rating_id) if request.rating_id else None,
    }
    rows = [
        ("Question", request.question),
        ("Status", str(request.status.value).replace("_", " ").capitalize()),
        ("Sent", long_date(request.submitted_at)),
        ("Sent to", names.get(str(request.coordinator_org_id), "")),
    ]
    if request.police_org_id:
        rows.append(("Routed to", names.get(str(request.police_org_id), "")))
    if request.answered_at:
        rows.append(("Answered", long_date(request.answered_at)))
    if request.decline_reason:
        rows.append(("Declined because", request.decline_reason))
    return PackItem(f"advisory-{request.id}", "advisory", f"Advisory request {number}", rows, data)


def _moment(time_ms: int) -> datetime:
    """An audit entry's time as a UTC moment."""
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC)


def _json_list(text: str | None) -> list[str]:
    """A JSON array column as a list."""
    return list(json.loads(text)) if text else []


def _disclosure_item(
    entry: AuditEntry, names: Mapping[str, str], agreements: Mapping[str, Agreement]
) -> PackItem:
    """One disclosure to another organisation, from its audit entry."""
    recipient = names.get(entry.actor_org or "", "An organisation no longer in the hub")
    agreement = agreements.get(entry.agreement_id or "")
    under = (
        {
            "agreement_id": entry.agreement_id,
            "reference": agreement.reference if agreement else None,
            "version": entry.agreement_version,
        }
        if entry.agreement_id
        else None
    )
    fields = _json_list(entry.fields)
    details = json.loads(entry.details) if entry.details else {}
    when = _moment(entry.time_ms)
    data = {
        "audit_entry": entry.uuid,
        "when": iso(when),
        "to": recipient,
        "to_organisation_id": entry.actor_org,
        "how": entry.action,
        "record_type": entry.resource_type,
        "record_ids": _json_list(entry.resource_ids),
        "agreement": under,
        "purpose": entry.purpose,
        "fields": fields,
        "existence_only": details.get("level") == "existence_only",
    }
    if under:
        agreement_text = f"{under['reference'] or entry.agreement_id} version {under['version']}"
    else:
        agreement_text = "None (the advisory request route)"
    rows = [
        ("When", long_date(when)),
        ("To", recipient),
        ("How", ACTION_LABELS.get(entry.action, entry.action)),
        ("Record", str(entry.resource_type or "").replace("_", " ")),
        ("Agreement", agreement_text),
        ("Purpose", entry.purpose or ""),
        (
            "Fields",
            "Only that the record exists, and whom to contact"
            if data["existence_only"]
            else ", ".join(fields) or "None",
        ),
    ]
    title = f"Disclosure to {recipient}, {long_date(when)}"
    return PackItem(f"disclosure-{entry.seq}", "disclosures", title, rows, data)


def _refusal_item(entry: AuditEntry, names: Mapping[str, str]) -> PackItem:
    """One refused attempt to see the record, from its audit entry."""
    who = names.get(entry.actor_org or "", "Someone not signed in")
    when = _moment(entry.time_ms)
    data = {
        "audit_entry": entry.uuid,
        "when": iso(when),
        "by_organisation": who,
        "action": entry.action,
        "reason": entry.reason,
        "record_type": entry.resource_type,
        "purpose": entry.purpose,
    }
    rows = [
        ("When", long_date(when)),
        ("By", who),
        ("What was tried", entry.action),
        ("Why it was refused", str(entry.reason or "").replace("_", " ")),
    ]
    if entry.purpose:
        rows.append(("Purpose stated", entry.purpose))
    title = f"Refused: {entry.action} by {who}, {long_date(when)}"
    return PackItem(f"refusal-{entry.seq}", "refusals", title, rows, data)


def build_pack(actor: Actor, speaker_id: str, *, action: str = SUBJECT_ACCESS_PREPARE) -> Pack:
    """Everything held about a speaker record the DPO's organisation owns, its disclosures to
    other organisations and the refusals about it. Another organisation's record is not found
    (each controller answers its own requests)."""
    require_dpo(actor, action)
    speaker = speakers.get_speaker(actor, speaker_id, action=action)
    own = str(speaker.owner_org_id)
    merged = _merged_ids(speaker)
    record_ids = [str(speaker.id), *merged]
    record_keys = [uuid.UUID(i) for i in record_ids]
    pseudonyms = [audit.subject_pseudonym("speaker", i) for i in record_ids]

    items = [_speaker_item(speaker, merged)]
    statements = db.session.scalars(
        sa.select(Assertion)
        .where(
            Assertion.speaker_id.in_(record_keys), Assertion.owner_org_id == speaker.owner_org_id
        )
        .order_by(Assertion.created_at, Assertion.id)
    )
    items += [_statement_item(s, n) for n, s in enumerate(statements, 1)]

    rating_views = list(reversed(ratings.ratings_on(actor, record_keys)))
    items += [_rating_item(r, n) for n, r in enumerate(rating_views, 1)]

    appearances = db.session.execute(
        sa.select(Event, EventSpeaker)
        .join(EventSpeaker, EventSpeaker.event_id == Event.id)
        .where(
            EventSpeaker.speaker_id.in_(record_keys),
            Event.owner_org_id == speaker.owner_org_id,
            Event.erased_at.is_(None),
        )
        .order_by(Event.starts_at, Event.id)
    )
    items += [_appearance_item(event, link) for event, link in appearances]

    requests = list(
        db.session.scalars(
            sa.select(AdvisoryRequest)
            .where(
                AdvisoryRequest.speaker_id.in_(record_keys),
                AdvisoryRequest.requesting_org_id == speaker.owner_org_id,
            )
            .order_by(AdvisoryRequest.submitted_at)
        )
    )
    disclosed = audit_queries.entries_about(pseudonyms, own, refusals=False)
    refused = {e.seq: e for e in audit_queries.entries_about(pseudonyms, own, refusals=True)}
    # Reads of another organisation's record carry its id, not a subject.
    refused.update({e.seq: e for e in audit_queries.refusals_naming("speaker", record_ids, own)})
    refusals = [refused[seq] for seq in sorted(refused)]
    names = organisation_names(
        [own]
        + [r.coordinator_org_id for r in requests]
        + [r.police_org_id for r in requests if r.police_org_id]
        + [e.actor_org for e in disclosed + refusals if e.actor_org]
    )
    items += [_advisory_item(r, names, n) for n, r in enumerate(requests, 1)]
    agreement_ids = set()
    for e in disclosed:
        try:
            agreement_ids.add(uuid.UUID(e.agreement_id or ""))
        except ValueError:
            continue
    agreements = {
        str(a.id): a
        for a in (
            db.session.scalars(sa.select(Agreement).where(Agreement.id.in_(agreement_ids)))
            if agreement_ids
            else []
        )
    }
    items += [_disclosure_item(e, names, agreements) for e in disclosed]
    items += [_refusal_item(e, names) for e in refusals]

    owner = db.session.get(Organisation, speaker.owner_org_id)
    contacts = _contacts({e.actor_org for e in disclosed if e.actor_org})
    issuers = _contacts({str(r.issuer_org_id) for r in rating_views} - {own})
    return Pack(
        speaker_id=str(speaker.id),
        controller=owner.name if owner else "",
        controller_contact=owner.dp_contact_email if owner else "",
        items=items,
        recipients=contacts,
        other_controllers=issuers,
        merged_ids=merged,
    )


def _contacts(ids: set[str]) -> list[tuple[str, str]]:
    """(name, data-protection contact) of organisations, by name."""
    keys = [uuid.UUID(i) for i in ids]
    if not keys:
        return []
    return sorted(
        (o.name, o.dp_contact_email)
        for o in db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(keys)))
    )


# --- exemption notes -----------------------------------------------------


def note_field(item: PackItem) -> str:
    """The form field holding an item's exemption note."""
    return f"note-{item.key}"


def read_notes(pack: Pack, data: Mapping[str, Any]) -> dict[str, str]:
    """One exemption note per item (or ValidationFailed naming every item without one)."""
    check = Checker(data)
    notes = {
        item.key: check.text(
            note_field(item),
            f"the exemption note for {item.title[:1].lower()}{item.title[1:]} "
            f"(or '{DEFAULT_NOTE}')",
            max_length=MAX_NOTE,
        )
        for item in pack.items
    }
    check.raise_if_any()
    return notes
