"""Finding speakers by name despite misspelling, transliteration, script and word order.

Search runs in two stages. A *candidate source* asks the database for a bounded set of name
rows that might match, and the rows of every source are then *ranked* here by one scoring
function (`names.name_score`), so that results from different sources (the actor's own
organisation; what partners' agreements disclose) are ordered on the same scale.

Candidates come from each name's *search keys* (`names.name_keys`: its words, their
transliteration skeletons and one-letter deletions, its own script's words, behind the owner's
prefix), computed in Python when a name is indexed and stored in `speaker_names.keys`;
PostgreSQL indexes them with GIN, SQLite with an FTS5 table. A name is a candidate where every
word asked meets one of its keys (in any of the query's forms); only when none of those is a
strong match are the looser stages asked: names in which some word asked meets a key, and
then names alike by trigrams (several slips in one word). One statement per stage asks for
the names of every organisation searched (the actor's own and all the partners an agreement
covers).

The ranking does not depend on the page asked for: every source returns at most `CANDIDATES`
rows, chosen by the database's closeness to the query, all of them are scored, and pages are
cut from that one ordering.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from audit.actions import SPEAKER_SEARCH
from core.db import db
from core.errors import PermissionDenied
from core.security import Actor
from hub.records import permissions
from hub.records.models import RecordStatus, Speaker, SpeakerName
from hub.records.speakers import names
from hub.records.speakers.names import AskedForm, key_prefix, name_keys, name_score

#: Scores run from 0 (nothing alike) to 1 (the same name). Below this a row is not a result.
MIN_SCORE = 0.5
#: On creation, existing records at least this alike are offered as possible duplicates
#: (`services.likely_duplicates`).
DUPLICATE_SCORE = 0.75
#: A candidate this alike is a strong match: until one is found, the looser (and slower)
#: candidate stages also run.
STRONG_SCORE = 0.8
#: Name rows a source fetches for one search, whatever page is asked for: all are scored.
CANDIDATES = 200
#: Rows matching only one of the words asked that are looked at, per word (a bound for
#: common words), and how many of them are kept.
PARTIAL_SCAN = 300
PARTIAL_KEEP = 50
#: pg_trgm word similarity each word asked must reach with some word of a name for the name to
#: be a trigram candidate (the `<%` operator's threshold): two slips in a six-letter word
#: ("wrkght" for "wright") reach it.
PG_WORD_THRESHOLD = 0.4


def normalise(name: str) -> str:
    """A name's Latin form, as `speaker_names.normalised` holds it ("Dr. José Núñez" ->
    "dr jose nunez")."""
    return names.latin(name)


def sorted_tokens(normalised: str) -> str:
    """The words in alphabetical order, so word order does not matter."""
    return names.sorted_words(normalised)


# --- the query and its candidates -------------------------------------------------------


@dataclass(frozen=True)
class NameQuery:
    """What was asked, in the forms the candidate sources need."""

    text: str
    #: The Latin form (`normalise`) and its identifying words in alphabetical order.
    normalised: str
    sorted: str
    #: Each form of the query (Latin; Chinese syllables; its own script) with its words' keys.
    forms: tuple[AskedForm, ...]

    @classmethod
    def parse(cls, text: str) -> NameQuery:
        """Read a search string (honorifics are kept in the text, not in the words)."""
        text = (text or "")[:200]
        return cls(text, names.latin(text), names.comparable(text), names.asked_forms(text))

    @property
    def tokens(self) -> tuple[str, ...]:
        """The identifying words of the first form."""
        return self.forms[0].words if self.forms else ()

    @property
    def empty(self) -> bool:
        """Nothing searchable was given (only spaces or punctuation)."""
        return not self.forms

    def key_groups(self, owners: Sequence[uuid.UUID]) -> list[list[list[str]]]:
        """For each form, for each word with keys, the owners' keys that word meets."""
        prefixes = [key_prefix(owner) for owner in owners]
        return [
            [[p + k for p in prefixes for k in word] for word in form.keys]
            for form in self.forms
            if form.keys
        ]

    def close_groups(self, owners: Sequence[uuid.UUID]) -> list[list[str]]:
        """For each word of the Latin form with keys, the owners' close keys it meets
        (`names.close_word_keys`: the same word, its skeleton, its nicknames)."""
        prefixes = [key_prefix(owner) for owner in owners]
        return [
            [p + k for p in prefixes for k in names.close_word_keys(word)]
            for word in self.tokens
            if len(word) >= 2
        ]


@dataclass(frozen=True)
class Candidate:
    """A name row that might match, from one source (own records, or a partner's disclosure).

    `disclosed_under` is for issue 5's sources: the agreement a partner's row was disclosed
    under, carried through to the result.
    """

    speaker_id: uuid.UUID
    owner_org_id: uuid.UUID
    display_name: str
    name: str
    normalised: str
    #: The speaker's distribution ("shareable", ...): what the sharing path decides on.
    distribution: str = ""
    source: str = "own"
    disclosed_under: dict[str, Any] | None = None


@dataclass(frozen=True)
class SpeakerMatch:
    """One speaker found: the name that matched best and how well (1 = the same name)."""

    speaker_id: uuid.UUID
    display_name: str
    matched_name: str
    score: float
    owner_org_id: uuid.UUID
    source: str = "own"
    disclosed_under: dict[str, Any] | None = None
    #: The speaker's distribution, as its candidate row carried it (not shown: the sharing
    #: path counts a partner's match only where its agreement would disclose it).
    distribution: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The match as plain values (for the API and for tests)."""
        return {
            "speaker_id": str(self.speaker_id),
            "display_name": self.display_name,
            "matched_name": self.matched_name,
            "score": round(self.score, 3),
            "owner_org_id": str(self.owner_org_id),
            "source": self.source,
            "disclosed_under": self.disclosed_under,
        }

    def as_duplicate(self) -> dict[str, Any]:
        """The match as a likely duplicate names it (`DuplicateMatchSchema`): always one of the
        caller's own records, so neither its owner nor an agreement is said."""
        found = self.as_dict()
        del found["owner_org_id"], found["disclosed_under"]
        return found


#: A source of candidate rows: (actor, query, how many) -> rows. The partners' search adds
#: rows read through the agreements; the ranking is shared.
CandidateSource = Callable[[Actor, NameQuery, int], Iterable[Candidate]]


def _candidate_columns() -> tuple[Any, ...]:
    return (
        SpeakerName.speaker_id,
        SpeakerName.owner_org_id,
        Speaker.display_name,
        SpeakerName.name,
        SpeakerName.normalised,
        Speaker.distribution,
    )


#: One engine's candidate search, in stages from the closest and cheapest to the loosest and
#: slowest: (session, owners, query, limit, asking organisation) -> the rows of each stage in
#: turn. `candidates` asks for the next stage only while no row found so far is a strong match.
Stages = Callable[
    [Any, Sequence[uuid.UUID], NameQuery, int, uuid.UUID | None], Iterator[Sequence[Any]]
]


def candidates(
    owners: Iterable[uuid.UUID | str],
    query: NameQuery,
    limit: int = CANDIDATES,
    *,
    asking: uuid.UUID | str | None = None,
) -> list[Candidate]:
    """Name rows of these organisations' active speakers that might match, from one engine's
    indexes, in three stages: rows in which every word asked meets one of its keys (in any
    form; at most `limit` per form, the closest first); then, only if none of them is a strong
    match (`STRONG_SCORE`), rows in which some word of the Latin form meets one of its keys
    (a name lacking a word asked, or with several slips in one); then, only if still none is,
    rows alike by trigrams (several slips in one word). The rows of the `asking` organisation are
    its own ("own"), the rest come from partners ("partner"); among names equally close to the
    query, its own are taken first."""
    owners = sorted({uuid.UUID(str(owner)) for owner in owners})
    if not owners or query.empty:
        return []
    own = uuid.UUID(str(asking)) if asking else None
    session = db.session()
    stages: Stages = (
        postgres_stages if session.get_bind().dialect.name == "postgresql" else sqlite_stages
    )
    found: dict[tuple[uuid.UUID, str], Any] = {}
    for rows in stages(session, owners, query, limit, own):
        for row in rows:
            found.setdefault((row[0], row[3]), row)
        if any(name_score(query.text, row[3]) >= STRONG_SCORE for row in found.values()):
            break
    return [Candidate(*row, source="own" if row[1] == own else "partner") for row in found.values()]


def own_candidates(actor: Actor, query: NameQuery, limit: int) -> list[Candidate]:
    """Name rows of the actor's own organisation's active speakers that might match."""
    return candidates([actor.org_id], query, limit, asking=actor.org_id) if actor.org_id else []


def postgres_stages(
    session: Any,
    owners: Sequence[uuid.UUID],
    query: NameQuery,
    limit: int,
    asking: uuid.UUID | None,
) -> Iterator[Sequence[Any]]:
    """The stages on PostgreSQL, each one statement over every owner: the GIN index on
    `speaker_name_key_array(keys)` for the rows in which every word meets a key (the `limit`
    closest by trigram similarity of the sorted words), then for rows in which one word of the
    Latin form meets a close key (`NameQuery.close_groups`; at most `PARTIAL_SCAN` looked at,
    `PARTIAL_KEEP` kept, per word); then pg_trgm's word similarity of every word asked
    (`spelling_words`) to some word of the name."""
    # Without these, the planner may start parallel workers or compile the plan (JIT), each
    # costing more than the query itself.
    session.execute(sa.text("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0"))
    keys = sa.func.speaker_name_key_array(SpeakerName.keys)
    closest = [sa.func.similarity(SpeakerName.sorted_tokens, query.sorted).desc()]
    if asking is not None:
        closest.append((SpeakerName.owner_org_id == asking).desc())

    def meets(group: list[str]) -> Any:
        return keys.op("&&")(sa.literal(group, ARRAY(sa.Text)))

    # The keys lead with the owner's prefix, so the key stages do not filter on the owner
    # column inside (the planner would combine it with a far larger index scan); the owner is
    # checked on the rows fetched at the end.
    every = [
        sa.select(SpeakerName.id)
        .where(*(meets(word) for word in form))
        .order_by(*closest)
        .limit(limit)
        for form in query.key_groups(owners)
    ]
    yield _postgres_rows(session, owners, sa.union(*every)) if every else []
    close = query.close_groups(owners)
    if len(close) > 1:
        some = []
        for word in close:
            # A common word ("Mohammed") meets thousands of rows: look at a bounded few, so
            # only at its close keys (a slip of it would widen the few to thousands more).
            meeting = (
                sa.select(SpeakerName.id, SpeakerName.sorted_tokens)
                .where(meets(word))
                .limit(PARTIAL_SCAN)
                .subquery()
            )
            some.append(
                sa.select(meeting.c.id)
                .order_by(sa.func.similarity(meeting.c.sorted_tokens, query.sorted).desc())
                .limit(PARTIAL_KEEP)
            )
        yield _postgres_rows(session, owners, sa.union(*some))
    words = spelling_words(query)
    if words:
        session.execute(
            sa.text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
            {"t": str(PG_WORD_THRESHOLD)},
        )
        # Every word asked like some word of the name (`word <% name`: pg_trgm's word
        # similarity, through the trigram index); far fewer rows to check than the whole
        # name's similarity to the whole query, which a short query shares with thousands.
        yield _postgres_rows(
            session,
            owners,
            sa.select(SpeakerName.id)
            .where(
                SpeakerName.owner_org_id.in_(owners),
                *(sa.literal(word).op("<%")(SpeakerName.sorted_tokens) for word in words),
            )
            .order_by(*closest)
            .limit(limit),
        )


def _postgres_rows(
    session: Any, owners: Sequence[uuid.UUID], ids: sa.Select | sa.CompoundSelect
) -> Sequence[Any]:
    """The candidate columns of the owners' name rows that `ids` selects (active speakers)."""
    return session.execute(
        sa.select(*_candidate_columns())
        .join(Speaker, Speaker.id == SpeakerName.speaker_id)
        .where(
            SpeakerName.id.in_(ids),
            SpeakerName.owner_org_id.in_(owners),
            Speaker.status == RecordStatus.ACTIVE,
        )
    ).all()


def spelling_words(query: NameQuery) -> list[str]:
    """The words asked that the trigram stage requires a name to resemble, each: those of
    three letters or more (shorter ones have too few trigrams to say anything), or all of them
    where none is that long."""
    return [w for w in query.tokens if len(w) >= 3] or list(query.tokens)


def _fts_phrase(text: str) -> str:
    """An FTS5 phrase (double quotes doubled inside)."""
    return '"' + text.replace('"', '""') + '"'


def _fts_any(keys: Iterable[str]) -> str:
    return "(" + " OR ".join(_fts_phrase(key) for key in keys) + ")"


def _sqlite_spelling(query: NameQuery) -> str | None:
    """Rows sharing four-letter pieces (one or two slips leave some of them intact) with every
    word asked of five letters or more, for the trigram table; where every word is shorter
    (one slip can break all of a short word's pieces), with any word. None if no word has
    three letters."""
    pieces = {
        token: _fts_any(dict.fromkeys(token[i : i + 4] for i in range(max(1, len(token) - 3))))
        for token in dict.fromkeys(query.tokens)
        if len(token) >= 3
    }
    if not pieces:
        return None
    long = [group for token, group in pieces.items() if len(token) >= 5]
    joined = " AND ".join(long) if long else " OR ".join(pieces.values())
    return f"normalised : ({joined})"


def sqlite_stages(
    session: Any,
    owners: Sequence[uuid.UUID],
    query: NameQuery,
    limit: int,
    asking: uuid.UUID | None,
) -> Iterator[Sequence[Any]]:
    """The stages on SQLite, from the FTS5 tables of the migrations: rows in which every word
    asked meets a key (any form), best ranked (bm25) first; then rows in which some word of
    the Latin form meets a key; then rows sharing four-letter pieces of the words asked
    (the trigram table)."""
    owner_ids = [owner.hex for owner in owners]

    def ask(table: str, expression: str | None) -> list[Any]:
        if not expression:
            return []
        # The table name is one of the constants below; the rest are bound parameters.
        statement = sa.text(
            "SELECT n.speaker_id, n.owner_org_id, s.display_name, n.name, n.normalised, "  # noqa: S608
            "s.distribution "
            f"FROM {table} AS f JOIN speaker_names AS n ON n.id = f.rowid "
            "JOIN speakers AS s ON s.id = n.speaker_id "
            f"WHERE {table} MATCH :match AND n.owner_org_id IN :owners AND s.status = 'active' "
            "ORDER BY f.rank, n.owner_org_id = :asking DESC LIMIT :limit"
        ).bindparams(sa.bindparam("owners", expanding=True))
        rows = session.execute(
            statement,
            {
                "match": expression,
                "owners": owner_ids,
                "asking": asking.hex if asking else None,
                "limit": limit,
            },
        )
        return [(uuid.UUID(str(r[0])), uuid.UUID(str(r[1])), r[2], r[3], r[4], r[5]) for r in rows]

    groups = query.key_groups(owners)
    yield ask(
        "speaker_names_fts_keys",
        " OR ".join("(" + " AND ".join(_fts_any(w) for w in form) + ")" for form in groups),
    )
    if groups and len(groups[0]) > 1:
        yield ask("speaker_names_fts_keys", " OR ".join(_fts_any(w) for w in groups[0]))
    yield ask("speaker_names_fts", _sqlite_spelling(query))


#: Where candidates come from, in order (the partners' search adds its own).
CANDIDATE_SOURCES: list[CandidateSource] = [own_candidates]


# --- ranking and the services -----------------------------------------------------------


def rank(query: NameQuery, candidates: Iterable[Candidate]) -> list[SpeakerMatch]:
    """Score every candidate row, keep each speaker's best name, order best first."""
    best: dict[tuple[str, uuid.UUID], SpeakerMatch] = {}
    for row in candidates:
        score = name_score(query.text, row.name)
        key = (row.source, row.speaker_id)
        current = best.get(key)
        if current is None or score > current.score:
            best[key] = SpeakerMatch(
                row.speaker_id,
                row.display_name,
                row.name,
                score,
                row.owner_org_id,
                row.source,
                row.disclosed_under,
                getattr(row.distribution, "value", row.distribution),
            )
    return sorted(best.values(), key=lambda m: (-m.score, m.display_name, str(m.speaker_id)))


def _refuse_search(actor: Actor) -> PermissionDenied:
    return PermissionDenied(
        "You cannot search speaker records.",
        reason="not_permitted",
        audit={"action": SPEAKER_SEARCH, "resource_type": "speaker"},
    )


def search_speakers(
    actor: Actor,
    query: str,
    limit: int = 20,
    offset: int = 0,
    *,
    min_score: float = MIN_SCORE,
    sources: Sequence[CandidateSource] | None = None,
) -> list[SpeakerMatch]:
    """Speakers whose name or alias is like `query` (misspelt, transliterated, reordered or in
    another script), best first; only records the actor may see. The order does not depend on
    the page: each source gives at most `CANDIDATES` rows, all ranked, and the page is cut.

    The one finder: `/speakers/?q=`, the speakers API, the event form's speaker finder, the
    partners' search, the duplicate check (`services.likely_duplicates`) and the CSV import
    all ask it."""
    if not permissions.can_read(actor, actor.org_id):
        raise _refuse_search(actor)
    parsed = NameQuery.parse(query)
    if parsed.empty:
        return []
    limit = max(1, min(int(limit), 100))
    offset = max(0, int(offset))
    rows: list[Candidate] = []
    for source in sources if sources is not None else CANDIDATE_SOURCES:
        rows.extend(source(actor, parsed, CANDIDATES))
    matches = [match for match in rank(parsed, rows) if match.score >= min_score]
    return matches[offset : offset + limit]


def name_rows(speaker_id: uuid.UUID, owner: uuid.UUID, all_names: Iterable[str]) -> list[dict]:
    """The search rows of a speaker's names (display name first, then aliases): each name once
    (`names.identity`). `index_speaker` and the bulk import write these."""
    rows, seen = [], set()
    for name in all_names:
        same = names.identity(name)
        if same == ("", None) or same in seen:
            continue
        seen.add(same)
        latin = same[0]
        rows.append(
            {
                "speaker_id": speaker_id,
                "owner_org_id": owner,
                "name": name,
                "normalised": latin,
                "sorted_tokens": sorted_tokens(latin),
                "keys": name_keys(owner, name),
            }
        )
    return rows


def index_speaker(speaker: Speaker) -> None:
    """Rewrite the search rows for a speaker's display name and aliases."""
    db.session.execute(sa.delete(SpeakerName).where(SpeakerName.speaker_id == speaker.id))
    rows = name_rows(
        speaker.id, speaker.owner_org_id, [speaker.display_name, *(a.name for a in speaker.aliases)]
    )
    db.session.add_all(SpeakerName(**row) for row in rows)
    db.session.flush()


def unindex_speaker(speaker: Speaker) -> None:
    """Remove a speaker's search rows (merged or erased records are not found by name)."""
    db.session.execute(sa.delete(SpeakerName).where(SpeakerName.speaker_id == speaker.id))
    db.session.flush()
