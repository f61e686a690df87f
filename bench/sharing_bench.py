"""Sharing speed (issues 5 and 15): search through `disclose()` over 1,000,000 speakers from 20
organisations under 10 agreements keeps at least 70 % of the throughput of the same search
without minimisation and audit, measured in the same run, with a median under 40 ms and a p95
under 100 ms.

Set-up (untimed): the speakers of the search benchmark (its generator and COPY loader, with
aliases, a topic, an affiliation and a source each added in SQL), 20 organisations made and 10
agreements drafted, proposed and approved through the real services, and an events officer at
one organisation who searches for `speaker_due_diligence`.

Timed, in rounds that alternate which path goes first, over the same queries in one process:
(a) `hub.records.sharing.services.search_speakers` as a request runs it (its own session, one
commit, the audit entries it wrote integrated into the Merkle tree before the block's clock
stops);
(b) the same own and partner candidate search and ranking, returning the page's raw records.

Sizes: BENCH_SHARING_SPEAKERS (default 1,000,000), BENCH_SHARING_ROUNDS (default 6),
BENCH_SHARING_QUERIES (queries per round, default 25).
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import os
import pstats
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import search_bench
from bench.common import SERVER_URL, Suite, agreement_body, fresh_database, median, percentile
from bench.sharing_scene import (
    AGREEMENTS,
    PROFILES,
    SEARCHER,
    check_minimised,
    expected_covers,
    require,
)

SPEAKERS = int(os.environ.get("BENCH_SHARING_SPEAKERS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_SHARING_ROUNDS", "6"))
PER_ROUND = int(os.environ.get("BENCH_SHARING_QUERIES", "25"))
WARM_UP = 30
PROFILED = 20
ORGS = 20
PURPOSE = "speaker_due_diligence"
TARGET = 70.0
#: Issue 15's floors for the search through disclose() at 1,000,000 speakers.
P95_TARGET = 100.0
MEDIAN_TARGET = 40.0
#: The candidate step's label: the own organisation's, and all partners' in one statement.
CANDIDATES_STEP = "candidate search (SQL and strong-match checks; own and all partners at once)"
DATABASE = "hub_bench_sharing"
SEED = 11

# --- set-up -------------------------------------------------------------------------------


def _organisations_and_people() -> tuple[list[uuid.UUID], list[Any], Any]:
    """20 organisations, a signatory at each and the searching events officer; ids, the
    signatories and the searcher (ORM objects of the current session)."""
    from core.security import Actor
    from partners import services

    system = Actor.system("bench")
    orgs, signatories = [], []
    for n in range(ORGS):
        org = services.create_organisation(
            system,
            {
                "name": f"Bench Sharing University {n}",
                "slug": f"bench-sharing-{n}",
                "kind": "university",
                "region": "Benchshire",
                "dp_contact_name": "Bench",
                "dp_contact_email": f"dpo@bench-sharing-{n}.example",
            },
        )
        orgs.append(org)
        signatories.append(
            services.create_person(
                system,
                org,
                {
                    "name": f"Bench Signatory {n}",
                    "email": f"signatory@bench-sharing-{n}.example",
                    "roles": ["signatory", "dpo"],
                },
            ).person
        )
    searcher = services.create_person(
        system,
        orgs[SEARCHER],
        {
            "name": "Bench Events Officer",
            "email": "events@bench-sharing-0.example",
            "roles": ["events_officer"],
        },
    ).person
    return [o.id for o in orgs], signatories, searcher


def _agreements(org_ids: list[uuid.UUID], signatories: list[Any]) -> None:
    """The ten agreements, each drafted, proposed and approved by every party's signatory."""
    from agreements import services as agreements
    from partners import signin

    for reference, kind, parties, schedule in AGREEMENTS:
        entries = []
        for provider, recipient, profile in schedule:
            entry: dict[str, Any] = {
                "provider": str(org_ids[provider]),
                "recipient": str(org_ids[recipient]),
                "record_type": "speaker",
            }
            if PROFILES[profile] is None:
                entry["level"] = "existence_only"
            else:
                entry["fields"] = dict(PROFILES[profile])
            entries.append(entry)
        parties_data = [
            {
                "organisation_id": str(org_ids[p]),
                "role": "controller",
                "designated_person": "Designated Person",
                "signatory_id": str(signatories[p].id),
            }
            for p in parties
        ]
        data = agreement_body(
            parties_data, entries, purpose=PURPOSE, reference=reference, kind=kind
        )
        drafter = signin.actor_for(signatories[parties[0]])
        agreement = agreements.create_draft(drafter, data)
        agreements.propose(drafter, agreement)
        for p in parties:
            agreements.approve(
                signin.actor_for(signatories[p]),
                agreement,
                content_hash=agreement.content_hash,
                reauthenticated_at=datetime.now(UTC),
            )


#: The rest of a speaker record, added in SQL after the COPY: its aliases (the names the
#: loader indexed besides the display name), one topic, one affiliation, one public source.
DETAILS = [
    "INSERT INTO speaker_aliases (speaker_id, name, kind) "
    "SELECT n.speaker_id, n.name, CASE WHEN n.name LIKE '%,%' OR n.name LIKE '%.%' "
    "THEN 'alias' ELSE 'transliteration' END "
    "FROM speaker_names n JOIN speakers s ON s.id = n.speaker_id WHERE n.name <> s.display_name",
    "INSERT INTO speaker_topics (speaker_id, topic) SELECT id, (ARRAY['theology', 'politics', "
    "'history', 'ethics', 'economics', 'media'])[1 + abs(hashtext(id::text)) % 6] FROM speakers",
    "INSERT INTO speaker_affiliations (speaker_id, organisation_name, role) SELECT id, "
    "'Bench Institute ' || (abs(hashtext(id::text)) % 500), 'Fellow' FROM speakers",
    "INSERT INTO speaker_sources (speaker_id, url, title, retrieved_on) SELECT id, "
    "'https://news' || (abs(hashtext(id::text)) % 50) || '.example/profiles/' || id, "
    "'Profile', current_date FROM speakers",
]


def _load(engine: sa.Engine, org_ids: list[uuid.UUID], rng: random.Random) -> tuple[list, dict]:
    """The speakers (search_bench's loader, trigram indexes built afterwards as it does) and
    their details; returns the query sample and the seconds each step took."""
    with engine.begin() as connection:
        indexes = search_bench.drop_trigram_indexes(connection)
    seconds = {}
    print(f"loading {SPEAKERS:,} speakers with COPY ...", flush=True)
    started = time.perf_counter()
    search_bench.PG_SPEAKERS = SPEAKERS  # the loader reads its module's size
    sample = search_bench._copy(engine, org_ids, rng)
    seconds["copy"] = time.perf_counter() - started
    print("adding aliases, topics, affiliations, sources ...", flush=True)
    started = time.perf_counter()
    with engine.begin() as connection:
        for statement in DETAILS:
            connection.execute(sa.text(statement))
    seconds["details"] = time.perf_counter() - started
    print("building the search indexes ...", flush=True)
    started = time.perf_counter()
    search_bench.build_indexes(engine, indexes)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in (
            "speakers",
            "speaker_names",
            "speaker_aliases",
            "speaker_topics",
            "speaker_affiliations",
            "speaker_sources",
        ):
            connection.execute(sa.text(f"VACUUM ANALYZE {table}"))
    seconds["indexes"] = time.perf_counter() - started
    return sample, seconds


# --- the two paths ------------------------------------------------------------------------


@dataclasses.dataclass
class RawResult:
    """What the baseline returns for one hit: the record as held, nothing minimised."""

    speaker_id: str
    owner_org_id: str
    owner_name: str
    score: float
    own: bool
    data: dict[str, Any]


def baseline_search(
    actor: Any, query: str, providers: set[str], *, limit: int = 20
) -> tuple[list[RawResult], int]:
    """`shared.search_speakers` without agreements, minimisation or audit: the same own search,
    the same candidate search over the same providers' name rows and the same ranking; the
    page's partner speakers loaded and returned as held (every field, raw)."""
    from hub.records import shareable
    from hub.records.sharing import services as shared
    from hub.records.speakers import search
    from partners.services import organisation_names

    shared.require_reader(actor, "speaker.search")
    own, partners = shared.find_speakers(actor, search.NameQuery.parse(query), providers)
    results: list[tuple[float, search.SpeakerMatch]] = [(m.score, m) for m in own + partners]
    results.sort(key=lambda item: -item[0])
    total = len(results)
    page = results[:limit]
    owners = organisation_names(str(m.owner_org_id) for _s, m in page)
    wanted = [m.speaker_id for _s, m in page if m.source == "partner"]
    speakers = shareable.speakers(wanted)  # loaded as the full path loads them
    shown = []
    for score, match in page:
        owner = str(match.owner_org_id)
        if match.source == "partner":
            speaker = speakers.get(str(match.speaker_id))
            if speaker is None:
                total -= 1
                continue
            data = dict(speaker.values)
            shown.append(RawResult(speaker.id, owner, owners.get(owner, ""), score, False, data))
        else:
            data = {"display_name": match.display_name, "matched_name": match.matched_name}
            shown.append(
                RawResult(str(match.speaker_id), owner, owners.get(owner, ""), score, True, data)
            )
    return shown, total


class Paths:
    """Runs one query through either path as a request would: a fresh session in its own app
    context, one commit at the end."""

    def __init__(self, app: Any, actor: Any, providers: set[str]) -> None:
        self.app = app
        self.actor = actor
        self.providers = providers
        self.shown: list[Any] = []  # every partner result the full path disclosed
        self.disclosed = 0
        self.results = {"full": 0, "raw": 0}
        self.totals = {"full": 0, "raw": 0}

    def full(self, text: str) -> None:
        from core.db import transaction
        from hub.records.sharing import services as shared

        actor = dataclasses.replace(self.actor, request_id=str(uuid.uuid4()))
        with self.app.app_context(), transaction():
            page = shared.search_speakers(actor, text, PURPOSE)
        partners = [r for r in page.results if not r.own]
        self.disclosed += len(partners)
        self.shown.extend(partners)
        self.results["full"] += len(page.results)
        self.totals["full"] += page.total

    def raw(self, text: str) -> None:
        from core.db import transaction

        actor = dataclasses.replace(self.actor, request_id=str(uuid.uuid4()))
        with self.app.app_context(), transaction():
            shown, total = baseline_search(actor, text, self.providers)
        self.results["raw"] += len(shown)
        self.totals["raw"] += total

    def integrate(self) -> float:
        """Integrate the audit entries written so far (what the after-commit integrator would
        do in a request process); returns the seconds it took."""
        from audit import log

        started = time.perf_counter()
        with self.app.app_context():
            log.integrate_opportunistically(self.app.extensions["hub_db_engine"])
        return time.perf_counter() - started


# --- where the time goes -----------------------------------------------------------------


@contextlib.contextmanager
def _timers(engine: sa.Engine, into: list[dict[str, float]]) -> Iterator[None]:
    """Add the time spent in the sharing path's steps (and SQL statements and their time) to
    `into[0]` while the block runs, by wrapping the module attributes the path calls (nested
    steps each count their own time: the own search includes its ranking)."""
    from agreements import services as agreement_services
    from audit import services as audit_services
    from hub.records import shareable
    from hub.records.sharing import services as shared
    from hub.records.speakers import search

    patches: list[tuple[Any, str, Any]] = []

    def wrap(module: Any, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = into[0]
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started

        patches.append((module, name, original))
        setattr(module, name, timed)

    wrap(search, "candidates", CANDIDATES_STEP)
    wrap(search, "rank", "ranking (Python, own and partners)")
    wrap(shared, "find_speakers", "finding own and partner speakers (SQL and ranking)")
    wrap(agreement_services, "providers_for", "agreements in force (providers_for)")
    wrap(shareable, "speaker", "building shareable records")
    wrap(agreement_services, "would_disclose", "would_disclose (totals)")
    wrap(agreement_services, "disclose", "disclose (incl. its audit entries)")
    wrap(agreement_services, "audit_records", "audit entries of disclose (one statement)")
    wrap(audit_services, "record", "audit entry of the search")
    started_at: list[float] = []

    def before(*_args: Any) -> None:
        started_at.append(time.perf_counter())

    def after(*_args: Any) -> None:
        spent = into[0]
        spent["SQL statements"] = spent.get("SQL statements", 0) + 1
        spent["SQL time"] = spent.get("SQL time", 0.0) + time.perf_counter() - started_at.pop()

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        for module, name, original in reversed(patches):
            setattr(module, name, original)


def profile(
    paths: Paths, engine: sa.Engine, asked: list[Any]
) -> tuple[dict[str, dict[str, float]], str, tuple[int, float, float]]:
    """Per-query time in each step of both paths over `asked` (each query through both, which
    goes first alternating), then cProfile over the full path: its top functions, and the
    lazy loads (calls, seconds) out of the profiled seconds."""
    steps: dict[str, dict[str, float]] = {"full": {}, "raw": {}}
    into: list[dict[str, float]] = [{}]
    with _timers(engine, into):
        for number, query in enumerate(asked):
            for label in ("full", "raw") if number % 2 == 0 else ("raw", "full"):
                into[0] = steps[label]
                started = time.perf_counter()
                getattr(paths, label)(query.text)
                steps[label]["total"] = steps[label].get("total", 0.0) + (
                    time.perf_counter() - started
                )
    into[0] = {}
    steps["full"]["audit integration"] = paths.integrate()
    steps["full"]["total"] += steps["full"]["audit integration"]
    steps = {label: {k: v / len(asked) for k, v in spent.items()} for label, spent in steps.items()}
    profiler = cProfile.Profile()
    profiler.enable()
    for query in asked:
        paths.full(query.text)
    profiler.disable()
    paths.integrate()
    stream = _Lines()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(12)
    lazy = [v for k, v in stats.stats.items() if k[2] == "_emit_lazyload"]  # type: ignore[attr-defined]
    lazy_calls = sum(v[1] for v in lazy)
    lazy_seconds = sum(v[3] for v in lazy)
    return steps, stream.text(), (lazy_calls, lazy_seconds, stats.total_tt)  # type: ignore[attr-defined]


class _Lines:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


# --- the benchmark -------------------------------------------------------------------------


def _time_block(run: Callable[[str], None], asked: list[Any]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for query in asked:
        t = time.perf_counter()
        run(query.text)
        latencies.append((time.perf_counter() - t) * 1000)
    return time.perf_counter() - started, latencies


def run() -> Suite:
    """Set up the sharing hub, time both paths side by side and check the disclosures."""
    from core import migrations
    from core.db import db
    from hub.app import create_app
    from partners import signin

    suite = Suite("Sharing: search through disclose() (issue 5), PostgreSQL")
    url = fresh_database(DATABASE)
    app = create_app(
        {
            "database_url": url,
            "instance_path": Path(tempfile.mkdtemp(prefix="hub-bench-sharing-")),
            "secret_key": "bench-only-secret",
            # Integration is run explicitly at the end of each full-path block and timed
            # with it (the after-commit thread would spill into the other path's block).
            "audit_integrate_after_commit": False,
        }
    )
    engine = app.extensions["hub_db_engine"]
    rng = random.Random(SEED)
    try:
        with app.app_context():
            migrations.upgrade(url)
            started = time.perf_counter()
            org_ids, signatories, searcher = _organisations_and_people()
            db.session.commit()
            sample, seconds = _load(engine, org_ids, rng)
            started_agreements = time.perf_counter()
            _agreements(org_ids, signatories)
            db.session.commit()
            seconds["agreements"] = time.perf_counter() - started_agreements
            actor = signin.actor_for(searcher)
            from agreements import services as agreements

            providers = agreements.providers_for(actor, "speaker", PURPOSE) - {actor.org_id}
            counts = dict(
                zip(
                    ("speakers", "names", "aliases"),
                    db.session.execute(
                        sa.text(
                            "SELECT (SELECT count(*) FROM speakers), "
                            "(SELECT count(*) FROM speaker_names), "
                            "(SELECT count(*) FROM speaker_aliases)"
                        )
                    ).one(),
                    strict=True,
                )
            )
            db.session.commit()
            seconds["total"] = time.perf_counter() - started
        db.session.remove()
        expected = expected_covers()
        require(providers == {str(org_ids[p]) for p in expected}, "providers differ from the plan")
        searched = {SEARCHER, *expected}
        pool = [s for s in sample if s.org in searched]
        wanted = WARM_UP + ROUNDS * PER_ROUND + PROFILED
        asked = search_bench.queries(pool, wanted, rng)
        if len(asked) < wanted:
            raise RuntimeError(f"only {len(asked)} queries for {wanted}: raise the size")
        warm, timed, profiled = (
            asked[:WARM_UP],
            asked[WARM_UP : WARM_UP + ROUNDS * PER_ROUND],
            asked[WARM_UP + ROUNDS * PER_ROUND :],
        )
        paths = Paths(app, actor, providers)
        print("warming up both paths ...", flush=True)
        for query in warm:
            paths.full(query.text)
            paths.raw(query.text)
        paths.integrate()
        paths.results = {"full": 0, "raw": 0}
        paths.totals = {"full": 0, "raw": 0}
        print(f"timing {ROUNDS} rounds of {PER_ROUND} queries through both paths ...", flush=True)
        rates: dict[str, list[float]] = {"full": [], "raw": [], "full_requests": []}
        latencies: dict[str, list[float]] = {"full": [], "raw": []}
        integration: list[float] = []
        for number in range(ROUNDS):
            block = timed[number * PER_ROUND : (number + 1) * PER_ROUND]
            order = ("full", "raw") if number % 2 == 0 else ("raw", "full")
            for label in order:
                seconds_taken, times = _time_block(getattr(paths, label), block)
                if label == "full":
                    integrated = paths.integrate()
                    integration.append(integrated)
                    rates["full_requests"].append(len(block) / seconds_taken)
                    seconds_taken += integrated
                rates[label].append(len(block) / seconds_taken)
                latencies[label].extend(times)
            print(
                f"  round {number + 1}: full {rates['full'][-1]:.2f}/s, "
                f"raw {rates['raw'][-1]:.2f}/s",
                flush=True,
            )
        timed_count = ROUNDS * PER_ROUND
        shown_timed = {k: v / timed_count for k, v in paths.results.items()}
        totals_timed = {k: v / timed_count for k, v in paths.totals.items()}
        print("profiling ...", flush=True)
        steps, top, (lazy_calls, lazy_seconds, profiled_seconds) = profile(paths, engine, profiled)
        print("checking the disclosures ...", flush=True)
        checked = check_minimised(app, paths.shown, org_ids)
        with app.app_context():
            audited = dict(
                db.session.execute(
                    sa.text(
                        "SELECT action, count(*) FROM audit_entries WHERE action IN "
                        "('disclosure', 'speaker.search') GROUP BY action"
                    )
                ).all()
            )
            leaves = db.session.scalar(sa.text("SELECT count(*) FROM audit_leaves"))
            entries = db.session.scalar(sa.text("SELECT count(*) FROM audit_entries"))
            db.session.rollback()
        db.session.remove()
        require(audited.get("disclosure", 0) == paths.disclosed, (audited, paths.disclosed))
        asked_full = WARM_UP + timed_count + 2 * PROFILED
        require(audited.get("speaker.search", 0) == asked_full, audited)
    finally:
        db.session.remove()
        engine.dispose()
        server = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        server.dispose()

    full, raw = median(rates["full"]), median(rates["raw"])
    ratio = 100 * full / raw
    suite.add(
        f"search through disclose(), {ROUNDS} rounds x {PER_ROUND} queries (median round)",
        full,
        "queries/s",
    )
    suite.add("same search without minimisation and audit (median round)", raw, "queries/s")
    suite.add(
        "throughput through disclose() / without",
        ratio,
        "%",
        f">= {TARGET:.0f} %",
        ratio >= TARGET,
    )
    p95, middle = percentile(latencies["full"], 95), median(latencies["full"])
    suite.add(
        "through disclose(), p95 latency", p95, "ms", f"< {P95_TARGET:.0f} ms", p95 < P95_TARGET
    )
    suite.add("without minimisation and audit, p95 latency", percentile(latencies["raw"], 95), "ms")
    suite.add(
        "through disclose(), median latency",
        middle,
        "ms",
        f"< {MEDIAN_TARGET:.0f} ms",
        middle < MEDIAN_TARGET,
    )
    suite.add("without minimisation and audit, median latency", median(latencies["raw"]), "ms")
    per_round = [100 * f / r for f, r in zip(rates["full"], rates["raw"], strict=True)]
    suite.add("ratio per round, lowest", min(per_round), "%")
    suite.add("ratio per round, highest", max(per_round), "%")
    requests_only = 100 * median(rates["full_requests"]) / raw
    suite.add("ratio with audit integration left out (request path only)", requests_only, "%")
    suite.add(
        "disclosure audit entries written by the run", audited.get("disclosure", 0), "entries"
    )
    suite.add(
        "speaker.search audit entries written by the run",
        audited.get("speaker.search", 0),
        "entries",
    )

    suite.notes.append(
        f"Set-up (untimed): {counts['speakers']:,} speakers ({counts['names']:,} names, "
        f"{counts['aliases']:,} aliases; each also has a topic, an affiliation and a source) "
        f"over {ORGS} organisations, all 'shareable': COPY {seconds['copy']:.0f} s (search_bench's "
        f"generator and loader), details in SQL {seconds['details']:.0f} s, search indexes and "
        f"VACUUM ANALYZE {seconds['indexes']:.0f} s, 20 organisations with people and "
        f"{len(AGREEMENTS)} agreements through the services {seconds['agreements']:.1f} s; "
        f"{seconds['total']:.0f} s in all."
    )
    plan = expected_covers()
    described = "; ".join(
        f"org {p}: {profile} ({reference})" for p, (reference, profile) in sorted(plan.items())
    )
    suite.notes.append(
        f"Agreements: {len(AGREEMENTS)} approved through agreements.lifecycle (create_draft, "
        f"propose, approve by each party's signatory), all naming `{PURPOSE}`. The searcher, an "
        f"events officer at org 0, receives speakers from {len(plan)} partners (about "
        f"{len(plan) * SPEAKERS // ORGS:,} partner speakers, plus 0's own): {described}. "
        "Orgs 1, 2, 3 and 5 are covered by two agreements each (the one giving most is used); "
        "two agreements give org 0 nothing (11<->12, and 0 -> 13)."
    )
    suite.notes.append(
        f"Timing: {ROUNDS} rounds of {PER_ROUND} queries (after {WARM_UP} warm-up queries "
        "through both paths), each round's queries new and run through both paths, the path "
        "that goes first alternating by round, in one process on one connection pool. Each "
        "query runs as a request would: its own app context and session, one commit. "
        "Throughput is a round's queries over its block's time; the figures are medians of "
        "rounds; latencies are per query over all rounds. The full path's block also includes "
        "integrating the audit entries it wrote into the Merkle tree (run explicitly when the "
        "block ends; the after-commit thread is turned off so that it cannot run during the "
        "other path's block); the 'request path only' ratio leaves that out. Mix as in the "
        "search benchmark (exact, slip, transliteration, swapped, surname only, absent), "
        "drawn from speakers of org 0 and its ten providers. Pages of 20 results."
    )
    suite.notes.append(
        "The baseline (`baseline_search` in this file) calls what `shared.search_speakers` "
        "calls, minus the agreements: `shared.find_speakers` (the candidate stages over org 0 "
        "and the same ten providers in one statement each, their set fixed at set-up, not "
        "looked up in the agreements per query, and `search.rank` with the same cut: score "
        ">= MIN_SCORE, 100 own and 200 partner matches), the organisation names, then loads "
        "only the page's partner speakers and returns them as held (every field, no "
        "projection), with the same eager loading the full path uses for its page. It "
        "leaves out: `check_purpose` and `providers_for` (the agreements in force), reading "
        "the owner, distribution and name of all up to 200 partner matches to count them, "
        "`would_disclose` (totals count only what "
        "would be disclosed), `disclose` (minimisation through the schedule, pseudonym keys, "
        "one audit entry per disclosed record, written in one statement), the search's own "
        "audit entry, and audit "
        "integration. Its totals count every match (including alias hits a schedule withholds)."
    )
    suite.notes.append(
        f"Per query in the timed rounds: the full path showed {shown_timed['full']:.1f} "
        f"results of {totals_timed['full']:.1f} counted, the baseline {shown_timed['raw']:.1f} "
        f"of {totals_timed['raw']:.1f}. Audit: {audited.get('disclosure', 0):,} disclosure and "
        f"{audited.get('speaker.search', 0):,} search entries written (warm-up, timed and "
        f"profiled queries; equal to the partner results shown and the queries asked), "
        f"{leaves:,} of {entries:,} entries integrated. Integration took "
        f"{1000 * sum(integration) / timed_count:.1f} ms per query."
    )
    suite.notes.append(
        "Minimisation checked (asserted, not a test) on every partner result the full path "
        f"returned ({sum(checked.values()):,}: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(checked.items()))
        + "): disclosed under the agreement expected for its provider, exactly the fields it "
        "gives, full values equal to the record, masked values masked and unequal, "
        "pseudonymised ones `psn:` pseudonyms, no trace of the display name where it is not "
        "given in full, aliases absent where withheld."
    )
    full_steps, raw_steps = steps["full"], steps["raw"]
    order = [
        "finding own and partner speakers (SQL and ranking)",
        CANDIDATES_STEP,
        "ranking (Python, own and partners)",
        "agreements in force (providers_for)",
        "building shareable records",
        "would_disclose (totals)",
        "disclose (incl. its audit entries)",
        "audit entries of disclose (one statement)",
        "audit entry of the search",
        "audit integration",
    ]
    parts = ", ".join(
        f"{name} {1000 * full_steps[name]:.1f}"
        + (f" (baseline {1000 * raw_steps[name]:.1f})" if name in raw_steps else "")
        for name in order
        if name in full_steps
    )
    suite.notes.append(
        f"Where the time goes ({PROFILED} further queries through both paths, alternating "
        "which goes first, with timers wrapped round the steps; nested steps each count their "
        f"own time; ms per query): full path {1000 * full_steps['total']:.1f} "
        f"in all, baseline {1000 * raw_steps['total']:.1f}; {parts}. SQL statements per "
        f"query: full {full_steps['SQL statements']:.0f} ({1000 * full_steps['SQL time']:.1f} ms "
        f"in the driver), baseline {raw_steps['SQL statements']:.0f} "
        f"({1000 * raw_steps['SQL time']:.1f} ms)."
    )
    suite.notes.append(
        f"cProfile over the same {PROFILED} queries through the full path: "
        f"{lazy_calls / PROFILED:.0f} lazy loads per query (SQLAlchemy `_emit_lazyload`: the "
        "aliases, affiliations, sources, topics and appearances `shareable.speaker` reads for "
        f"each partner match) took {100 * lazy_seconds / profiled_seconds:.0f} % of the "
        "profiled time."
    )
    print(top)
    return suite
