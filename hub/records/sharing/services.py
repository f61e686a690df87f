"""Partners' records, seen through agreements: cross-organisation search and record views.

Every read here of another organisation's record goes through `agreements.services.disclose`;
candidates for a search are looked up only among organisations whose agreements could disclose
something to the actor for the stated purpose, and totals count only what would be disclosed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from agreements import services as agreements
from agreements.policy import Disclosed, ShareableRecord
from audit import services as audit
from audit.actions import SPEAKER_SEARCH
from core.db import db
from core.errors import NotFound, PermissionDenied
from core.security import Actor
from hub.records import permissions, shareable
from hub.records.models import (
    AdvisoryRating,
    Assertion,
    AssertionStatus,
    Decision,
    Event,
)
from hub.records.speakers import search
from partners.services import OrganisationCard, organisation_card, organisation_names

#: Every absent or refused partner record answers with these words (the disclosure path's
#: own): a different message for a refusal would tell the asker that the record exists.
NOT_FOUND = agreements.NOT_FOUND

#: How many partner candidates a search considers before disclosure (the ranking is by name),
#: and how many of the actor's own records it shows at most.
PARTNER_CANDIDATES = 200
OWN_RESULTS = 100


@dataclass
class SearchResult:
    """One speaker found: the actor's own record, or what a partner's agreement discloses."""

    speaker_id: str
    owner_org_id: str
    owner_name: str
    #: Place in the whole result list, best first (1-based).
    rank: int
    #: The name similarity, for the actor's own records only: a partner hit's score would be
    #: computed against names the recipient may not see in full, and would let a searcher
    #: confirm a masked name letter by letter.
    score: float | None
    own: bool
    data: dict[str, Any]
    disclosed_under: dict[str, Any] | None = None
    existence_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "speaker_id": self.speaker_id,
            "owner_org_id": self.owner_org_id,
            "owner": self.owner_name,
            "rank": self.rank,
            "score": round(self.score, 3) if self.score is not None else None,
            "own": self.own,
            "existence_only": self.existence_only,
            "data": self.data,
            "disclosed_under": self.disclosed_under,
        }


@dataclass
class SearchPage:
    """A page of results and the number of results the actor may see in all."""

    results: list[SearchResult]
    total: int
    purpose: str | None
    partners_searched: int = 0
    notes: list[str] = field(default_factory=list)


def require_reader(actor: Actor, action: str) -> None:
    if not permissions.can_read_shared(actor):
        raise PermissionDenied(
            "You cannot see speaker records.",
            reason="role_required",
            audit={"action": action, "resource_type": "speaker"},
        )


def _in_full(
    page: list[tuple[float, SearchResult | search.SpeakerMatch | ShareableRecord]],
) -> list[tuple[float, Any]]:
    """The page's partner hits as whole shareable records (its own hits stay as they are)."""
    wanted = {item.id: item.matched_field for _s, item in page if isinstance(item, ShareableRecord)}
    if not wanted:
        return page
    loaded = shareable.speakers((uuid.UUID(key) for key in wanted), matched=wanted)
    whole: list[tuple[float, Any]] = []
    for score, item in page:
        if isinstance(item, ShareableRecord):
            if item.id not in loaded:  # gone since it was counted
                continue
            item = loaded[item.id]
        whole.append((score, item))
    return whole


@dataclass(frozen=True)
class _Header:
    """What `shareable.speaker_header` reads of a speaker: its id, owner and distribution."""

    id: uuid.UUID
    owner_org_id: uuid.UUID
    distribution: str


def find_speakers(
    actor: Actor, parsed: search.NameQuery, providers: set[str]
) -> tuple[list[search.SpeakerMatch], list[search.SpeakerMatch]]:
    """The actor's own speakers (if it may read them) and these providers' speakers whose
    names are like the query, found together (one statement per candidate stage) and ranked
    on one scale: at most `OWN_RESULTS` own matches and `PARTNER_CANDIDATES` partner matches,
    best first. Nothing is disclosed here: partner matches are only candidates."""
    reads_own = actor.org_id is not None and permissions.can_read(actor, actor.org_id)
    searched = ({actor.org_id} if reads_own else set()) | providers
    matches = [
        m
        for m in search.rank(
            parsed, search.candidates(searched, parsed, search.CANDIDATES, asking=actor.org_id)
        )
        if m.score >= search.MIN_SCORE
    ]
    return (
        [m for m in matches if m.source == "own"][:OWN_RESULTS],
        [m for m in matches if m.source == "partner"][:PARTNER_CANDIDATES],
    )


def search_speakers(
    actor: Actor, query: str, purpose: str | None, *, limit: int = 20, offset: int = 0
) -> SearchPage:
    """The actor's own speakers and, for a stated purpose, partners' speakers as their
    agreements disclose them, best match first. Without a purpose only own records are
    searched; a partner's record found by a name its schedule withholds is left out."""
    require_reader(actor, "speaker.search")
    parsed = search.NameQuery.parse(query)
    # One sharing session for the whole search: the purpose checked and the agreements in
    # force loaded once for the providers, the totals and the page's disclosures.
    sharing = (
        agreements.sharing(actor, purpose, SPEAKER_SEARCH)
        if purpose is not None and not parsed.empty
        else None
    )
    providers = sharing.providers("speaker") - {actor.org_id} if sharing is not None else set()
    own, partner_matches = find_speakers(actor, parsed, providers)
    results: list[tuple[float, SearchResult | search.SpeakerMatch]] = [(m.score, m) for m in own]
    # Totals count only what would be disclosed, decided from each match's owner, distribution
    # and matched name (as its candidate row carried them); only the page shown is loaded in
    # full and disclosed (audited).
    records = [
        (
            match.score,
            shareable.speaker_header(
                _Header(match.speaker_id, match.owner_org_id, match.distribution),
                "display_name" if match.matched_name == match.display_name else "aliases",
            ),
        )
        for match in partner_matches
    ]
    visible = sharing.would_disclose([r for _s, r in records]) if sharing is not None else set()
    for score, record in records:
        if record.id in visible:
            results.append((score, record))
    results.sort(key=lambda item: -item[0])
    total = len(results)
    counted = results[offset : offset + limit]
    page = _in_full(counted)
    total -= len(counted) - len(page)  # any erased between counting and loading
    owners = organisation_names(
        item.owner_org_id if isinstance(item, ShareableRecord) else str(item.owner_org_id)
        for _score, item in page
    )
    to_disclose = [item for _score, item in page if isinstance(item, ShareableRecord)]

    def searched(disclosed: Sequence[Any]) -> dict[str, Any]:
        """The search's own audit entry: how many results it counted, less any of the page
        not disclosed after all (changed between counting and showing)."""
        return {
            "action": SPEAKER_SEARCH,
            "outcome": "granted",
            "resource_type": "speaker",
            "purpose": purpose,
            "results": total - (len(to_disclose) - len(disclosed)),
            "partners": len(providers),
        }

    if sharing is not None and to_disclose:
        # The search's entry is written with the disclosures', in one statement.
        disclosed = {
            d.id: d
            for d in sharing.disclose(to_disclose, audit_refusals=False, audit_with=searched)
        }
    else:
        disclosed = {}
        audit.record(actor, **searched([]))
    shown: list[SearchResult] = []
    for score, item in page:
        rank = offset + len(shown) + 1
        if isinstance(item, ShareableRecord):
            d = disclosed.get(item.id)
            if d is None:  # the agreement ended between counting and showing
                total -= 1
                continue
            shown.append(
                SearchResult(
                    d.id,
                    d.owner_org_id,
                    owners.get(d.owner_org_id, ""),
                    rank,
                    None,
                    False,
                    d.data,
                    d.disclosed_under,
                    d.existence_only,
                )
            )
        else:
            shown.append(
                SearchResult(
                    str(item.speaker_id),
                    str(item.owner_org_id),
                    owners.get(str(item.owner_org_id), ""),
                    rank,
                    score,
                    True,
                    {"display_name": item.display_name, "matched_name": item.matched_name},
                )
            )
    return SearchPage(shown, total, purpose, len(providers))


# --- one partner record, with what hangs off it ------------------------------------------


@dataclass(frozen=True)
class Contact:
    """Whom a recipient asks about a record: the holding organisation's designated person
    named in the agreement it was shared under, and the organisation's data protection
    contact (the agreement names a person; the organisation keeps the address to write to)."""

    organisation: str
    agreement_reference: str
    designated_person: str
    dp_contact_name: str
    dp_contact_email: str


def holder_contact(
    sharing: agreements.Sharing, owner: OrganisationCard | None, record: Disclosed
) -> Contact | None:
    """Whom to contact at `owner` about `record`, as its agreement and the directory say
    (None for the actor's own records, which were not disclosed)."""
    under = record.disclosed_under
    if owner is None or under is None:
        return None
    return Contact(
        organisation=owner.name,
        agreement_reference=under["reference"],
        designated_person=sharing.designated_person(under["agreement_id"], owner.id),
        dp_contact_name=owner.dp_contact_name,
        dp_contact_email=owner.dp_contact_email,
    )


@dataclass
class SharedSpeaker:
    """A partner's speaker record as disclosed, with its disclosed statements and ratings."""

    speaker: Disclosed
    owner_name: str
    assertions: list[Disclosed]
    ratings: list[Disclosed]
    appearances: list[Disclosed]
    contact: Contact | None = None


def _load(model: type, record_id: str) -> Any:
    try:
        return db.session.get(model, uuid.UUID(str(record_id)))
    except ValueError:
        return None


def _events(ids: Iterable[Any]) -> list[Event]:
    """The unerased events among the appearances a disclosure revealed, in its order, read
    in one statement (pseudonymous ids name nothing here)."""
    keys = []
    for value in ids:
        if isinstance(value, str) and not value.startswith("psn:"):
            try:
                keys.append(uuid.UUID(value))
            except ValueError:
                continue
    if not keys:
        return []
    found = {
        event.id: event
        for event in db.session.scalars(
            sa.select(Event).where(Event.id.in_(keys), Event.erased_at.is_(None))
        )
    }
    return [found[k] for k in dict.fromkeys(keys) if k in found]


def shared_speaker(actor: Actor, speaker_id: str, purpose: str | None) -> SharedSpeaker:
    """A partner's speaker, as far as an agreement in force discloses it for `purpose`."""
    require_reader(actor, "disclosure")
    sharing = agreements.sharing(actor, purpose)
    try:
        key = uuid.UUID(str(speaker_id))
    except ValueError:
        raise NotFound(NOT_FOUND) from None
    # Its ratings come with it, in its one statement: anyone may have rated the speaker.
    found = shareable.speaker_and_ratings(key)
    if found is None:
        raise NotFound(NOT_FOUND)
    record, ratings = found
    # The speaker's entry is written with its related records' (one statement), after them
    # being read: which appearances are listed depends on what the speaker's disclosure gave.
    unwritten: list[dict[str, Any]] = []
    disclosed = sharing.disclose_one(record, unwritten=unwritten)
    owner_id = uuid.UUID(record.owner_org_id)
    # What no cover could disclose is not read (the owner's statements and events: an
    # agreement gives them, or the asker owns them).
    statements = (
        [
            shareable.assertion(a)
            for a in db.session.scalars(
                sa.select(Assertion)
                .where(
                    Assertion.speaker_id == key,
                    Assertion.owner_org_id == owner_id,
                    Assertion.status != AssertionStatus.WITHDRAWN,
                )
                .order_by(Assertion.created_at)
            )
        ]
        if sharing.may_see(record.owner_org_id, "assertion")
        else []
    )
    event_ids = disclosed.data.get("appearances") or []
    if not sharing.may_see(record.owner_org_id, "event"):
        event_ids = []
    events = [shareable.event(e) for e in _events(event_ids)]
    owner = organisation_card(record.owner_org_id)
    # One pass through the sharing path for everything listed with the speaker (one lookup of
    # the agreements in force), sorted back by record type.
    related = sharing.disclose(
        [*statements, *ratings, *events], audit_refusals=False, written_with=unwritten
    )
    return SharedSpeaker(
        speaker=disclosed,
        owner_name=owner.name if owner else "",
        assertions=[d for d in related if d.record_type == "assertion"],
        ratings=[d for d in related if d.record_type == "advisory_rating"],
        appearances=[d for d in related if d.record_type == "event"],
        contact=holder_contact(sharing, owner, disclosed),
    )


@dataclass
class SharedEvent:
    """A partner's event as disclosed, with its disclosed decision."""

    event: Disclosed
    owner_name: str
    decisions: list[Disclosed]
    contact: Contact | None = None


def shared_event(actor: Actor, event_id: str, purpose: str | None) -> SharedEvent:
    """A partner's event and its standing decision, as an agreement discloses them."""
    require_reader(actor, "disclosure")
    sharing = agreements.sharing(actor, purpose)
    event = _load(Event, event_id)
    if event is None or event.erased_at is not None:
        raise NotFound(NOT_FOUND)
    disclosed = sharing.disclose_one(shareable.event(event))
    standing = [d for d in event.decisions if not d.superseded_by_appeal]
    owner = organisation_card(event.owner_org_id)
    return SharedEvent(
        event=disclosed,
        owner_name=owner.name if owner else "",
        decisions=sharing.disclose([shareable.decision(d) for d in standing], audit_refusals=False),
        contact=holder_contact(sharing, owner, disclosed),
    )


def shared_decision(actor: Actor, decision_id: str, purpose: str | None) -> Disclosed:
    """One partner decision by id."""
    require_reader(actor, "disclosure")
    decision = _load(Decision, decision_id)
    if decision is None:
        raise NotFound(NOT_FOUND)
    return agreements.disclose_one(actor, shareable.decision(decision), purpose)


def shared_rating(actor: Actor, rating_id: str, purpose: str | None) -> Disclosed:
    """One advisory rating by id (police share ratings with coordinators, for instance)."""
    require_reader(actor, "disclosure")
    rating = _load(AdvisoryRating, rating_id)
    if rating is None:
        raise NotFound(NOT_FOUND)
    return agreements.disclose_one(actor, shareable.rating(rating), purpose)
