"""Finding speakers by name despite misspelling, transliteration, script and word order.

Search runs in two stages. A *candidate source* asks the database for a bounded set of name
rows that might match, and the rows of every source are then *ranked* here by one scoring
function (`names.name_score`), so that results from different sources (the actor's own
organisation; what partners' agreements disclose) are ordered on the same scale.

Candidates come from each name's *search keys* (`names.name_keys`: its words, their
transliteration skeletons and one-letter deletions, its own script's words, behind the owner's
prefix), computed in Python when a name is indexed and stored in `speaker_names.keys`;
PostgreSQL indexes them with GIN, SQLite with an FTS5 table. A name is a candidate where every
word asked meets one of its keys (in any of the query's forms), or, more weakly, where some
word does; trigrams catch what has slipped further. One statement asks for the names of every
organisation searched (the actor's own, or all the partners an agreement covers).

The ranking does not depend on the page asked for: every source returns at most `CANDIDATES`
rows, chosen by the database's closeness to the query, all of them are scored, and pages are
cut from that one ordering.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
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
#: A candidate this alike is a strong match: below it, the slower trigram search also runs.
STRONG_SCORE = 0.8
#: Name rows a source fetches for one search, whatever page is asked for: all are scored.
CANDIDATES = 200
#: Rows matching only one of the words asked that are looked at, per word (a bound for
#: common words), and how many of them are kept.
PARTIAL_SCAN = 300
PARTIAL_KEEP = 50
#: pg_trgm similarity a row must reach to be a trigram candidate (`%` operator threshold).
PG_THRESHOLD = 0.3


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
    )


def candidates(
    owners: Iterable[uuid.UUID | str], query: NameQuery, limit: int = CANDIDATES, **extra: Any
) -> list[Candidate]:
    """Name rows of these organisations' active speakers that might match, at most `limit`
    (plus those only trigrams find when nothing strong was), from one engine's indexes.
    `extra` is passed to every `Candidate` (its source, say)."""
    owners = sorted({uuid.UUID(str(owner)) for owner in owners})
    if not owners or query.empty:
        return []
    session = db.session()
    if session.get_bind().dialect.name == "postgresql":
        rows = postgres_candidates(session, owners, query, limit)
    else:
        rows = sqlite_candidates(session, owners, query, limit)
    return [Candidate(*row, **extra) for row in rows]


def own_candidates(actor: Actor, query: NameQuery, limit: int) -> list[Candidate]:
    """Name rows of the actor's own organisation's active speakers that might match."""
    return candidates([actor.org_id], query, limit) if actor.org_id else []


def _strong(query: NameQuery, rows: Sequence[Any]) -> bool:
    """Whether any row (its name is the fourth column) is a strong match."""
    return any(name_score(query.text, row[3]) >= STRONG_SCORE for row in rows)


def postgres_candidates(
    session: Any, owners: Sequence[uuid.UUID], query: NameQuery, limit: int
) -> Sequence[Any]:
    """Candidates from the GIN index on `speaker_name_key_array(keys)`, in one statement: for each
    form of the query, the rows in which every word meets a key, the `limit` closest by trigram
    similarity of the sorted words; and for each word of the Latin form, rows in which that
    word alone meets a key (at most `PARTIAL_SCAN` looked at, `PARTIAL_KEEP` kept). Then, only
    if none of them is a strong match, pg_trgm's `%` over the owners' sorted words (slower, but
    it tolerates several slips in one word)."""
    # Without these, the planner may start parallel workers or compile the plan (JIT), each
    # costing more than the query itself.
    session.execute(sa.text("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0"))
    keys = sa.func.speaker_name_key_array(SpeakerName.keys)
    closeness = sa.func.similarity(SpeakerName.sorted_tokens, query.sorted)

    def meets(group: list[str]) -> Any:
        return keys.op("&&")(sa.literal(group, ARRAY(sa.Text)))

    # The keys lead with the owner's prefix, so the key stage does not filter on the owner
    # column inside (the planner would combine it with a far larger index scan); the owner is
    # checked on the rows fetched at the end.
    parts: list[sa.Select] = []
    groups = query.key_groups(owners)
    for form in groups:
        parts.append(
            sa.select(SpeakerName.id)
            .where(*(meets(word) for word in form))
            .order_by(closeness.desc())
            .limit(limit)
        )
    if groups and len(groups[0]) > 1:
        for word in groups[0]:
            # A common word ("Mohammed") meets thousands of rows: look at a bounded few.
            some = (
                sa.select(SpeakerName.id, SpeakerName.sorted_tokens)
                .where(meets(word))
                .limit(PARTIAL_SCAN)
                .subquery()
            )
            parts.append(
                sa.select(some.c.id)
                .order_by(sa.func.similarity(some.c.sorted_tokens, query.sorted).desc())
                .limit(PARTIAL_KEEP)
            )
    rows: Sequence[Any] = _postgres_rows(session, owners, sa.union(*parts)) if parts else []
    if not _strong(query, rows) and query.sorted:
        session.execute(
            sa.text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
            {"t": str(PG_THRESHOLD)},
        )
        similar = (
            sa.select(SpeakerName.id)
            .where(
                SpeakerName.owner_org_id.in_(owners),
                SpeakerName.sorted_tokens.op("%")(query.sorted),
            )
            .order_by(closeness.desc())
            .limit(limit)
        )
        seen = {(row[0], row[3]) for row in rows}
        rows = [
            *rows,
            *(r for r in _postgres_rows(session, owners, similar) if (r[0], r[3]) not in seen),
        ]
    return rows


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


def sqlite_candidates(
    session: Any, owners: Sequence[uuid.UUID], query: NameQuery, limit: int
) -> Sequence[Any]:
    """Candidates from the FTS5 tables of the migrations: rows in which every word asked meets a
    key (any form), best ranked (bm25) first; then rows in which some word does; then, only if
    none of them is a strong match, rows sharing four-letter pieces of every word (trigrams)."""
    groups = query.key_groups(owners)
    every = " OR ".join("(" + " AND ".join(_fts_any(w) for w in form) + ")" for form in groups)
    some = " OR ".join(_fts_any(w) for form in groups for w in form)
    owner_ids = [owner.hex for owner in owners]
    found: dict[Any, Any] = {}

    def ask(table: str, expression: str | None, how_many: int) -> None:
        if not expression:
            return
        # The table name is one of the constants below; the rest are bound parameters.
        statement = sa.text(
            "SELECT n.speaker_id, n.owner_org_id, s.display_name, n.name, n.normalised "  # noqa: S608
            f"FROM {table} AS f JOIN speaker_names AS n ON n.id = f.rowid "
            "JOIN speakers AS s ON s.id = n.speaker_id "
            f"WHERE {table} MATCH :match AND n.owner_org_id IN :owners AND s.status = 'active' "
            "ORDER BY f.rank LIMIT :limit"
        ).bindparams(sa.bindparam("owners", expanding=True))
        for row in session.execute(
            statement, {"match": expression, "owners": owner_ids, "limit": how_many}
        ):
            found.setdefault((row[0], row[3]), row)

    ask("speaker_names_fts_keys", every, limit)
    if len(found) < limit:
        ask("speaker_names_fts_keys", some, limit - len(found))
    if not _strong(query, list(found.values())):
        ask("speaker_names_fts", _sqlite_spelling(query), limit)
    return [(uuid.UUID(str(r[0])), uuid.UUID(str(r[1])), r[2], r[3], r[4]) for r in found.values()]


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
