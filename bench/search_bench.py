"""Speaker search speed: 1,000,000 speakers on PostgreSQL (p95 < 25 ms, issue 15; issue 2
asked for 50 ms) and 100,000 on SQLite (p95 < 100 ms), over a few hundred queries with slips,
transliterations, swapped word order, surnames alone and names nobody holds; each timed
through `search.search_speakers` as the pages call it (candidates from the indexes, ranking in
Python), after one warm-up pass.

Sizes: BENCH_SEARCH_SPEAKERS (PostgreSQL, default 1,000,000), BENCH_SEARCH_SQLITE_SPEAKERS
(default 100,000), BENCH_SEARCH_QUERIES (default 400).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.common import Suite, fresh_database, median, percentile

PG_SPEAKERS = int(os.environ.get("BENCH_SEARCH_SPEAKERS", "1000000"))
SQLITE_SPEAKERS = int(os.environ.get("BENCH_SEARCH_SQLITE_SPEAKERS", "100000"))
QUERIES = int(os.environ.get("BENCH_SEARCH_QUERIES", "400"))
ORGS = 20
SEED = 7

# --- fictional names ----------------------------------------------------------------------

#: Given names in the spellings they are commonly transliterated in (one family per list).
GIVEN = [
    ["Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed"],
    ["Yusuf", "Yousef", "Youssef", "Yousuf"],
    ["Fatima", "Fatimah", "Fatma"],
    ["Hussain", "Hussein", "Husain", "Hossein"],
    ["Abdullah", "Abdulla", "Abdallah"],
    ["Khalid", "Khaled"],
    ["Aisha", "Ayesha", "Aysha"],
    ["Zainab", "Zaynab", "Zeinab"],
    ["Mustafa", "Mostafa", "Moustafa"],
    ["Omar", "Umar"],
    ["Ibrahim", "Ebrahim", "Ibraheem"],
    ["Karim", "Kareem"],
    ["Qasim", "Kasim", "Kassim"],
    ["Sergei", "Sergey", "Serhiy"],
    ["Aleksandr", "Alexander", "Oleksandr"],
    ["Yevgeny", "Evgeny", "Yevgeniy"],
    ["Dmitri", "Dmitry", "Dmytro"],
    ["Tatiana", "Tatyana"],
    ["Catherine", "Katherine", "Kathryn"],
    ["Stephen", "Steven"],
    ["Sean", "Shaun", "Shawn"],
    ["Niamh", "Neve"],
    ["Jon", "John"],
    ["Rachel", "Rachael"],
    *[[name] for name in (
        "Ember", "Tobias", "Marigold", "Percival", "Ottoline", "Bartholomew", "Priya", "Anjali",
        "Rohan", "Amara", "Chidi", "Ngozi", "Kwame", "Ingrid", "Lars", "Mei", "Hiroshi", "Yuki",
        "Tomasz", "Agnieszka", "Isolde", "Cormac", "Rhiannon", "Dafydd", "Elspeth", "Hamish",
    )],
]  # fmt: skip
#: Invented surnames are built from these pieces, so that no generated name is a real person's.
HEADS = [
    "Quill", "Wren", "Ash", "Thorn", "Marl", "Brack", "Fen", "Hollow", "Lark", "Moss", "Raven",
    "Stone", "Bram", "Cinder", "Dusk", "Frost", "Gale", "Hart", "Ivy", "Kestrel", "Lum", "Mire",
    "Nettle", "Oak", "Pike", "Rook", "Sedge", "Tarn", "Vale", "Whin", "Yarrow", "Al-Qar",
    "El-Zah", "Bin-Ras", "Abu-Ham", "Karam", "Nadr", "Sulay", "Rahm", "Oku", "Ade", "Chuk",
    "Nwa", "Petro", "Kova", "Zhel", "Vor",
]  # fmt: skip
MIDDLES = ["", "", "", "an", "el", "or", "is", "ing"]
TAILS = [
    "feather", "field", "wood", "worth", "ington", "ley", "ridge", "mere", "holt", "wick", "by",
    "combe", "stead", "ford", "hurst", "shaw", "ani", "awi", "uddin", "ullah", "oun", "ova",
    "enko", "ovich", "ski", "chuk", "wu", "oye", "eze", "adi", "imi", "ssen",
]  # fmt: skip
TITLES = ["Dr", "Professor", "Rev", "Ms", "Mr"]


@dataclass(frozen=True)
class FakeSpeaker:
    """A generated speaker: display name, other names (with their kind), family of given name."""

    id: uuid.UUID
    org: int
    display_name: str
    aliases: tuple[tuple[str, str], ...]
    family: int
    given: str
    surname: str


def speakers(count: int, rng: random.Random) -> Iterator[FakeSpeaker]:
    """`count` fictional speakers spread evenly over the organisations."""
    for number in range(count):
        family = rng.randrange(len(GIVEN))
        given = rng.choice(GIVEN[family])
        surname = rng.choice(HEADS) + rng.choice(MIDDLES) + rng.choice(TAILS)
        middle = f"{rng.choice(GIVEN)[0]} " if rng.random() < 0.2 else ""
        display = f"{given} {middle}{surname}"
        if rng.random() < 0.25:
            display = f"{rng.choice(TITLES)} {display}"
        aliases = []
        others = [g for g in GIVEN[family] if g != given]
        if others and rng.random() < 0.6:
            aliases.append((f"{rng.choice(others)} {middle}{surname}", "transliteration"))
        if rng.random() < 0.3:
            aliases.append((f"{surname}, {given}", "alias"))
        if rng.random() < 0.2:
            aliases.append((f"{given[0]}. {surname}", "alias"))
        yield FakeSpeaker(
            uuid.UUID(int=rng.getrandbits(128), version=4),
            number % ORGS,
            display,
            tuple(aliases),
            family,
            given,
            surname,
        )


def name_rows(speaker: FakeSpeaker, org_id: uuid.UUID) -> Iterator[tuple]:
    """The search rows `search.index_speaker` would write for the speaker (`search.name_rows`)."""
    from hub.records.speakers.search import name_rows as rows_of

    names = (speaker.display_name, *(a for a, _ in speaker.aliases))
    for row in rows_of(speaker.id, org_id, names):
        yield (
            row["speaker_id"], row["owner_org_id"], row["name"], row["normalised"],
            row["sorted_tokens"], row["keys"],
        )  # fmt: skip


# --- queries ----------------------------------------------------------------------------


def _slip(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice("dsit")
    if kind == "d":
        return word[:i] + word[i + 1 :]
    if kind == "s":
        return word[:i] + rng.choice("abcdefghiklmnoprstuvwy") + word[i + 1 :]
    if kind == "i":
        return word[:i] + rng.choice("aeiou") + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


@dataclass(frozen=True)
class Query:
    """A search as a person would type it, and the speaker it is meant to find (if any)."""

    kind: str
    text: str
    org: int
    target: uuid.UUID | None


def queries(sample: list[FakeSpeaker], count: int, rng: random.Random) -> list[Query]:
    """A mix: exact, one slip, another transliteration, swapped order, surname only, absent."""
    made = []
    kinds = ["exact", "slip", "transliteration", "swapped", "surname", "absent"]
    weights = [2, 3, 2, 2, 1, 1]
    for speaker in rng.sample(sample, min(count, len(sample))):
        kind = rng.choices(kinds, weights)[0]
        given, surname = speaker.given, speaker.surname
        if kind == "exact":
            text = speaker.display_name
        elif kind == "slip":
            words = [given, surname]
            j = rng.randrange(2)
            words[j] = _slip(words[j], rng)
            text = " ".join(words)
        elif kind == "transliteration":
            others = [g for g in GIVEN[speaker.family] if g != given] or [given]
            text = f"{rng.choice(others)} {surname}"
        elif kind == "swapped":
            text = f"{surname} {given}"
        elif kind == "surname":
            text = surname
        else:
            first = rng.choice(["Zephyrine", "Barnaby", "Leontyne"])
            text = f"{first} Gallowglass{rng.randrange(99)}"
        made.append(Query(kind, text, speaker.org, None if kind == "absent" else speaker.id))
    return made


def _measure(suite: Suite, engine: str, count: int, org_ids: list[uuid.UUID], asked: list[Query]):
    """Time queries through `search_speakers` and add the results: the first half of `asked`
    warms the database and the ranking caches untimed, the second half (other names) is
    timed, so that nothing timed was asked before."""
    from core.db import db
    from core.security import Actor
    from hub.records.speakers import search

    actors = [
        Actor(
            kind="person",
            id=str(uuid.uuid4()),
            org_id=str(org),
            org_kind="university",
            roles=frozenset({"prevent_lead"}),
        )
        for org in org_ids
    ]
    session = db.session()
    half = len(asked) // 2
    for query in asked[:half]:  # warm-up, as in steady use
        search.search_speakers(actors[query.org], query.text)
        session.rollback()
    asked = asked[half:]
    timings: list[float] = []
    by_kind: dict[str, list[float]] = {}
    hits = wanted = 0
    for query in asked:
        started = time.perf_counter()
        results = search.search_speakers(actors[query.org], query.text)
        elapsed = (time.perf_counter() - started) * 1000
        session.rollback()
        timings.append(elapsed)
        by_kind.setdefault(query.kind, []).append(elapsed)
        if query.target is not None and query.kind != "surname":
            wanted += 1
            hits += query.target in [m.speaker_id for m in results[:5]]
    p95 = percentile(timings, 95)
    # Issue 15: one organisation's own search at 1,000,000 speakers under 25 ms (issue 2 asked 50).
    target = 25 if engine == "PostgreSQL" else 100
    size = f"{count:,}"
    suite.add(
        f"{engine}: search at {size} speakers, p95 of {len(timings)}",
        p95,
        "ms",
        f"< {target} ms",
        p95 < target,
    )
    suite.add(f"{engine}: search, median", median(timings), "ms")
    suite.add(f"{engine}: search, slowest", max(timings), "ms")
    for kind, values in sorted(by_kind.items()):
        suite.add(f"{engine}: {kind} queries, p95", percentile(values, 95), "ms")
    suite.add(
        f"{engine}: intended speaker in the top 5 (all but surname-only and absent)",
        100 * hits / max(1, wanted),
        "%",
    )


# --- PostgreSQL ---------------------------------------------------------------------------


def _orgs_sql(org_ids: list[uuid.UUID]) -> list[dict]:
    return [
        {"id": org, "name": f"Bench University {n}", "slug": f"bench-search-{n}"}
        for n, org in enumerate(org_ids)
    ]


INSERT_ORG = sa.text(
    "INSERT INTO organisations (id, name, slug, kind, region, status, dp_contact_name, "
    "dp_contact_email, created_at, updated_at) VALUES (:id, :name, :slug, 'university', "
    "'Benchshire', 'active', 'Bench', 'dp@bench.example', :now, :now)"
)


def _postgres(suite: Suite) -> None:
    from core import migrations
    from core.db import db, utcnow
    from hub.app import create_app

    url = fresh_database("hub_bench_search")
    app = create_app(
        {
            "database_url": url,
            "instance_path": Path(tempfile.mkdtemp(prefix="hub-bench-")),
            "secret_key": "bench-only-secret",
        }
    )
    rng = random.Random(SEED)
    org_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(ORGS)]
    with app.app_context():
        migrations.upgrade(url)
        engine = app.extensions["hub_db_engine"]
        with engine.begin() as connection:
            now = utcnow()
            connection.execute(INSERT_ORG, [{**o, "now": now} for o in _orgs_sql(org_ids)])
            indexes = drop_trigram_indexes(connection)
        print(f"loading {PG_SPEAKERS:,} speakers with COPY ...", flush=True)
        started = time.perf_counter()
        sample = _copy(engine, org_ids, rng)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        build_indexes(engine, indexes)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE speakers"))
            connection.execute(sa.text("VACUUM ANALYZE speaker_names"))
        indexed = time.perf_counter() - started
        names = db.session.scalar(sa.text("SELECT count(*) FROM speaker_names"))
        db.session.rollback()
        suite.notes.append(
            f"PostgreSQL: {PG_SPEAKERS:,} speakers ({names:,} names and aliases) over {ORGS} "
            f"organisations written with COPY in {loaded:.0f} s; the search indexes built "
            f"afterwards in {indexed:.0f} s (set-up, not targets)."
        )
        print("timing PostgreSQL queries ...", flush=True)
        _measure(suite, "PostgreSQL", PG_SPEAKERS, org_ids, queries(sample, 2 * QUERIES, rng))
        db.session.remove()
    app.extensions["hub_db_engine"].dispose()


def build_indexes(engine: sa.Engine, indexes: list[tuple[str, str]]) -> None:
    """Build again the indexes `drop_trigram_indexes` dropped, after a bulk load: with memory
    to sort in and no per-statement deadline (an index over a million names outlasts it)."""
    with engine.connect().execution_options(hub_deadline=3600) as connection:
        connection.execute(sa.text("SET maintenance_work_mem = '1GB'"))
        connection.execute(sa.text("SET statement_timeout = 0"))
        for _, definition in indexes:
            connection.execute(sa.text(definition))
        connection.execute(sa.text("RESET statement_timeout"))
        connection.commit()


def drop_trigram_indexes(connection: sa.Connection) -> list[tuple[str, str]]:
    """Drop the name trigram indexes before a bulk load (they are built again afterwards from
    the definitions returned: (name, CREATE INDEX statement))."""
    indexes = connection.execute(
        sa.text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'speaker_names' "
            "AND indexname LIKE '%\\_trgm'"
        )
    ).all()
    for name, _ in indexes:
        connection.execute(sa.text(f'DROP INDEX "{name}"'))
    return [(name, definition) for name, definition in indexes]


def _copy(engine: sa.Engine, org_ids: list[uuid.UUID], rng: random.Random) -> list[FakeSpeaker]:
    """COPY the generated speakers and their search rows; returns a sample for queries."""
    from core.db import utcnow

    sample: list[FakeSpeaker] = []
    rows: list[tuple] = []
    keep_until = (utcnow() + timedelta(days=6 * 365)).date()
    now = utcnow()
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor:
            # The search keys are computed in Python while the speakers stream in: a bulk load
            # outlasts the hub's per-statement timeout.
            cursor.execute("SET statement_timeout = 0")
            columns = "id, owner_org_id, distribution, display_name, status, retention_until, "
            columns += "created_at, updated_at"
            with cursor.copy(f"COPY speakers ({columns}) FROM STDIN") as copy:
                for speaker in speakers(PG_SPEAKERS, rng):
                    org = org_ids[speaker.org]
                    copy.write_row(
                        (speaker.id, org, "shareable", speaker.display_name, "active",
                         keep_until, now, now)
                    )  # fmt: skip
                    rows.extend(name_rows(speaker, org))
                    if rng.random() < min(1.0, 20 * QUERIES / PG_SPEAKERS):
                        sample.append(speaker)
            with cursor.copy(
                "COPY speaker_names (speaker_id, owner_org_id, name, normalised, sorted_tokens, "
                "keys) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        connection.commit()
    finally:
        raw.close()
    return sample


# --- SQLite -------------------------------------------------------------------------------


def _sqlite(suite: Suite) -> None:
    from core import migrations
    from core.db import db, utcnow
    from hub.app import create_app

    folder = Path(tempfile.mkdtemp(prefix="hub-bench-search-"))
    url = f"sqlite:///{folder / 'search.sqlite3'}"
    app = create_app(
        {"database_url": url, "instance_path": folder, "secret_key": "bench-only-secret"}
    )
    rng = random.Random(SEED + 1)
    org_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(ORGS)]
    with app.app_context():
        migrations.upgrade(url)
        engine = app.extensions["hub_db_engine"]
        print(f"loading {SQLITE_SPEAKERS:,} speakers into SQLite ...", flush=True)
        started = time.perf_counter()
        now = utcnow()
        keep_until = (now + timedelta(days=6 * 365)).date()
        sample: list[FakeSpeaker] = []
        speaker_rows, names = [], []
        for speaker in speakers(SQLITE_SPEAKERS, rng):
            org = org_ids[speaker.org]
            speaker_rows.append(
                {"id": speaker.id.hex, "org": org.hex, "name": speaker.display_name}
            )
            names.extend(
                {"sid": s.hex, "org": o.hex, "name": n, "norm": k, "sorted": t, "keys": ks}
                for s, o, n, k, t, ks in name_rows(speaker, org)
            )
            if rng.random() < min(1.0, 20 * QUERIES / SQLITE_SPEAKERS):
                sample.append(speaker)
        stamp = now.replace(tzinfo=None)
        with engine.begin() as connection:
            connection.execute(
                INSERT_ORG,
                [{**o, "id": o["id"].hex, "now": stamp} for o in _orgs_sql(org_ids)],
            )
            connection.execute(
                sa.text(
                    "INSERT INTO speakers (id, owner_org_id, distribution, display_name, status, "
                    "retention_until, created_at, updated_at) VALUES (:id, :org, 'shareable', "
                    ":name, 'active', :keep, :now, :now)"
                ),
                [{**row, "keep": keep_until, "now": stamp} for row in speaker_rows],
            )
            connection.execute(
                sa.text(
                    "INSERT INTO speaker_names (speaker_id, owner_org_id, name, normalised, "
                    "sorted_tokens, keys) VALUES (:sid, :org, :name, :norm, :sorted, :keys)"
                ),
                names,
            )
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
        suite.notes.append(
            f"SQLite: {SQLITE_SPEAKERS:,} speakers ({len(names):,} names and aliases) over "
            f"{ORGS} organisations inserted in {time.perf_counter() - started:.0f} s (the "
            "triggers fill both FTS5 tables); set-up, not a target."
        )
        print("timing SQLite queries ...", flush=True)
        _measure(suite, "SQLite", SQLITE_SPEAKERS, org_ids, queries(sample, 2 * QUERIES, rng))
        db.session.remove()
    app.extensions["hub_db_engine"].dispose()


def run() -> Suite:
    """Run the search benchmarks on both engines."""
    suite = Suite("Speaker search (issue 4)")
    _postgres(suite)
    _sqlite(suite)
    suite.notes.append(
        "Each query is timed through `hub.records.speakers.search.search_speakers` as the pages "
        "call it, for a Prevent lead of the organisation that holds the name, after an untimed "
        "pass over as many other queries (warm cache; no timed query was asked before). "
        "The mix: exact names (with titles), one slip in one word, another transliteration "
        "of the given name, swapped word order, surname alone, and names nobody holds. Names "
        "are generated: real given names in their common transliterations with invented "
        "surnames."
    )
    suite.notes.append(
        "Candidates come from each name's search keys (`names.name_keys`: its words, their "
        "transliteration skeletons and one-letter deletions, its own script's words, behind "
        "the owner's id prefix), computed in Python and stored in `speaker_names.keys`: "
        "PostgreSQL indexes them with GIN over the key array (rows meeting every query word, "
        "plus a bounded set per word, in one statement; pg_trgm's `%` within the owners' rows "
        "only when no candidate is a strong match), SQLite with an FTS5 table whose tokens are "
        "the keys (four-letter pieces of each word in a trigram table as the weak fallback). "
        "Both rank the candidates in Python with one scoring function."
    )
    return suite
