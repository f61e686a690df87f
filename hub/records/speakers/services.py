"""Speakers with provenance: names and aliases, affiliations, public sources, topics; their
past appearances; and merging two records of the same person with the history kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from agreements import received
from audit import services as audit
from audit.actions import SPEAKER_CREATE, SPEAKER_READ, SPEAKER_UPDATE
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.security import Actor
from core.validation import TRUE_WORDS, Checker
from hub.records import corrections, permissions, shareable
from hub.records.models import (
    DEFAULT_DISTRIBUTION,
    AdvisoryRating,
    AdvisoryRequest,
    AliasKind,
    Assertion,
    Distribution,
    Event,
    EventSpeaker,
    EventStatus,
    Outcome,
    RecordStatus,
    Speaker,
    SpeakerAffiliation,
    SpeakerAlias,
    SpeakerMerge,
    SpeakerRole,
    SpeakerSource,
    SpeakerTopic,
)
from hub.records.speakers import search
from hub.records.speakers.names import identity

#: How long a speaker record is kept unless the institution sets another date.
DEFAULT_RETENTION = timedelta(days=6 * 365)
#: The furthest ahead a keep-until date may be set (a record is reviewed at least this often).
MAX_RETENTION = timedelta(days=10 * 366)
MAX_ALIASES = 30
MAX_AFFILIATIONS = 30
MAX_SOURCES = 50
MAX_TOPICS = 30
#: A merged record points at the one it was merged into; chains are followed this far.
MAX_MERGE_HOPS = 10

#: Fields a speaker form or API call may set, in the order they are audited.
SPEAKER_FIELDS = (
    "display_name",
    "aliases",
    "affiliations",
    "sources",
    "topics",
    "distribution",
    "retention_until",
)

ALIAS_KIND_LABELS = {
    AliasKind.ALIAS: "Also known as",
    AliasKind.TRANSLITERATION: "Transliteration",
    AliasKind.FORMER_NAME: "Former name",
}
DISTRIBUTION_LABELS = {
    Distribution.INTERNAL: "Internal: kept inside this organisation",
    Distribution.SHAREABLE: "Shareable with partners under a data-sharing agreement",
}
ROLE_LABELS = {
    SpeakerRole.SPEAKER: "Speaker",
    SpeakerRole.PANELLIST: "Panellist",
    SpeakerRole.CHAIR: "Chair",
}


# --- reading ----------------------------------------------------------------------------


def _refs(speaker: Speaker | None = None, *others: Speaker) -> dict[str, Any]:
    records = [s for s in (speaker, *others) if s is not None]
    return {
        "resource_type": "speaker",
        "resource_ids": [str(s.id) for s in records],
        "resource_org": str(records[0].owner_org_id) if records else None,
    }


def _deny(action: str, detail: str, *speakers: Speaker) -> PermissionDenied:
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={"action": action, **_refs(*speakers)} if speakers else {"action": action},
    )


def _not_found(action: str, speaker: Speaker) -> NotFound:
    # Another organisation's record: refused, audited, and indistinguishable from absent.
    return NotFound(
        "There is no such speaker.", reason="not_owner", audit={"action": action, **_refs(speaker)}
    )


def require_reader(actor: Actor, action: str = SPEAKER_READ) -> None:
    """Refuse (403, audited) anyone whose roles do not let them read speaker records at all."""
    if not permissions.is_reader(actor):
        raise _deny(action, "Your roles do not let you see speaker records.")


def require_writer(actor: Actor, action: str = SPEAKER_CREATE) -> None:
    """Refuse (403, audited) anyone who may not record or change speakers."""
    if not permissions.can_create_records(actor):
        raise _deny(action, "Only events officers and Prevent leads record and change speakers.")


def get_speaker(
    actor: Actor,
    speaker_id: uuid.UUID | str,
    *,
    follow_merged: bool = True,
    action: str = SPEAKER_READ,
) -> Speaker:
    """A speaker record the actor's organisation owns (others' are not found).

    A record merged into another answers with the record it now lives in (callers compare
    ids to redirect), unless `follow_merged` is False.
    """
    require_reader(actor, action)
    try:
        key = speaker_id if isinstance(speaker_id, uuid.UUID) else uuid.UUID(str(speaker_id))
    except ValueError as exc:
        raise NotFound("There is no such speaker.") from exc
    speaker = db.session.get(Speaker, key)
    if speaker is None or speaker.status == RecordStatus.ERASED:
        raise NotFound("There is no such speaker.")
    if not permissions.can_read(actor, speaker.owner_org_id):
        raise _not_found(action, speaker)
    hops = 0
    while follow_merged and speaker.status == RecordStatus.MERGED and speaker.merged_into_id:
        hops += 1
        kept = db.session.get(Speaker, speaker.merged_into_id)
        if kept is None or hops > MAX_MERGE_HOPS or kept.status == RecordStatus.ERASED:
            raise NotFound("There is no such speaker.")
        speaker = kept
    return speaker


def retention_default() -> date:
    """The default keep-until date for a new speaker record."""
    return utcnow().date() + DEFAULT_RETENTION


def list_speakers(actor: Actor, limit: int = 50, offset: int = 0) -> list[Speaker]:
    """The actor's organisation's speakers, by name."""
    require_reader(actor, "speaker.list")
    if not permissions.can_read(actor, actor.org_id):
        raise _deny("speaker.list", "You cannot see speaker records.")
    return list(
        db.session.scalars(
            sa.select(Speaker)
            .where(
                Speaker.owner_org_id == uuid.UUID(actor.org_id),
                Speaker.status == RecordStatus.ACTIVE,
            )
            .options(selectinload(Speaker.aliases))
            .order_by(Speaker.display_name, Speaker.id)
            .limit(max(1, min(int(limit), 200)))
            .offset(max(0, int(offset)))
        )
    )


def count_speakers(actor: Actor) -> int:
    """How many active speaker records the actor's organisation holds."""
    require_reader(actor, "speaker.list")
    if actor.org_id is None:
        return 0
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Speaker)
        .where(
            Speaker.owner_org_id == uuid.UUID(actor.org_id),
            Speaker.status == RecordStatus.ACTIVE,
        )
    )


@dataclass(frozen=True)
class Appearance:
    """One past (or planned) appearance of a speaker at one of the owner's events."""

    event_id: uuid.UUID
    title: str
    starts_at: datetime
    role: SpeakerRole
    status: EventStatus
    outcome: Outcome | None


def appearances(speaker: Speaker) -> list[Appearance]:
    """The speaker's appearances at events of the same organisation, latest first, with the
    events' status and outcome (read-only: events are changed on their own pages)."""
    rows = db.session.execute(
        sa.select(
            Event.id, Event.title, Event.starts_at, EventSpeaker.role, Event.status, Event.outcome
        )
        .join(EventSpeaker, EventSpeaker.event_id == Event.id)
        .where(
            EventSpeaker.speaker_id == speaker.id,
            Event.owner_org_id == speaker.owner_org_id,
            Event.erased_at.is_(None),
        )
        .order_by(Event.starts_at.desc())
    )
    return [Appearance(*row) for row in rows]


def merges_into(speaker: Speaker) -> list[SpeakerMerge]:
    """The records merged into this one, oldest first (the history of the record)."""
    return list(
        db.session.scalars(
            sa.select(SpeakerMerge)
            .where(SpeakerMerge.kept_id == speaker.id)
            .order_by(SpeakerMerge.merged_at)
        )
    )


def merged_record_names(merges: Iterable[SpeakerMerge]) -> dict[str, str]:
    """The display names the merged records had (they are kept, marked merged)."""
    ids = [m.merged_id for m in merges]
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Speaker.id, Speaker.display_name).where(Speaker.id.in_(ids))
    )
    return {str(key): name for key, name in rows}


# --- validation -------------------------------------------------------------------------


def _items(check: Checker, key: str, label: str, maximum: int) -> list[Any]:
    value = check.data.get(key)
    if value is None or value == "":
        return []
    if not isinstance(value, list | tuple):
        check.add(key, f"Give the {label} as a list.")
        return []
    if len(value) > maximum:
        check.add(key, f"Give at most {maximum} {label}.")
        return list(value[:maximum])
    return list(value)


def _adopt(check: Checker, inner: Checker, prefix: str) -> None:
    """Copy an item's errors into the form's, keyed like the form's fields (`aliases-0-name`)."""
    for key, messages in inner.errors.items():
        for message in messages:
            check.add(f"{prefix}-{key}", message)


def _read_aliases(check: Checker) -> list[tuple[str, AliasKind]]:
    aliases: list[tuple[str, AliasKind]] = []
    seen: set[tuple[str, str | None]] = set()
    for number, item in enumerate(_items(check, "aliases", "other names", MAX_ALIASES)):
        entry = {"name": item} if isinstance(item, str) else item
        if not isinstance(entry, Mapping):
            check.add(f"aliases-{number}-name", "Give each other name as text.")
            continue
        inner = Checker(entry)
        name = inner.text("name", f"other name {number + 1}")
        kind = inner.choice("kind", AliasKind, "what kind of name it is", required=False)
        _adopt(check, inner, f"aliases-{number}")
        key = identity(name)
        if name and not key[0]:
            check.add(f"aliases-{number}-name", f"Other name {number + 1} must contain letters.")
        if name and key[0] and key not in seen:
            seen.add(key)
            aliases.append((name, kind or AliasKind.ALIAS))
    return aliases


def _read_affiliations(check: Checker) -> list[tuple[str, str]]:
    affiliations: list[tuple[str, str]] = []
    for number, item in enumerate(_items(check, "affiliations", "affiliations", MAX_AFFILIATIONS)):
        if not isinstance(item, Mapping):
            check.add(f"affiliations-{number}-organisation_name", "Give each affiliation.")
            continue
        inner = Checker(item)
        name = inner.text("organisation_name", f"the organisation of affiliation {number + 1}")
        role = inner.text("role", f"the role in affiliation {number + 1}", required=False)
        _adopt(check, inner, f"affiliations-{number}")
        if name and (name.casefold(), role.casefold()) not in {
            (a.casefold(), r.casefold()) for a, r in affiliations
        }:
            affiliations.append((name, role))
    return affiliations


def _read_sources(check: Checker, today: date) -> list[tuple[str, str, date]]:
    sources: list[tuple[str, str, date]] = []
    for number, item in enumerate(_items(check, "sources", "sources", MAX_SOURCES)):
        if not isinstance(item, Mapping):
            check.add(f"sources-{number}-url", "Give each source with its web address.")
            continue
        inner = Checker(item)
        url = inner.url("url", f"the web address of source {number + 1}")
        title = inner.text(
            "title", f"the title of source {number + 1}", required=False, max_length=300
        )
        retrieved = inner.date("retrieved_on", f"the date source {number + 1} was read")
        if retrieved is not None and retrieved > today:
            inner.add(
                "retrieved_on",
                f"The date source {number + 1} was read must be today or in the past.",
            )
        _adopt(check, inner, f"sources-{number}")
        known = {(u, d) for u, _, d in sources}
        if url and retrieved is not None and retrieved <= today and (url, retrieved) not in known:
            sources.append((url, title, retrieved))
    return sources


def _read_topics(check: Checker) -> list[str]:
    topics: list[str] = []
    for topic in check.strings("topics", "topics", max_items=MAX_TOPICS, max_length=100):
        if topic.casefold() not in {t.casefold() for t in topics}:
            topics.append(topic)
    return topics


def _validate(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Read the fields present in `data` (all of them when creating) into clean values."""
    check = Checker(data)
    today = utcnow().date()
    wanted = set(SPEAKER_FIELDS) if creating else {k for k in SPEAKER_FIELDS if k in data}
    clean: dict[str, Any] = {}
    if "display_name" in wanted:
        clean["display_name"] = check.text("display_name", "the speaker's name")
        if clean["display_name"] and not search.normalise(clean["display_name"]):
            check.add("display_name", "The speaker's name must contain letters.")
    if "aliases" in wanted:
        clean["aliases"] = _read_aliases(check)
    if "affiliations" in wanted:
        clean["affiliations"] = _read_affiliations(check)
    if "sources" in wanted:
        clean["sources"] = _read_sources(check, today)
    if "topics" in wanted:
        clean["topics"] = _read_topics(check)
    if "distribution" in wanted:
        clean["distribution"] = check.choice(
            "distribution", Distribution, "how far this record may be shared", required=False
        ) or (DEFAULT_DISTRIBUTION if creating else None)
        if clean["distribution"] is None:
            del clean["distribution"]
    if "retention_until" in wanted:
        retention = check.date(
            "retention_until", "the date to keep this record until", required=not creating
        ) or (today + DEFAULT_RETENTION if creating else None)
        if retention is not None and retention <= today:
            check.add(
                "retention_until", "The date to keep this record until must be in the future."
            )
        elif retention is not None and retention > today + MAX_RETENTION:
            check.add(
                "retention_until",
                "The date to keep this record until must be within 10 years from today.",
            )
        clean["retention_until"] = retention
    check.raise_if_any()
    return clean


def check_speaker(data: Mapping[str, Any]) -> None:
    """Validate a new speaker's fields without saving (the form checks them before it looks
    for likely duplicates)."""
    _validate(data, creating=True)


# --- the duplicate check ----------------------------------------------------------------


class LikelyDuplicates(Conflict):
    """A new speaker is probably someone the organisation already holds: nothing was created.

    `found` maps each new name asked about to the existing records it is like, best first.
    The problem document lists them all under `duplicates`, each with the name it resembles
    (`for_name`); the caller chooses an existing record, or confirms the person is new
    (`confirm_new`).
    """

    def __init__(self, found: Mapping[str, list[search.SpeakerMatch]]) -> None:
        self.found = dict(found)
        count = sum(len(matches) for matches in self.found.values())
        names = ", ".join(f"'{name}'" for name in self.found)
        super().__init__(
            f"There may already be a record of {names}: {count} likely "
            f"match{'es' if count != 1 else ''}. Choose an existing record, or confirm that "
            "this is a new person (confirm_new) to create one anyway.",
            reason="likely_duplicate",
            duplicates=[
                {**match.as_duplicate(), "for_name": name}
                for name, matches in self.found.items()
                for match in matches
            ],
        )


def likely_duplicates(
    actor: Actor, display_name: str, aliases: Iterable[str] = (), limit: int = 5
) -> list[search.SpeakerMatch]:
    """The one duplicate check: existing speakers of the actor's organisation that a new record
    of this person (by their name or any alias) would probably repeat, best first.

    It asks the one finder (`search.search_speakers`, as `/speakers/?q=` does) for each name,
    with the higher bar `search.DUPLICATE_SCORE`, over the organisation's own records only
    (a partner's record is not a duplicate of ours)."""
    best: dict[uuid.UUID, search.SpeakerMatch] = {}
    for name in [display_name, *aliases]:
        if not search.normalise(name or ""):
            continue
        for match in search.search_speakers(
            actor,
            name,
            limit=limit,
            min_score=search.DUPLICATE_SCORE,
            sources=[search.own_candidates],
        ):
            if match.speaker_id not in best or match.score > best[match.speaker_id].score:
                best[match.speaker_id] = match
    ordered = sorted(best.values(), key=lambda m: (-m.score, m.display_name, str(m.speaker_id)))
    return ordered[:limit]


def confirmed(value: Any) -> bool:
    """Whether a `confirm_new` value (a JSON boolean, a form's "yes", a CSV cell) confirms."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in TRUE_WORDS


def require_new_people(
    actor: Actor, people: Mapping[str, Iterable[str]], confirmed_names: Any = ()
) -> None:
    """Refuse (LikelyDuplicates, 409) if any of the new people (display name -> other names)
    is likely someone already recorded, unless the caller confirmed that name as new.

    Every way a speaker is named and created asks this: the speaker form and API
    (`add_speaker`), the event form and API for speakers typed by name, and the CSV import."""
    given = confirmed_names if isinstance(confirmed_names, list | tuple | set) else ()
    sure = {search.normalise(name) for name in given if isinstance(name, str)}
    found: dict[str, list[search.SpeakerMatch]] = {}
    for name, aliases in people.items():
        if search.normalise(name) in sure:
            continue
        matches = likely_duplicates(actor, name, aliases)
        if matches:
            found[name] = matches
    if found:
        raise LikelyDuplicates(found)


# --- creating and changing --------------------------------------------------------------


def _apply(speaker: Speaker, clean: Mapping[str, Any]) -> list[str]:
    """Set the clean values on the record; returns the names of the fields that changed."""
    changed: list[str] = []
    for key in ("display_name", "distribution", "retention_until"):
        if key in clean and getattr(speaker, key) != clean[key]:
            setattr(speaker, key, clean[key])
            changed.append(key)
    if "aliases" in clean:
        current = [(a.name, a.kind) for a in speaker.aliases]
        if sorted(current) != sorted(clean["aliases"]):
            speaker.aliases = [SpeakerAlias(name=n, kind=k) for n, k in clean["aliases"]]
            changed.append("aliases")
    if "affiliations" in clean:
        current_affiliations = [(a.organisation_name, a.role) for a in speaker.affiliations]
        if sorted(current_affiliations) != sorted(clean["affiliations"]):
            speaker.affiliations = [
                SpeakerAffiliation(organisation_name=n, role=r) for n, r in clean["affiliations"]
            ]
            changed.append("affiliations")
    if "sources" in clean:
        current_sources = [(s.url, s.title, s.retrieved_on) for s in speaker.sources]
        if sorted(current_sources) != sorted(clean["sources"]):
            speaker.sources = [
                SpeakerSource(url=u, title=t, retrieved_on=d) for u, t, d in clean["sources"]
            ]
            changed.append("sources")
    if "topics" in clean:
        current_topics = sorted(t.topic for t in speaker.topics)
        if current_topics != sorted(clean["topics"]):
            kept = {t.topic: t for t in speaker.topics}
            speaker.topics = [kept.get(t) or SpeakerTopic(topic=t) for t in clean["topics"]]
            changed.append("topics")
    return changed


def create_speaker(actor: Actor, data: Mapping[str, Any]) -> Speaker:
    """Record a new speaker in the actor's organisation: name, other names (with their kind),
    affiliations, public sources with the date each was read, topics, distribution and the
    date to keep the record until.

    `aliases` may be plain strings or `{"name", "kind"}` items. This makes the record without
    asking about duplicates (seeding, and callers that have already asked
    `require_new_people`); a person's request goes through `add_speaker`.
    """
    require_writer(actor, "speaker.create")
    clean = _validate(data, creating=True)
    speaker = Speaker(
        owner_org_id=uuid.UUID(actor.org_id),
        distribution=clean["distribution"],
        display_name=clean["display_name"],
        retention_until=clean["retention_until"],
        status=RecordStatus.ACTIVE,
        created_by_id=actor.person_id,
    )
    changed = _apply(speaker, clean)
    db.session.add(speaker)
    db.session.flush()
    search.index_speaker(speaker)
    audit.record(
        actor,
        SPEAKER_CREATE,
        "granted",
        fields=["display_name", "retention_until", *changed],
        subjects=[("speaker", str(speaker.id))],
        **_refs(speaker),
    )
    return speaker


def other_names(data: Mapping[str, Any]) -> list[str]:
    """The aliases given in a speaker's input, as names (`aliases` holds strings or
    `{"name", "kind"}` items)."""
    aliases = data.get("aliases")
    if not isinstance(aliases, list | tuple):
        return []
    names = [item if isinstance(item, str) else item.get("name") for item in aliases
             if isinstance(item, dict | str)]  # fmt: skip
    return [name for name in names if isinstance(name, str) and name.strip()]


def add_speaker(actor: Actor, data: Mapping[str, Any]) -> Speaker:
    """Record a new speaker unless they are likely someone already recorded (the one rule:
    `require_new_people`): then LikelyDuplicates (409) lists the existing records, and nothing
    is created unless `data["confirm_new"]` confirms this is a new person. The fields are
    checked first, so a form shows its own errors before asking about duplicates."""
    require_writer(actor, "speaker.create")
    _validate(data, creating=True)
    if not confirmed(data.get("confirm_new")):
        require_new_people(actor, {str(data.get("display_name", "")): other_names(data)})
    return create_speaker(actor, data)


def _guard_change(actor: Actor, speaker: Speaker, action: str) -> None:
    require_reader(actor, action)
    if not permissions.can_read(actor, speaker.owner_org_id):
        raise _not_found(action, speaker)
    if not permissions.can_write(actor, speaker.owner_org_id):
        raise _deny(
            action, "Only events officers and Prevent leads change speaker records.", speaker
        )
    if speaker.status != RecordStatus.ACTIVE:
        raise Conflict(
            "This record was merged into another and can no longer be changed.",
            reason="not_active",
            audit={"action": action, **_refs(speaker)},
        )


@dataclass(frozen=True)
class Changed:
    """What an update changed: the fields' names, in the order they are audited, and `told`,
    how many organisations that had received any of them were told of the correction. False
    when nothing changed."""

    fields: tuple[str, ...] = ()
    told: int = 0

    def __bool__(self) -> bool:
        return bool(self.fields)


def update_speaker(actor: Actor, speaker: Speaker, data: Mapping[str, Any]) -> Changed:
    """Change the fields present in `data`; returns the names of those that changed (audited
    by name only) and how many organisations were told. Names and aliases are re-indexed for
    search. Every organisation that received a changed field is told which fields changed
    (`hub.records.corrections`)."""
    _guard_change(actor, speaker, "speaker.update")
    clean = _validate(data, creating=False)
    # What partners hold of the record is read before it changes, and only if any holds some.
    held = received.copies(shareable.speaker_header(speaker))
    before = shareable.speaker(speaker) if held else None
    changed = _apply(speaker, clean)
    if not changed:
        return Changed()
    speaker.updated_at = utcnow()
    db.session.flush()
    if {"display_name", "aliases"} & set(changed):
        search.index_speaker(speaker)
    audit.record(
        actor,
        SPEAKER_UPDATE,
        "granted",
        fields=changed,
        subjects=[("speaker", str(speaker.id))],
        **_refs(speaker),
    )
    told = 0
    if before is not None:
        after = shareable.speaker(speaker)
        told = corrections.tell_corrected(actor, before, after, changed, held=held)
    return Changed(tuple(changed), told)


def editable_values(speaker: Speaker) -> dict[str, Any]:
    """The record's current values in the shape `update_speaker` reads (for forms)."""
    return {
        "display_name": speaker.display_name,
        "aliases": [{"name": a.name, "kind": a.kind.value} for a in speaker.aliases],
        "affiliations": [
            {"organisation_name": a.organisation_name, "role": a.role} for a in speaker.affiliations
        ],
        "sources": [
            {"url": s.url, "title": s.title, "retrieved_on": s.retrieved_on.isoformat()}
            for s in speaker.sources
        ],
        "topics": [t.topic for t in speaker.topics],
        "distribution": speaker.distribution.value,
        "retention_until": speaker.retention_until.isoformat(),
    }


# --- merging ----------------------------------------------------------------------------


@dataclass
class MergeSummary:
    """What a merge moved, and what it combined because the kept record already had it."""

    merge: SpeakerMerge
    moved: dict[str, int] = field(default_factory=dict)
    combined: dict[str, int] = field(default_factory=dict)


def _bump(counts: dict[str, int], key: str, by: int = 1) -> None:
    if by:
        counts[key] = counts.get(key, 0) + by


def merge_speakers(actor: Actor, keep: Speaker, merge: Speaker, reason: str) -> MergeSummary:
    """Merge `merge` into `keep` (two records of the same person in one organisation).

    Everything moves to the kept record: the merged record's name becomes an alias, and its
    aliases, affiliations, sources, topics, assertions (with their revisions), advisory
    ratings and requests, and event appearances follow. Where the kept record already holds
    the same thing (an identical alias, an appearance at the same event) the two are
    combined, and counted. The merged record stays, marked merged and pointing at the kept
    one; a `SpeakerMerge` row and the audit log keep the history. The kept record takes the
    more restrictive distribution and the later keep-until date, so that nothing becomes
    shareable or is erased earlier because of the merge.
    """
    action = "speaker.merge"
    require_reader(actor, action)
    for record in (keep, merge):
        if not permissions.can_read(actor, record.owner_org_id):
            raise _not_found(action, record)
    if not permissions.can_write(actor, keep.owner_org_id):
        raise _deny(action, "Only events officers and Prevent leads merge speaker records.", keep)
    check = Checker({"reason": reason})
    text = check.text("reason", "why these are the same person", max_length=2000)
    if keep.id == merge.id:
        check.add("merge_id", "Choose a different record: a record cannot be merged into itself.")
    check.raise_if_any()
    for record in (keep, merge):
        if record.status != RecordStatus.ACTIVE:
            raise Conflict(
                f"{record.display_name} has already been merged into another record.",
                reason="not_active",
                audit={"action": action, **_refs(keep, merge)},
            )

    summary = MergeSummary(
        SpeakerMerge(kept_id=keep.id, merged_id=merge.id, merged_by_id=actor.person_id, reason=text)
    )
    _merge_names(keep, merge, summary)
    _merge_details(keep, merge, summary)
    db.session.flush()
    _merge_links(keep, merge, summary)

    if merge.distribution == Distribution.INTERNAL:
        keep.distribution = Distribution.INTERNAL
    keep.retention_until = max(keep.retention_until, merge.retention_until)
    keep.updated_at = utcnow()
    merge.status = RecordStatus.MERGED
    merge.merged_into_id = keep.id
    merge.updated_at = utcnow()
    db.session.add(summary.merge)
    db.session.flush()
    search.index_speaker(keep)
    search.unindex_speaker(merge)
    audit.record(
        actor,
        action,
        "granted",
        fields=sorted(summary.moved),
        subjects=[("speaker", str(keep.id)), ("speaker", str(merge.id))],
        kept_id=str(keep.id),
        merged_id=str(merge.id),
        moved=[f"{k}:{v}" for k, v in sorted(summary.moved.items())],
        combined=[f"{k}:{v}" for k, v in sorted(summary.combined.items())],
        **_refs(keep, merge),
    )
    return summary


def _merge_names(keep: Speaker, merge: Speaker, summary: MergeSummary) -> None:
    known = {identity(keep.display_name)} | {identity(a.name) for a in keep.aliases}
    incoming = [(merge.display_name, AliasKind.ALIAS)] + [(a.name, a.kind) for a in merge.aliases]
    for name, kind in incoming:
        key = identity(name)
        if key in known:
            _bump(summary.combined, "aliases")
            continue
        known.add(key)
        keep.aliases.append(SpeakerAlias(name=name, kind=kind))
        _bump(summary.moved, "aliases")
    # The merged record keeps its own name; its alias rows now live on the kept record.
    merge.aliases = []


def _merge_details(keep: Speaker, merge: Speaker, summary: MergeSummary) -> None:
    held = {(a.organisation_name.casefold(), a.role.casefold()) for a in keep.affiliations}
    for item in list(merge.affiliations):
        key = (item.organisation_name.casefold(), item.role.casefold())
        if key in held:
            _bump(summary.combined, "affiliations")
            continue
        held.add(key)
        keep.affiliations.append(
            SpeakerAffiliation(organisation_name=item.organisation_name, role=item.role)
        )
        _bump(summary.moved, "affiliations")
    merge.affiliations = []
    read = {(s.url, s.retrieved_on) for s in keep.sources}
    for source in list(merge.sources):
        if (source.url, source.retrieved_on) in read:
            _bump(summary.combined, "sources")
            continue
        read.add((source.url, source.retrieved_on))
        keep.sources.append(
            SpeakerSource(url=source.url, title=source.title, retrieved_on=source.retrieved_on)
        )
        _bump(summary.moved, "sources")
    merge.sources = []
    topics = {t.topic.casefold() for t in keep.topics}
    for topic in list(merge.topics):
        if topic.topic.casefold() in topics:
            _bump(summary.combined, "topics")
            continue
        topics.add(topic.topic.casefold())
        keep.topics.append(SpeakerTopic(topic=topic.topic))
        _bump(summary.moved, "topics")
    merge.topics = []


def _merge_links(keep: Speaker, merge: Speaker, summary: MergeSummary) -> None:
    """Repoint the rows that refer to the merged record (set-based: they may be many)."""
    session = db.session
    for model, label in (
        (Assertion, "assertions"),
        (AdvisoryRating, "ratings"),
        (AdvisoryRequest, "advisory_requests"),
    ):
        moved = session.execute(
            sa.update(model)
            .where(model.speaker_id == merge.id)
            .values(speaker_id=keep.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        _bump(summary.moved, label, moved)
    # An appearance is keyed by (event, speaker): where both records appear at the same event
    # it is one appearance, and the kept record's row (and role) stands.
    both = sa.select(EventSpeaker.event_id).where(EventSpeaker.speaker_id == keep.id)
    combined = session.execute(
        sa.delete(EventSpeaker)
        .where(EventSpeaker.speaker_id == merge.id, EventSpeaker.event_id.in_(both))
        .execution_options(synchronize_session=False)
    ).rowcount
    _bump(summary.combined, "appearances", combined)
    moved = session.execute(
        sa.update(EventSpeaker)
        .where(EventSpeaker.speaker_id == merge.id)
        .values(speaker_id=keep.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    _bump(summary.moved, "appearances", moved)
    # Records merged into the merged one earlier now point at the record they live in.
    session.execute(
        sa.update(Speaker)
        .where(Speaker.merged_into_id == merge.id)
        .values(merged_into_id=keep.id)
        .execution_options(synchronize_session=False)
    )
    # The set-based changes bypass the loaded objects (everything was flushed before them):
    # read every object afresh when next used.
    session.expire_all()


def parse_speaker_id(value: Any) -> uuid.UUID:
    """A speaker id from a form or path, or a validation error naming the field."""
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(
            "Choose the record to merge.", errors={"merge_id": ["Choose the record to merge."]}
        ) from exc
