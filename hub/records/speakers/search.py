"""Finding speakers by name despite misspelling, transliteration and word order.

Search runs in two stages. A *candidate source* asks the database for a bounded set of name
rows that might match (PostgreSQL: pg_trgm indexes; SQLite: FTS5 trigram tables), and the
rows of every source are then *ranked* here, in Python, by one scoring function, so that
results from different sources (today the actor's own organisation; with data-sharing
agreements, what partners disclose) are ordered on the same scale.

Both engines also index each name's transliteration *skeleton* (see `skeleton`): a key in
which "Mohammed", "Muhammad" and "Mohamed" agree, as do "Yusuf" and "Yousef", whose
spellings share no trigram at all. The skeleton is computed in SQL by the same replacements
(see the institution-records migration), so no stored column is needed.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from audit.actions import SPEAKER_SEARCH
from core.db import db
from core.errors import PermissionDenied
from core.security import Actor
from hub.records import permissions
from hub.records.models import RecordStatus, Speaker, SpeakerName

_NON_WORD = re.compile(r"[^a-z0-9]+")

#: Words that say how someone is addressed, not who they are: ignored when names are compared
#: (they are still stored and shown).
HONORIFICS = frozenset(
    {
        "dr",
        "doctor",
        "prof",
        "professor",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "sir",
        "dame",
        "lord",
        "lady",
        "rev",
        "revd",
        "reverend",
        "cllr",
        "sheikh",
        "shaykh",
        "imam",
        "rabbi",
        "father",
        "sister",
        "brother",
    }
)

#: Ordered replacements that fold common transliteration and spelling variants together,
#: applied to space-padded normalised words. Word-initial vowels become "a" (Omar/Umar) and a
#: word-initial "y" is kept (Yusuf), a final "h" goes (Fatimah/Fatima), ph/c/kh/q/gh/th/dh/dj
#: fold (Khaled/Chaled, Qasim/Kasim), the remaining vowels and "y" go (Yousef/Yusuf,
#: Zaynab/Zainab) and doubled letters collapse (Mohammed/Mohamed). The migration holds a copy
#: of this list for its SQL; `tests/records/test_search.py` checks that they agree.
SKELETON_RULES: tuple[tuple[str, str], ...] = (
    (" a", " #"),
    (" e", " #"),
    (" i", " #"),
    (" o", " #"),
    (" u", " #"),
    (" y", " !"),
    ("h ", " "),
    ("ph", "f"),
    ("c", "k"),
    ("kh", "k"),
    ("q", "k"),
    ("gh", "g"),
    ("th", "t"),
    ("dh", "d"),
    ("dj", "j"),
    ("a", ""),
    ("e", ""),
    ("i", ""),
    ("o", ""),
    ("u", ""),
    ("y", ""),
    *((letter + letter, letter) for letter in "bdfghjklmnprstvwxz"),
    ("#", "a"),
    ("!", "y"),
)

#: Scores run from 0 (nothing alike) to 1 (the same name). Below this a row is not a result.
MIN_SCORE = 0.5
#: On creation, existing records at least this alike are offered as possible duplicates
#: (`services.likely_duplicates`).
DUPLICATE_SCORE = 0.75
#: Name rows each source fetches before ranking (at least; more for later pages).
CANDIDATES = 40
#: PostgreSQL: rows matching a single query word that are looked at (a bound for common words).
PARTIAL_SCAN = 300
#: pg_trgm similarity a row must reach to be a candidate at all (`%` operator threshold).
PG_THRESHOLD = 0.3


# --- normalisation ----------------------------------------------------------------------


def normalise(name: str) -> str:
    """Lower-case ASCII words: accents folded, punctuation dropped ("Dr. José Núñez" ->
    "dr jose nunez")."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(_NON_WORD.sub(" ", folded.lower()).split())


def sorted_tokens(normalised: str) -> str:
    """The words in alphabetical order, so word order does not matter."""
    return " ".join(sorted(normalised.split()))


@lru_cache(maxsize=262144)
def skeleton(words: str) -> str:
    """The transliteration skeleton of normalised words ("mohammed yousef" -> "mhmd ysf")."""
    text = f" {words} "
    for old, new in SKELETON_RULES:
        text = text.replace(old, new)
    return text.strip()


def _core_tokens(normalised: str) -> list[str]:
    """The words that identify someone (honorifics dropped, unless that leaves nothing)."""
    words = normalised.split()
    core = [word for word in words if word not in HONORIFICS]
    return core or words


# --- similarity -------------------------------------------------------------------------


@lru_cache(maxsize=262144)
def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigrams: each word padded with two spaces before and one after."""
    grams: set[str] = set()
    for word in text.split():
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def trigram_similarity(a: str, b: str) -> float:
    """Shared trigrams over all trigrams (pg_trgm's `similarity`)."""
    first, second = trigrams(a), trigrams(b)
    if not first or not second:
        return 0.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


def levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute) from `a` to `b`: Hyyrö's bit-parallel form of
    Myers' algorithm, one pass over `a` with `b` held as bit masks."""
    if len(a) < len(b):
        a, b = b, a
    size = len(b)
    if size == 0:
        return len(a)
    masks: dict[str, int] = {}
    for i, letter in enumerate(b):
        masks[letter] = masks.get(letter, 0) | (1 << i)
    full = (1 << size) - 1
    top = 1 << (size - 1)
    plus, minus, distance = full, 0, size
    for letter in a:
        equal = masks.get(letter, 0)
        vertical = equal | minus
        horizontal = (((equal & plus) + plus) ^ plus) | equal
        up = minus | ~(horizontal | plus)
        down = plus & horizontal
        if up & top:
            distance += 1
        elif down & top:
            distance -= 1
        up = (up << 1) | 1
        down <<= 1
        plus = (down | ~(vertical | up)) & full
        minus = up & vertical & full
    return distance


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length (one slip in a short word stays close)."""
    if a == b:
        return 1.0
    longer = max(len(a), len(b))
    return 1.0 - levenshtein(a, b) / longer if longer else 0.0


@lru_cache(maxsize=262144)
def word_similarity(a: str, b: str) -> float:
    """How alike two single words are, allowing for slips, transliteration and initials."""
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        # An initial ("E. Quillfeather") stands for any word with that first letter.
        return 0.7 if a[0] == b[0] else 0.0
    spelling = 0.95 * edit_similarity(a, b)
    shape_a, shape_b = skeleton(a), skeleton(b)
    if shape_a == shape_b and len(shape_a) >= 2:
        return max(spelling, 0.9)
    if spelling >= 0.8:
        return spelling
    return max(spelling, 0.8 * edit_similarity(shape_a, shape_b))


def name_score(query: str, name: str) -> float:
    """How well a normalised query matches a normalised name, in [0, 1], whatever the order
    of the words: each query word is paired with its closest word in the name, and words of
    the name that nothing in the query matched count a little against it."""
    if not query or not name:
        return 0.0
    if query == name:
        return 1.0
    asked, held = _core_tokens(query), _core_tokens(name)
    table = [[word_similarity(word, other) for other in held] for word in asked]
    # A word that is only somewhat alike (Ahmed for Muhammad) counts for much less than one
    # that is nearly the same: squared below 0.8, so that a shared surname alone does not
    # make two people alike.
    best = sum(b if b >= 0.8 else b * b for b in (max(row) for row in table)) / len(asked)
    covered = sum(1 for j in range(len(held)) if max(row[j] for row in table) >= 0.7)
    score = 0.85 * best + 0.15 * covered / len(held)
    whole = trigram_similarity(sorted_tokens(" ".join(asked)), sorted_tokens(" ".join(held)))
    # Only an identical name scores 1: the same words in another order come just below.
    return min(max(score, whole), 0.99)


# --- the query and its candidates -------------------------------------------------------


@dataclass(frozen=True)
class NameQuery:
    """What was asked, in the forms the candidate sources need."""

    text: str
    normalised: str
    sorted: str
    skeleton: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> NameQuery:
        """Normalise a search string (honorifics are kept in the text, not in the tokens)."""
        normalised = normalise(text or "")[:200]
        tokens = tuple(_core_tokens(normalised))
        ordered = " ".join(sorted(tokens))
        return cls(text or "", normalised, ordered, skeleton(ordered), tokens)

    @property
    def empty(self) -> bool:
        """Nothing searchable was given (only spaces or punctuation)."""
        return not self.tokens


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


#: A source of candidate rows: (actor, query, how many) -> rows. Issue 5 adds one that reads
#: partners' records through `agreements.services.disclose`; the ranking is shared.
CandidateSource = Callable[[Actor, NameQuery, int], Iterable[Candidate]]


def key_prefix(owner_org_id: uuid.UUID | str) -> str:
    """What every search key of an organisation's names starts with (its id's first eight
    hex digits), so that one key lookup reads only that organisation's rows."""
    return str(owner_org_id)[:8] + ":"


def name_keys(owner_org_id: uuid.UUID | str, words: str) -> frozenset[str]:
    """The search keys PostgreSQL indexes for a name's sorted words (`speaker_name_keys` in
    the migration): its skeleton words and, for words of five letters or more, each word
    with one letter deleted (marked "~"), each behind the owner's prefix."""
    prefix = key_prefix(owner_org_id)
    keys: set[str] = set()
    for word in skeleton(words).split():
        keys.add(prefix + word)
        if len(word) >= 5:
            keys.update(prefix + "~" + word[:i] + word[i + 1 :] for i in range(len(word)))
    return frozenset(keys)


def query_keys(word: str) -> list[str]:
    """The keys (without the owner's prefix) to look up for one query word, so that a name
    word within one edit of it in skeleton form meets one: the word itself; "~word" (the
    query lacks a letter); and for longer words each one-letter deletion, plain (the query
    has an extra letter) and marked (one letter differs, or two are swapped)."""
    shape = skeleton(word)
    if not shape:
        return []
    keys = [shape]
    if len(shape) >= 4:
        keys.append("~" + shape)
    if len(shape) >= 5:
        for i in range(len(shape)):
            shorter = shape[:i] + shape[i + 1 :]
            keys.extend((shorter, "~" + shorter))
    return list(dict.fromkeys(keys))


def _candidate_columns() -> tuple[Any, ...]:
    return (
        SpeakerName.speaker_id,
        SpeakerName.owner_org_id,
        Speaker.display_name,
        SpeakerName.name,
        SpeakerName.normalised,
    )


def own_candidates(actor: Actor, query: NameQuery, limit: int) -> list[Candidate]:
    """Name rows of the actor's own organisation's active speakers that might match."""
    if actor.org_id is None:
        return []
    org = uuid.UUID(actor.org_id)
    session = db.session()
    if session.get_bind().dialect.name == "postgresql":
        rows = postgres_candidates(session, org, query, limit)
    else:
        rows = sqlite_candidates(session, org, query, limit)
    return [Candidate(*row) for row in rows]


def postgres_candidates(
    session: Any, org: uuid.UUID, query: NameQuery, limit: int
) -> Sequence[Any]:
    """Two stages over the search indexes of the migration.

    1. Search keys (`speaker_name_keys`, led by the owner's prefix): the rows in which every
       query word meets a key, cut to the `limit` closest by trigram similarity of the sorted
       words; and for each query word, rows in which that word alone meets a key (weaker
       matches: at most `PARTIAL_SCAN` of them are looked at). One statement.
    2. Only if that finds nothing: pg_trgm's `%` over the sorted words, inside the owner's
       rows (slower, but it tolerates several slips in one word).
    """
    # These statements are cheap, but the key function is declared costly (so that the
    # planner never evaluates it row by row): without these settings it would start parallel
    # workers or compile the plan (JIT), each costing more than the query itself.
    session.execute(sa.text("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0"))
    keys = sa.func.speaker_name_keys(SpeakerName.owner_org_id, SpeakerName.sorted_tokens)
    closeness = sa.func.similarity(SpeakerName.sorted_tokens, query.sorted)
    prefix = key_prefix(org)
    per_word = [query_keys(word) for word in dict.fromkeys(query.tokens)]
    # An initial ("E.") is no key: it would meet every word with that letter.
    per_word = [[prefix + key for key in k] for k in per_word if k and len(k[0]) >= 2]
    mine = SpeakerName.owner_org_id == org

    def closest(*conditions: Any) -> sa.Select:
        return sa.select(SpeakerName.id).where(*conditions).order_by(closeness.desc()).limit(limit)

    # The keys already lead with the owner's prefix, so the key stage does not filter on the
    # owner column inside (the planner would combine it with a far larger index scan); the
    # owner is checked on the rows fetched at the end.
    parts: list[sa.Select] = []
    if per_word:
        overlaps = [keys.op("&&")(sa.literal(k, ARRAY(sa.Text))) for k in per_word]
        parts.append(closest(*overlaps))
        if len(per_word) > 1:
            for overlap in overlaps:
                # A common word ("Mohammed") meets thousands of rows: look at a bounded few.
                some = (
                    sa.select(SpeakerName.id, SpeakerName.sorted_tokens)
                    .where(overlap)
                    .limit(PARTIAL_SCAN)
                    .subquery()
                )
                parts.append(
                    sa.select(some.c.id)
                    .order_by(sa.func.similarity(some.c.sorted_tokens, query.sorted).desc())
                    .limit(limit)
                )
    rows: Sequence[Any] = []
    if parts:
        rows = _postgres_rows(session, org, sa.union(*parts))
    if not rows:
        session.execute(
            sa.text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
            {"t": str(PG_THRESHOLD)},
        )
        similar = closest(mine, SpeakerName.sorted_tokens.op("%")(query.sorted))
        rows = _postgres_rows(session, org, similar)
    return rows


def _postgres_rows(
    session: Any, org: uuid.UUID, ids: sa.Select | sa.CompoundSelect
) -> Sequence[Any]:
    """The candidate columns of the owner's name rows that `ids` selects (active speakers)."""
    return session.execute(
        sa.select(*_candidate_columns())
        .join(Speaker, Speaker.id == SpeakerName.speaker_id)
        .where(
            SpeakerName.id.in_(ids),
            SpeakerName.owner_org_id == org,
            Speaker.status == RecordStatus.ACTIVE,
        )
    ).all()


def _fts_phrase(text: str) -> str:
    """An FTS5 phrase (double quotes doubled inside)."""
    return '"' + text.replace('"', '""') + '"'


def _sqlite_match_expressions(query: NameQuery) -> tuple[str | None, str | None]:
    """Two FTS5 queries: whole skeleton words between spaces, any of them (transliterations);
    and for every query word of three letters or more, any of its four-letter pieces (one
    slip leaves most of them intact). None where the query gives nothing to match."""
    words = [word for word in dict.fromkeys(query.skeleton.split()) if len(word) >= 2]
    shape = " OR ".join(_fts_phrase(f" {word} ") for word in words) if words else None
    groups = []
    for token in dict.fromkeys(query.tokens):
        if len(token) < 3:
            continue
        pieces = dict.fromkeys(token[i : i + 4] for i in range(max(1, len(token) - 3)))
        groups.append("(" + " OR ".join(_fts_phrase(piece) for piece in pieces) + ")")
    spelling = "normalised : (" + " AND ".join(groups) + ")" if groups else None
    return shape, spelling


def sqlite_candidates(session: Any, org: uuid.UUID, query: NameQuery, limit: int) -> Sequence[Any]:
    """The FTS5 trigram tables of the migration: the owner's best-ranked (bm25) rows for each
    expression; a prefix match for queries too short to have a trigram."""
    shape, spelling = _sqlite_match_expressions(query)
    found: dict[Any, Any] = {}
    for table, expression in (
        ("speaker_names_fts_skeleton", shape),
        ("speaker_names_fts", spelling),
    ):
        if expression is None:
            continue
        # The table name is one of the constants above; the query is a bound parameter.
        statement = sa.text(
            "SELECT n.speaker_id, n.owner_org_id, s.display_name, n.name, n.normalised "  # noqa: S608
            f"FROM {table} AS f JOIN speaker_names AS n ON n.id = f.rowid "
            "JOIN speakers AS s ON s.id = n.speaker_id "
            f"WHERE {table} MATCH :match AND n.owner_org_id = :org AND s.status = 'active' "
            "ORDER BY f.rank LIMIT :limit"
        )
        rows = session.execute(
            statement, {"match": expression, "org": org.hex, "limit": limit}
        ).all()
        for row in rows:
            found.setdefault((row[0], row[3]), row)
    if not found and len(query.normalised) < 4:
        pattern = query.normalised.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = (
            sa.select(*_candidate_columns())
            .join(Speaker, Speaker.id == SpeakerName.speaker_id)
            .where(
                SpeakerName.owner_org_id == org,
                Speaker.status == RecordStatus.ACTIVE,
                sa.or_(
                    SpeakerName.normalised.like(f"{pattern}%", escape="\\"),
                    SpeakerName.normalised.like(f"% {pattern}%", escape="\\"),
                ),
            )
            .limit(limit)
        )
        for row in session.execute(statement):
            found.setdefault((row[0], row[3]), row)
    return [(uuid.UUID(str(r[0])), uuid.UUID(str(r[1])), r[2], r[3], r[4]) for r in found.values()]


#: Where candidates come from, in order. Issue 5 appends partners' disclosed rows.
CANDIDATE_SOURCES: list[CandidateSource] = [own_candidates]


# --- ranking and the services -----------------------------------------------------------


def rank(query: NameQuery, candidates: Iterable[Candidate]) -> list[SpeakerMatch]:
    """Score every candidate row, keep each speaker's best name, order best first."""
    best: dict[tuple[str, uuid.UUID], SpeakerMatch] = {}
    for row in candidates:
        score = name_score(query.normalised, row.normalised)
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
    """Speakers whose name or alias is like `query` (misspelt, transliterated or reordered),
    best first; only records the actor may see.

    The one finder: `/speakers/?q=`, the speakers API, the event form's speaker finder, the
    duplicate check (`services.likely_duplicates`) and the CSV import all ask it."""
    if not permissions.can_read(actor, actor.org_id):
        raise _refuse_search(actor)
    parsed = NameQuery.parse(query)
    if parsed.empty:
        return []
    limit = max(1, min(int(limit), 100))
    offset = max(0, int(offset))
    wanted = max(CANDIDATES, 3 * (offset + limit))
    rows: list[Candidate] = []
    for source in sources if sources is not None else CANDIDATE_SOURCES:
        rows.extend(source(actor, parsed, wanted))
    matches = [match for match in rank(parsed, rows) if match.score >= min_score]
    return matches[offset : offset + limit]


def index_speaker(speaker: Speaker) -> None:
    """Rewrite the search rows for a speaker's display name and aliases."""
    db.session.execute(sa.delete(SpeakerName).where(SpeakerName.speaker_id == speaker.id))
    names = [speaker.display_name, *(alias.name for alias in speaker.aliases)]
    seen = set()
    for name in names:
        normalised = normalise(name)
        if not normalised or normalised in seen:
            continue
        seen.add(normalised)
        db.session.add(
            SpeakerName(
                speaker_id=speaker.id,
                owner_org_id=speaker.owner_org_id,
                name=name,
                normalised=normalised,
                sorted_tokens=sorted_tokens(normalised),
            )
        )
    db.session.flush()


def unindex_speaker(speaker: Speaker) -> None:
    """Remove a speaker's search rows (merged or erased records are not found by name)."""
    db.session.execute(sa.delete(SpeakerName).where(SpeakerName.speaker_id == speaker.id))
    db.session.flush()
