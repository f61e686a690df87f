"""What each index on the audit write costs (issue 16, item 5), and which reader needs it.

A scratch PostgreSQL database is filled (COPY) with a year of a regional hub's audit entries
(`BENCH_AUDIT_INDEX_ENTRIES`, 1,000,000 by default: disclosures under agreements, own reads and
searches, changes, sign-ins, tokens, refusals, reviews), with their subjects and records in the
side tables, at the revision before the index migration (`INDEX_REVISION`).

- Each reader of the log (the review pages, the API, `audit.queries`, the agreement register)
  is run as the hub runs it, its statements captured at the cursor and EXPLAIN ANALYZEd: which
  indexes each plan uses, before the migration and after it.
- Requests of 1 and 20 disclosures are written through the hub's own write path
  (`audit.services.record_many`: one statement on PostgreSQL) and committed one by one, before
  and after the migration, in alternating rounds (the schema migrated down and up between).
- Each index and foreign key is priced alone: blocks of requests written in one transaction
  with everything in place, and in one that first drops it (DDL is transactional: the rollback
  restores the index at once, unbuilt, and leaves the tables as they were), the pairs
  alternating. Measured: the server process's CPU time per entry (from the kernel, far less
  disturbed than elapsed time by the other work on this shared machine) and the WAL the insert
  writes per entry (EXPLAIN (ANALYZE, WAL) of a captured insert).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import SERVER_URL, Suite, fresh_database, median

ENTRIES = int(os.environ.get("BENCH_AUDIT_INDEX_ENTRIES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_AUDIT_INDEX_ROUNDS", "3"))
#: Requests per measurement, by the number of entries each writes (one disclosure, a page).
REQUESTS = {1: 200, 20: 25}
DATABASE = "hub_bench_audit_index"
DAY_MS = 86_400_000
#: The tables every audited request writes (the leaves and tree are the integrator's).
WRITE_TABLES = ("audit_entries", "audit_entry_subjects", "audit_entry_resources", "audit_pending")
#: Readers the captured queries do not show: the integrator and `audit verify` (run over the
#: whole log, not by a page) and what a key holds by itself.
OTHER_READERS = {
    "pk_audit_entry_subjects": "`audit verify` (each entry's subjects, by entry); one row per "
    "subject of an entry",
    "pk_audit_entry_resources": "none but itself (one row per record of an entry)",
    "pk_audit_pending": "the integrator (the queue, in order); one row per entry",
}
#: The audit tables' index migration: "before" is its parent, "after" is it.
INDEX_REVISION = os.environ.get("BENCH_AUDIT_INDEX_REVISION", "d2b4f6a8c0e1")


# --- a year of a regional hub ------------------------------------------------------------


@dataclass
class World:
    """The organisations, people, clients, agreements and records the entries are about."""

    rng: random.Random
    key: bytes
    orgs: list[str]
    hub_org: str
    people: list[tuple[str, str]]  # (actor reference, organisation)
    clients: list[tuple[str, str]]
    agreements: list[tuple[str, str, str, str]]  # (id, content hash, provider, recipient)
    speakers: list[tuple[str, str]]  # (id, owning organisation)
    events: list[tuple[str, str]]
    by_owner: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def make(cls, key: bytes, seed: int = 16) -> World:
        rng = random.Random(seed)

        def new_id() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        orgs = [new_id() for _ in range(60)]
        people = [(f"person:{new_id()}", orgs[rng.randrange(60)]) for _ in range(2400)]
        clients = [(f"client:{new_id()}", org) for org in orgs[:40]]
        agreements = []
        for _ in range(150):
            provider, recipient = rng.sample(orgs, 2)
            agreements.append((new_id(), f"{rng.getrandbits(256):064x}", provider, recipient))
        speakers = [(new_id(), orgs[rng.randrange(60)]) for _ in range(150_000)]
        events = [(new_id(), orgs[rng.randrange(60)]) for _ in range(50_000)]
        world = cls(rng, key, orgs, orgs[0], people, clients, agreements, speakers, events)
        for n, (_id, owner) in enumerate(speakers):
            world.by_owner.setdefault(owner, []).append(n)
        return world

    def pseudonym(self, kind: str, identifier: str) -> str:
        """As `audit.services.subject_pseudonym` makes it (the same key, so lookups match)."""
        return hmac.new(self.key, f"{kind}:{identifier}".encode(), hashlib.sha256).hexdigest()

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


#: Requests by kind, weighted as a regional hub's year might be.
REQUEST_KINDS = (
    ("share", 22),
    ("own_read", 30),
    ("own_search", 8),
    ("change", 8),
    ("sign_in", 10),
    ("token", 12),
    ("refusal", 3),
    ("review", 2),
    ("notification", 5),
)
FIELDS = ("aliases", "display_name")


def _requests(world: World) -> Iterator[tuple[str, str | None, list[dict[str, Any]]]]:
    """(actor, organisation, entries) per request, without end; entries as `entry` fields."""
    rng = world.rng
    kinds = [k for k, _ in REQUEST_KINDS]
    weights = [w for _, w in REQUEST_KINDS]
    while True:
        kind = rng.choices(kinds, weights)[0]
        if kind == "share":
            agreement_id, content_hash, provider, recipient = rng.choice(world.agreements)
            clients = [c for c in world.clients if c[1] == recipient]
            actor = clients[0][0] if clients and rng.random() < 0.5 else f"person:{world.new_id()}"
            owned = world.by_owner.get(provider) or [0]
            count = 1 if rng.random() < 0.7 else rng.randrange(5, 21)
            entries = []
            for _ in range(count):
                speaker = world.speakers[rng.choice(owned)][0]
                entries.append(
                    {
                        "action": "disclosure",
                        "outcome": "granted",
                        "resource_type": "speaker",
                        "resource_ids": [speaker],
                        "resource_org": provider,
                        "agreement_id": agreement_id,
                        "agreement_version": 1,
                        "agreement_hash": content_hash,
                        "purpose": "speaker_due_diligence",
                        "fields": list(FIELDS),
                        "subjects": [world.pseudonym("speaker", speaker)],
                        "details": {"level": "fields"},
                    }
                )
            if count > 1:
                entries.append(
                    {
                        "action": "speaker.search",
                        "outcome": "granted",
                        "details": {"returned": count},
                    }
                )
            yield actor, recipient, entries
        elif kind in ("own_read", "change"):
            actor, org = rng.choice(world.people)
            if rng.random() < 0.75:
                owned = world.by_owner.get(org) or [0]
                record_type, record = "speaker", world.speakers[rng.choice(owned)][0]
            else:
                record_type, record = "event", rng.choice(world.events)[0]
            verb = "read" if kind == "own_read" else rng.choice(("update", "create"))
            yield (
                actor,
                org,
                [
                    {
                        "action": f"{record_type}.{verb}",
                        "outcome": "granted",
                        "resource_type": record_type,
                        "resource_ids": [record],
                        "resource_org": org,
                        "subjects": [world.pseudonym(record_type, record)],
                    }
                ],
            )
        elif kind == "own_search":
            actor, org = rng.choice(world.people)
            entry = {"action": "speaker.search", "outcome": "granted"}
            yield actor, org, [{**entry, "details": {"returned": rng.randrange(0, 20)}}]
        elif kind == "sign_in":
            actor, org = rng.choice(world.people)
            account = world.pseudonym("account", f"{actor}@example.ac.uk")
            if rng.random() < 0.15:
                failed = {"action": "sign_in.password", "outcome": "failed"}
                yield (
                    "anonymous",
                    None,
                    [{**failed, "reason": "bad_password", "subjects": [account]}],
                )
            else:
                signed = {"action": "sign_in.password", "outcome": "granted"}
                yield actor, org, [{**signed, "subjects": [account]}]
        elif kind == "token":
            actor, org = rng.choice(world.clients)
            yield actor, org, [_token_entry(world, actor, org)]
        elif kind == "refusal":
            actor, org = rng.choice(world.people)
            speaker, owner = rng.choice(world.speakers)
            yield (
                actor,
                org,
                [
                    {
                        "action": "disclosure",
                        "outcome": "denied",
                        "reason": "no_agreement",
                        "resource_type": "speaker",
                        "resource_ids": [speaker],
                        "resource_org": owner,
                        "purpose": "speaker_due_diligence",
                        "subjects": [world.pseudonym("speaker", speaker)],
                        "details": {"status": 404},
                    }
                ],
            )
        elif kind == "review":
            actor, org = rng.choice(world.people)
            review = {"action": "audit.review", "outcome": "granted", "resource_type": "audit_log"}
            yield actor, org, [{**review, "details": {"page": "entries"}}]
        else:
            actor, org = rng.choice(world.people)
            yield actor, org, [{"action": "notification.list", "outcome": "granted"}]


#: The columns the prefill writes, in COPY order.
COPY_COLUMNS = (
    "seq",
    "uuid",
    "time_ms",
    "actor",
    "actor_org",
    "action",
    "outcome",
    "reason",
    "resource_type",
    "resource_ids",
    "resource_org",
    "agreement_id",
    "agreement_version",
    "agreement_hash",
    "purpose",
    "fields",
    "request_id",
    "details",
    "leaf",
    "leaf_hash",
)


def _json(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if value else None


def prefill(engine: sa.Engine, world: World, count: int, *, days: int = 365) -> None:
    """`count` entries over the last `days` days, as `audit.services.entry` lays them out, with
    their subjects and records, written with COPY; then VACUUM ANALYZE (as autovacuum would)."""
    from audit.merkle import leaf_hash
    from audit.services import LEAF_PREFIX, canonical_json

    now_ms = int(time.time() * 1000)
    start_ms = now_ms - days * DAY_MS
    step = days * DAY_MS / count
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        subjects: list[tuple[int, str]] = []
        resources: list[tuple[int, str, str | None]] = []
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")  # set-up, not a request
            statement = f"COPY audit_entries ({', '.join(COPY_COLUMNS)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                seq = 0
                for actor, org, entries in _requests(world):
                    if seq >= count:
                        break
                    request_id = world.new_id()
                    time_ms = int(start_ms + seq * step)
                    for fields in entries[: count - seq]:
                        seq += 1
                        body = {
                            "id": world.new_id(),
                            "time_ms": time_ms,
                            "actor": actor,
                            "actor_org": org,
                            "request_id": request_id,
                            **{k: v for k, v in fields.items() if k != "details"},
                        }
                        if fields.get("details"):
                            body["details"] = fields["details"]
                        leaf_body = {k: v for k, v in body.items() if v is not None and v != []}
                        leaf = LEAF_PREFIX + canonical_json(leaf_body)
                        copy.write_row(
                            (
                                seq,
                                body["id"],
                                time_ms,
                                actor,
                                org,
                                body["action"],
                                body["outcome"],
                                body.get("reason"),
                                body.get("resource_type"),
                                _json(body.get("resource_ids")),
                                body.get("resource_org"),
                                body.get("agreement_id"),
                                body.get("agreement_version"),
                                body.get("agreement_hash"),
                                body.get("purpose"),
                                _json(body.get("fields")),
                                request_id,
                                _json(body.get("details")),
                                leaf,
                                leaf_hash(leaf),
                            )
                        )
                        subjects.extend((seq, p) for p in body.get("subjects", ()))
                        resources.extend(
                            (seq, r, body.get("resource_type"))
                            for r in body.get("resource_ids", ())
                        )
            with cursor.copy("COPY audit_entry_subjects (entry_seq, pseudonym) FROM STDIN") as copy:
                for row in subjects:
                    copy.write_row(row)
            statement = (
                "COPY audit_entry_resources (entry_seq, resource_id, resource_type) FROM STDIN"
            )
            with cursor.copy(statement) as copy:
                for row in resources:
                    copy.write_row(row)
            # Integrated long ago but for the last minute's entries (the integrator keeps up).
            cursor.execute(
                "INSERT INTO audit_leaves (idx, entry_seq) SELECT seq - 1, seq FROM audit_entries "
                "WHERE seq <= %s",
                (count - 100,),
            )
            cursor.execute(
                "INSERT INTO audit_pending (entry_seq) SELECT seq FROM audit_entries "
                "WHERE seq > %s",
                (count - 100,),
            )
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('audit_entries', 'seq'), "
                "(SELECT max(seq) FROM audit_entries))"
            )
        connection.commit()
    finally:
        raw.close()
    vacuum(engine)


# --- the review pages' queries, as the hub runs them ----------------------------------------


@dataclass
class Plan:
    """One captured statement of a query, EXPLAINed: the scans it made and how long it took."""

    query: str
    sql: str
    scans: list[str]
    indexes: set[str]
    ms: float


def _readers(world: World) -> list[tuple[str, Callable[[], Any]]]:
    """Each read of the log a page, an API call or another package makes, by name: the hub's
    reviewers (who see every entry) and one organisation's, with typical filters."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from agreements import register
    from audit import activity, explain, queries, review
    from audit import services as audit
    from core.db import db
    from core.security import Actor, ActorKind

    def first(sql: str, **params: Any) -> Any:
        return db.session.execute(sa.text(sql), params).first()

    busiest = first(
        "SELECT resource_org FROM audit_entries WHERE resource_org IS NOT NULL "
        "GROUP BY resource_org ORDER BY count(*) DESC LIMIT 1"
    )[0]
    hub = Actor(ActorKind.PERSON, id=world.new_id(), org_id=world.hub_org, org_kind="hub")
    hub = Actor(**{**hub.__dict__, "roles": frozenset({"dpo"})})
    dpo = Actor(
        ActorKind.PERSON,
        id=world.new_id(),
        org_id=busiest,
        org_kind="university",
        roles=frozenset({"dpo"}),
    )
    client = Actor(ActorKind.CLIENT, id=world.new_id(), org_id=busiest)
    person = first("SELECT actor FROM audit_entries WHERE actor_org = :o LIMIT 1", o=busiest)[0]
    agreement_id, _hash, provider, recipient = world.agreements[0]
    disclosure = first(
        "SELECT seq FROM audit_entries WHERE action = 'disclosure' AND outcome = 'granted' "
        "AND resource_org = :o ORDER BY seq DESC LIMIT 1",
        o=busiest,
    )[0]
    speaker = first(
        "SELECT r.resource_id FROM audit_entry_resources r JOIN audit_entries e "
        "ON e.seq = r.entry_seq WHERE e.action = 'disclosure' AND e.resource_org = :o "
        "ORDER BY r.entry_seq DESC LIMIT 1",
        o=busiest,
    )[0]
    speakers = [speaker] + [world.speakers[n][0] for n in world.by_owner[busiest][:19]]
    pseudonym = world.pseudonym("speaker", speaker)
    size = first("SELECT count(*) FROM audit_leaves")[0]
    today = datetime.now(UTC).date()
    week = review.EntryFilter(date_from=today - timedelta(days=7), date_to=today)
    now = datetime.now(UTC)
    agreement = SimpleNamespace(
        id=agreement_id,
        content={"data_schedule": [{"provider": provider, "recipient": recipient}]},
        approved_at=now - timedelta(days=365),
        starts_at=now - timedelta(days=365),
        ends_at=now + timedelta(days=1),
        terminated_at=None,
    )
    f = review.EntryFilter
    return [
        ("entries page, hub reviewer, no filter", lambda: review.list_entries(hub, f())),
        ("entries page, organisation's DPO, no filter", lambda: review.list_entries(dpo, f())),
        ("entries page, page 20", lambda: review.list_entries(dpo, f(), page=20)),
        ("filter form choices, hub reviewer", lambda: review.filter_options(hub)),
        ("filter form choices, organisation's DPO", lambda: review.filter_options(dpo)),
        (
            "entries by person",
            lambda: review.list_entries(dpo, f(person_id=person.split(":", 1)[1])),
        ),
        (
            "entries by organisation, hub reviewer",
            lambda: review.list_entries(hub, f(organisation_id=busiest)),
        ),
        ("entries by agreement", lambda: review.list_entries(hub, f(agreement_id=agreement_id))),
        (
            "entries by purpose",
            lambda: review.list_entries(dpo, f(purpose="speaker_due_diligence")),
        ),
        ("entries by action (rare)", lambda: review.list_entries(hub, f(action="audit.review"))),
        (
            "entries by action, organisation's DPO",
            lambda: review.list_entries(dpo, f(action="sign_in.password")),
        ),
        ("entries by outcome (failed)", lambda: review.list_entries(hub, f(outcome="failed"))),
        ("entries in the last 7 days", lambda: review.list_entries(dpo, week)),
        (
            "a subject's history (pseudonym)",
            lambda: review.list_entries(dpo, f(pseudonym=pseudonym), oldest_first=True),
        ),
        ("refusals page, hub reviewer", lambda: review.list_entries(hub, f(refusals_only=True))),
        (
            "refusals page, organisation's DPO",
            lambda: review.list_entries(dpo, f(refusals_only=True)),
        ),
        ("refusal reasons", lambda: review.refusal_reasons(dpo, f())),
        ("export, last 7 days", lambda: review.export_entries(dpo, week)),
        ("one entry", lambda: review.get_entry(dpo, disclosure)),
        ("explain this access", lambda: explain.explain(dpo, disclosure)),
        ("activity page, hub reviewer", lambda: activity.activity(hub)),
        ("activity page, organisation's DPO", lambda: activity.activity(dpo)),
        ("API entries (range of leaves)", lambda: audit.read_entries(client, size - 100, size)),
        ("recipients of records (corrections)", lambda: queries.recipients_of("speaker", speakers)),
        (
            "refusals naming records (SAR)",
            lambda: queries.refusals_naming("speaker", speakers, busiest),
        ),
        (
            "disclosed about a subject (SAR)",
            lambda: queries.entries_about([pseudonym], busiest, refusals=False),
        ),
        (
            "refused about a subject (SAR)",
            lambda: queries.entries_about([pseudonym], busiest, refusals=True),
        ),
        ("agreement register statistics", lambda: register.disclosure_statistics(agreement)),
    ]


def _scans(node: dict[str, Any], found: list[str]) -> None:
    kind = node.get("Node Type", "")
    if "Index Name" in node:
        found.append(f"{kind} {node['Index Name']}")
    elif kind == "Seq Scan" and node.get("Relation Name", "").startswith("audit_"):
        found.append(f"Seq Scan {node['Relation Name']}")
    for child in node.get("Plans", ()):
        _scans(child, found)


def query_plans(app: Any, world: World) -> list[Plan]:
    """Every statement the readers run on the audit tables, EXPLAIN ANALYZEd (warm, second
    run), with the scans each made."""
    from core.db import db

    engine = app.extensions["hub_db_engine"]
    captured: list[tuple[str, str, Any]] = []
    current = [""]

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and re.search(
            r"\baudit_(entries|entry_subjects|entry_resources|leaves)\b", statement
        ):
            captured.append((current[0], statement, parameters))

    with app.test_request_context():
        readers = _readers(world)
        db.session.rollback()
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            for name, read in readers:
                current[0] = name
                read()
                db.session.rollback()
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
    plans = []
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
            for name, statement, parameters in captured:
                for _ in range(2):  # the second run, warm
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                    (explained,) = cursor.fetchone()
                top = explained[0]
                found: list[str] = []
                _scans(top["Plan"], found)
                indexes = {s.split(" ")[-1] for s in found if not s.startswith("Seq Scan")}
                plans.append(Plan(name, statement, found, indexes, top["Execution Time"]))
        connection.rollback()
    finally:
        raw.close()
    return plans


# --- the write, as a request makes it ---------------------------------------------------------


def _token_entry(world: World, actor: str, org: str) -> dict[str, Any]:
    """A token's issuance, as `partners.oauth.server.save_token` audits it."""
    return {
        "action": "oauth.token",
        "outcome": "granted",
        "resource_type": "oauth_client",
        "resource_ids": [actor.split(":", 1)[1]],
        "resource_org": org,
        "details": {"dpop": "no", "scopes": ["speakers:read"], "token_id": world.new_id()},
    }


def _request(world: World, size: int, kind: str = "disclosure") -> tuple[Any, list[dict[str, Any]]]:
    """A request writing `size` entries of `kind`, as the hub writes them: disclosures (a
    partner's read of shared records, the hot path), or token issuances (no agreement, subject
    or purpose)."""
    from audit.services import AgreementRef
    from core.security import Actor, ActorKind

    rng = world.rng
    if kind == "token":
        client, org = rng.choice(world.clients)
        actor = Actor(ActorKind.CLIENT, id=client.split(":", 1)[1], org_id=org)
        entry = _token_entry(world, client, org)
        details = entry.pop("details")
        return actor, [{**entry, **details, "token_id": world.new_id()} for _ in range(size)]
    agreement_id, content_hash, provider, recipient = rng.choice(world.agreements)
    actor = Actor(
        ActorKind.CLIENT, id=world.new_id(), org_id=recipient, purpose="speaker_due_diligence"
    )
    owned = world.by_owner.get(provider) or [0]
    entries = []
    for _ in range(size):
        speaker = world.speakers[rng.choice(owned)][0]
        entries.append(
            {
                "action": "disclosure",
                "outcome": "granted",
                "resource_type": "speaker",
                "resource_ids": [speaker],
                "resource_org": provider,
                "agreement": AgreementRef(agreement_id, 1, content_hash),
                "purpose": "speaker_due_diligence",
                "fields": FIELDS,
                "subjects": [("speaker", speaker)],
                "level": "fields",
            }
        )
    return actor, entries


def _cpu_ns(pid: int) -> int:
    """Nanoseconds process `pid` has run on a CPU (Linux; the server runs on this machine)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


@dataclass
class Block:
    """Requests of `size` entries written through `record_many` in one transaction."""

    size: int
    requests: int
    write_ms: float  # per request, median: the entries built and inserted (one statement)
    #: CPU time of the server process serving the inserts, per entry (the kernel's scheduler
    #: statistics: much less touched by other work on the machine than elapsed time, and free
    #: of the client's share, which no index changes).
    server_cpu_us: float


def block(
    app: Any,
    world: World,
    size: int,
    requests: int,
    drops: tuple[str, ...] = (),
    kind: str = "disclosure",
) -> Block:
    """`requests` requests of `size` entries each, written through `record_many` in one
    transaction that first runs `drops`: dropping an index is transactional, so the rollback at
    the end restores it at once, without a rebuild, and leaves the tables as they were."""
    from audit import services as audit
    from core.db import db

    work = [_request(world, size, kind) for _ in range(requests)]
    with app.app_context():
        session = db.session()
        backend = session.scalar(sa.text("SELECT pg_backend_pid()"))
        for statement in drops:
            session.execute(sa.text(statement))
        times = []
        cpu = _cpu_ns(backend)
        for actor, entries in work:
            started = time.perf_counter()
            audit.record_many(actor, entries)
            times.append((time.perf_counter() - started) * 1000)
        cpu = _cpu_ns(backend) - cpu
        session.rollback()
    return Block(size, requests, median(times), cpu / 1000 / (size * requests))


@dataclass
class Wal:
    """WAL written per entry by the write path's insert, by relation: the records themselves,
    and the full-page images (the first change to a page after each checkpoint is logged as
    the whole page: paid far more often by indexes on random keys, whose inserts land on a
    different page each time, than by those that append)."""

    records: dict[str, float]
    images: dict[str, float]

    def total(self) -> float:
        return sum(self.records.values()) + sum(self.images.values())


def wal_by_relation(
    app: Any, world: World, size: int, kind: str = "disclosure", repeats: int = 10
) -> Wal:
    """What `repeats` inserts of `size` entries wrote to the WAL, per entry and relation, read
    back with pg_walinspect by the transaction's id (the server's WAL position alone would
    count every other database on this shared server too). Each insert is the write path's
    own statement, captured from `record_many` (and undone), run again and committed."""
    from audit import services as audit
    from core.db import db

    engine = app.extensions["hub_db_engine"]
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "INSERT INTO audit_entries" in statement:
            captured.append((statement, parameters))

    with app.app_context():
        session = db.session()
        session.execute(sa.text("SELECT 1"))  # the transaction the savepoints sit in
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            for _ in range(repeats):
                savepoint = session.begin_nested()
                audit.record_many(*_request(world, size, kind))
                savepoint.rollback()
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
            session.rollback()
    records: dict[int, float] = {}
    images: dict[int, float] = {}
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor:
            for statement, parameters in captured:
                cursor.execute("SELECT pg_current_wal_insert_lsn(), txid_current() % 4294967296")
                start, xid = cursor.fetchone()
                cursor.execute(statement, parameters)
                cursor.execute("SELECT pg_current_wal_insert_lsn()")
                (end,) = cursor.fetchone()
                connection.commit()
                cursor.execute(
                    "SELECT record_length, fpi_length, block_ref "
                    "FROM pg_get_wal_records_info(%s, %s) WHERE xid::text = %s",
                    (start, end, str(xid)),
                )
                for length, image, refs in cursor.fetchall():
                    node = int(re.search(r"rel \d+/\d+/(\d+)", refs or "rel 0/0/0").group(1))
                    records[node] = records.get(node, 0) + (length - image) / size / len(captured)
                    images[node] = images.get(node, 0) + image / size / len(captured)
            cursor.execute(
                "SELECT relfilenode, relname FROM pg_class WHERE relfilenode = ANY(%s)",
                (list(records),),
            )
            names = dict(cursor.fetchall())
        connection.commit()
    finally:
        raw.close()
    return Wal(
        {names.get(n, "other"): v for n, v in records.items()},
        {names.get(n, "other"): v for n, v in images.items()},
    )


@dataclass
class Sample:
    """Requests of `size` entries, each written by `record_many` and committed."""

    size: int
    write_ms: list[float]
    commit_ms: list[float]
    server_cpu_us: float  # per entry, the commits included

    @property
    def request_ms(self) -> float:
        """Median time of one request's audit write and commit."""
        return median([w + c for w, c in zip(self.write_ms, self.commit_ms, strict=True)])

    @property
    def entries_per_second(self) -> float:
        """Entries written and committed per second by one writer."""
        elapsed = (sum(self.write_ms) + sum(self.commit_ms)) / 1000
        return self.size * len(self.write_ms) / elapsed


def committed(app: Any, world: World, size: int, requests: int, kind: str = "disclosure") -> Sample:
    """`requests` requests of `size` disclosures each, written through `record_many` and
    committed one by one, as requests make them."""
    from audit import services as audit
    from core.db import db

    work = [_request(world, size, kind) for _ in range(requests)]
    write_ms, commit_ms = [], []
    with app.app_context():
        session = db.session()
        # The connection, before the clock starts; its server process stays for the loop.
        backend = session.scalar(sa.text("SELECT pg_backend_pid()"))
        session.commit()
        cpu = _cpu_ns(backend)
        for actor, entries in work:
            started = time.perf_counter()
            audit.record_many(actor, entries)
            written = time.perf_counter()
            session.commit()
            write_ms.append((written - started) * 1000)
            commit_ms.append((time.perf_counter() - written) * 1000)
        cpu = _cpu_ns(backend) - cpu
    return Sample(size, write_ms, commit_ms, cpu / 1000 / (size * requests))


# --- dropping one index at a time ---------------------------------------------------------------


@dataclass(frozen=True)
class Structure:
    """An index (or the constraint it backs, or a foreign key) on a table the write fills, with
    the statements that drop it and make it again."""

    name: str
    table: str
    kind: str  # "index", "unique", "primary key", "foreign key"
    definition: str
    drop: str
    restore: str


def structures(engine: sa.Engine) -> list[Structure]:
    """Every index and foreign key on the tables each audited request writes, but the entries'
    primary key (which the foreign keys reference and every reader joins on)."""
    found = []
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT c.relname AS tbl, i.relname AS name, pg_get_indexdef(x.indexrelid) AS def,"
                " con.contype, pg_get_constraintdef(con.oid) AS condef "
                "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_class c ON c.oid = x.indrelid "
                "LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN "
                "('p', 'u') WHERE c.relname = ANY(:tables) ORDER BY c.relname, i.relname"
            ),
            {"tables": list(WRITE_TABLES)},
        ).all()
        for table, name, definition, contype, condef in rows:
            if name == "pk_audit_entries":
                continue
            if contype:
                kind = "primary key" if contype == "p" else "unique"
                found.append(
                    Structure(
                        name,
                        table,
                        kind,
                        condef,
                        f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                        f"ALTER TABLE {table} ADD CONSTRAINT {name} {condef}",
                    )
                )
            else:
                found.append(
                    Structure(name, table, "index", definition, f"DROP INDEX {name}", definition)
                )
        keys = connection.execute(
            sa.text(
                "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint "
                "con JOIN pg_class c ON c.oid = con.conrelid WHERE con.contype = 'f' "
                "AND c.relname = ANY(:tables) ORDER BY c.relname"
            ),
            {"tables": list(WRITE_TABLES)},
        ).all()
        for table, name, definition in keys:
            found.append(
                Structure(
                    name,
                    table,
                    "foreign key",
                    definition,
                    f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                    f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}",
                )
            )
    return found


def sizes(engine: sa.Engine) -> dict[str, int]:
    """Each index's size in bytes, on the tables the write fills."""
    with engine.connect() as connection:
        return dict(
            connection.execute(
                sa.text(
                    "SELECT i.relname, pg_relation_size(x.indexrelid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c "
                    "ON c.oid = x.indrelid WHERE c.relname = ANY(:tables)"
                ),
                {"tables": [*WRITE_TABLES, "audit_leaves"]},
            ).all()
        )


# --- the suite ------------------------------------------------------------------------------------


@dataclass
class IndexSuite(Suite):
    """The suite's table and notes, then its per-index and per-query tables."""

    sections: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return super().markdown() + "".join("\n" + section for section in self.sections)


def _spread(values: list[float], unit: str = "us") -> str:
    """The median and, as the noise, the interquartile range of paired differences."""
    low, _mid, high = statistics.quantiles(values, n=4)
    return f"{median(values):.1f} {unit} [{low:.1f}, {high:.1f}]"


def cost_of(
    app: Any,
    world: World,
    drops: tuple[str, ...],
    *,
    pairs: int,
    size: int,
    requests: int,
    kind: str = "disclosure",
) -> list[float]:
    """Server CPU per entry saved by `drops`: paired blocks, everything in place against `drops`
    applied, the order alternating each pair (so that drift in the machine's load falls on
    both alike)."""
    saved = []
    for n in range(pairs):
        order = ((), drops) if n % 2 == 0 else (drops, ())
        done = {d: block(app, world, size, requests, d, kind) for d in order}
        saved.append(done[()].server_cpu_us - done[drops].server_cpu_us)
    return saved


def _revisions() -> tuple[str, str]:
    """The revision before the audit index migration, and that migration."""
    from alembic.script import ScriptDirectory

    from core.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    down = script.get_revision(INDEX_REVISION).down_revision
    assert isinstance(down, str), "the index migration has one parent"
    return down, INDEX_REVISION


def _migrate(url: str, revision: str) -> float:
    """Seconds taken to bring the schema at `url` to `revision`, up or down."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from core.db import make_engine
    from core.migrations import alembic_config

    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    script = ScriptDirectory.from_config(config)
    below = {r.revision for r in script.iterate_revisions(revision, "base")}
    started = time.perf_counter()
    if current is None or current in below:
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)
    return time.perf_counter() - started


def vacuum(engine: sa.Engine) -> None:
    """VACUUM ANALYZE the write's tables, as autovacuum would (after the COPY, and after the
    measurements' rolled-back inserts)."""
    raw = engine.raw_connection()
    connection = raw.driver_connection
    try:
        connection.autocommit = True  # VACUUM runs outside a transaction
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
            for table in (*WRITE_TABLES, "audit_leaves"):
                cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute("RESET statement_timeout")
    finally:
        connection.autocommit = False  # as the pool lent it
        raw.close()


def _clone(source: str, name: str) -> str:
    """A copy of the database at `source` (which nothing may be connected to) named `name`."""
    url = fresh_database(name)
    engine = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}"')
            for attempt in range(30):  # autovacuum may still be reading the source
                try:
                    connection.exec_driver_sql(
                        f'CREATE DATABASE "{name}" TEMPLATE "{sa.make_url(source).database}"'
                    )
                    break
                except sa.exc.OperationalError:
                    if attempt == 29:
                        raise
                    time.sleep(1)
    finally:
        engine.dispose()
    return url


def _app(url: str) -> Any:
    from hub.app import create_app

    return create_app(
        {
            "database_url": url,
            "instance_path": Path(tempfile.mkdtemp(prefix="hub-bench-")),
            "secret_key": "bench-only-secret",
            # Entries are appended only: the integrator's work is not the write's.
            "audit_integrate_after_commit": False,
            "mail_send_after_commit": False,
        }
    )


def run() -> Suite:
    """Per-index write costs on PostgreSQL, and the readers' plans before and after."""
    suite = IndexSuite("Audit write: what each index costs (issue 16, item 5), PostgreSQL")
    before, after = _revisions()
    url = fresh_database(DATABASE)
    app = _app(url)
    load = [os.getloadavg()[0]]
    with app.app_context():
        _migrate(url, before)
    engine = app.extensions["hub_db_engine"]
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        connection.commit()
    # The pseudonym key lives in the app's instance folder: both apps below share it.
    world = World.make(app.config["HUB_AUDIT_PSEUDONYM_KEY"])
    print(f"loading {ENTRIES:,} entries ...", flush=True)
    started = time.perf_counter()
    prefill(engine, world, ENTRIES)
    loaded = time.perf_counter() - started
    with engine.connect() as connection:
        counts = {
            table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            for table in WRITE_TABLES[:3]
        }

    print("plans before ...", flush=True)
    plans_before = query_plans(app, world)
    found = structures(engine)
    size_before = sizes(engine)
    engine.dispose()
    print("a copy, migrated ...", flush=True)
    url_after = _clone(url, DATABASE + "_after")
    app_after = _app(url_after)
    app_after.config["HUB_AUDIT_PSEUDONYM_KEY"] = app.config["HUB_AUDIT_PSEUDONYM_KEY"]
    with app_after.app_context():
        migration_s = {"up": [_migrate(url_after, after)]}
    engine_after = app_after.extensions["hub_db_engine"]
    found_after = structures(engine_after)
    size_after = sizes(engine_after)

    print("requests, committed, before and after, alternating ...", flush=True)
    apps = {before: app, after: app_after}
    samples: dict[tuple[str, int], list[Sample]] = {}
    for n in range(ROUNDS * 4):
        for revision in (before, after) if n % 2 == 0 else (after, before):
            for size, requests in REQUESTS.items():
                sample = committed(apps[revision], world, size, requests)
                samples.setdefault((revision, size), []).append(sample)
    wal = {
        (revision, kind): wal_by_relation(
            apps[revision], world, 20 if kind == "disclosure" else 1, kind
        )
        for revision in (before, after)
        for kind in ("disclosure", "token")
    }
    load.append(os.getloadavg()[0])

    print("each index's cost ...", flush=True)
    pairs = ROUNDS * 10
    costs: dict[str, list[float]] = {}
    for structure in found:
        drops = (structure.drop,)
        costs[structure.name] = cost_of(app, world, drops, pairs=pairs, size=20, requests=50)
        print(f"  {structure.name}: {_spread(costs[structure.name])}", flush=True)
    changes = _difference(found, found_after)
    whole = cost_of(app, world, changes, pairs=pairs, size=20, requests=50)
    changed = [s for s in found if s.drop in changes]
    token_costs = {
        s.name: cost_of(app, world, (s.drop,), pairs=pairs, size=1, requests=100, kind="token")
        for s in changed
    }
    token_whole = cost_of(app, world, changes, pairs=pairs, size=1, requests=100, kind="token")
    load.append(os.getloadavg()[0])

    vacuum(engine_after)
    print("plans after ...", flush=True)
    plans_after = query_plans(app_after, world)
    with app_after.app_context():
        migration_s["down"] = [_migrate(url_after, before)]
        migration_s["up"].append(_migrate(url_after, after))
    load.append(os.getloadavg()[0])
    app.extensions["hub_db_engine"].dispose()
    engine_after.dispose()

    _report(
        suite,
        found=(found, found_after),
        costs=costs,
        changes=(whole, token_whole, token_costs),
        samples=samples,
        wal=wal,
        revisions=(before, after),
        plans=(plans_before, plans_after),
        sizes=(size_before, size_after),
    )
    suite.notes.insert(
        0,
        f"{ENTRIES:,} entries over a year ({counts['audit_entry_subjects']:,} subject rows, "
        f"{counts['audit_entry_resources']:,} record rows) written with COPY and VACUUM ANALYZEd "
        f"in {loaded:.0f} s (set-up): disclosures under 150 agreements between 60 "
        "organisations (a partner's page of 5-20 in 3 of 10 shared reads), own reads and "
        "searches, changes, sign-ins (some failed), token issuances, refusals, reviews; "
        "2,400 people, 40 partner systems, 200,000 records. The database is then copied and "
        f"the copy migrated to {after}: before and after are measured side by side.",
    )
    suite.notes.append(
        f"Committed requests: {ROUNDS * 4} rounds, each writing {REQUESTS[1]} one-entry and "
        f"{REQUESTS[20]} twenty-entry requests to each database in turn (the one going first "
        "alternating), one writer, a commit per request (synchronous commit, as in production)."
    )
    suite.notes.append(
        f"Migration {after} at {ENTRIES:,} entries: up "
        + ", ".join(f"{s:.1f}" for s in migration_s["up"])
        + " s (drops, and builds the partial agreement index); down "
        + ", ".join(f"{s:.1f}" for s in migration_s["down"])
        + " s (builds the unique uuid, request_id and whole agreement indexes again). Each "
        "build holds the entries' table against writes while it runs."
    )
    suite.notes.append(
        "The machine is shared (2 cores; other sessions' tests and benchmarks ran throughout: "
        "load average " + ", ".join(f"{x:.1f}" for x in load) + " over the run). Elapsed "
        "times moved by 2-3x between neighbouring runs, the server process's CPU time per entry "
        "by 10-20 %: so costs are medians of paired differences with the interquartile range "
        "beside them, and a cost inside its range is not told apart from nothing. WAL bytes "
        "are exact per insert; full-page images depend on how often the server checkpoints "
        "(here every ~20 s, forced by others' bulk loads; 5 minutes by default)."
    )
    return suite


def _report(
    suite: IndexSuite,
    *,
    found: tuple[list[Structure], list[Structure]],
    costs: dict[str, list[float]],
    changes: tuple[list[float], list[float], dict[str, list[float]]],
    samples: dict[tuple[str, int], list[Sample]],
    wal: dict[tuple[str, str], Wal],
    revisions: tuple[str, str],
    plans: tuple[list[Plan], list[Plan]],
    sizes: tuple[dict[str, int], dict[str, int]],
) -> None:
    """The results table, then the per-index, per-token and per-query tables."""
    before, after = revisions
    found_before, found_after = found
    whole, token_whole, token_costs = changes
    label = {before: "before", after: "after"}
    indexes = {
        revision: sum(
            1 for s in structures if s.table == "audit_entries" and s.kind != "foreign key"
        )
        + 1
        for revision, structures in ((before, found_before), (after, found_after))
    }
    for size in REQUESTS:
        for revision in (before, after):
            runs = samples[(revision, size)]
            rates = [r.entries_per_second for r in runs]
            suite.add(
                f"requests of {size} disclosure{'s' if size > 1 else ''} written and committed, "
                f"{indexes[revision]} indexes on the entries ({label[revision]}; rounds: "
                f"{min(rates):,.0f}-{max(rates):,.0f})",
                median(rates),
                "entries/s",
            )
        ratios = [
            a.entries_per_second / b.entries_per_second * 100 - 100
            for a, b in zip(samples[(after, size)], samples[(before, size)], strict=True)
        ]
        suite.add(
            f"requests of {size}: after against before, per round (interquartile range "
            f"{_iqr(ratios)})",
            median(ratios),
            "% more entries/s",
        )
        for revision in (before, after):
            times = [r.request_ms for r in samples[(revision, size)]]
            suite.add(
                f"time per request of {size} (audit write and commit), {label[revision]} "
                f"(rounds: {min(times):.2f}-{max(times):.2f})",
                median(times),
                "ms",
            )
        for revision in (before, after):
            cpu = [r.server_cpu_us for r in samples[(revision, size)]]
            suite.add(
                f"server CPU per entry, requests of {size}, commit included, {label[revision]} "
                f"(rounds: {min(cpu):.0f}-{max(cpu):.0f})",
                median(cpu),
                "us",
            )
    suite.add(
        f"server CPU per disclosure entry saved by {after}, paired blocks of 20-entry requests "
        f"(interquartile range {_iqr(whole)})",
        median(whole),
        "us",
    )
    suite.add(
        f"server CPU per token-issuance entry saved by {after}, paired blocks of 1-entry "
        f"requests (interquartile range {_iqr(token_whole)})",
        median(token_whole),
        "us",
    )
    for kind in ("disclosure", "token"):
        for revision in (before, after):
            w = wal[(revision, kind)]
            records, images = sum(w.records.values()), sum(w.images.values())
            suite.add(
                f"WAL per {kind} entry, {label[revision]} (records {records:,.0f} B + "
                f"full-page images {images:,.0f} B)",
                w.total(),
                "bytes",
            )
    size_before, size_after = sizes
    suite.add(
        f"indexes on the write's tables at {ENTRIES:,} entries, before",
        sum(size_before.get(s.name, 0) for s in found_before) / 2**20,
        "MiB",
    )
    suite.add(
        f"indexes on the write's tables at {ENTRIES:,} entries, after",
        sum(size_after.get(s.name, 0) for s in found_after) / 2**20,
        "MiB",
    )

    plans_before, plans_after = plans
    readers: dict[str, list[str]] = {}
    for plan in plans_before:
        for name in sorted(plan.indexes):
            if plan.query not in readers.setdefault(name, []):
                readers[name].append(plan.query)
    now = {s.name: s for s in found_after}
    disclosures = wal[(before, "disclosure")]
    rows = [
        "### Each index and key on the tables every audited request writes",
        "",
        "Server CPU: what dropping it saved per entry, in requests of 20 disclosures through "
        "`record_many` (median of paired differences [interquartile range]). WAL: what its "
        "relation got per disclosure entry, records + full-page images. Readers: the queries "
        "(below) whose plans used it, before.",
        "",
        f"| structure | table | on | size at {ENTRIES:,} | server CPU | WAL | readers | after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in found_before:
        on = s.definition.split(" USING btree ", 1)[-1] if s.kind == "index" else s.definition
        if s.name not in now:
            verdict = "**dropped**"
        elif now[s.name] != s:
            verdict = "**narrowed**: " + now[s.name].definition.split(" USING btree ", 1)[-1]
        else:
            verdict = "kept"
        used = "; ".join(readers.get(s.name, [])) or OTHER_READERS.get(s.name, "none")
        if s.kind == "foreign key":
            used = "(a constraint: each row's entry is looked up in pk_audit_entries)"
        size = f"{size_before[s.name] / 2**20:.1f} MiB" if s.name in size_before else ""
        rows.append(
            f"| {s.name} | {s.table} | {on} | {size} | {_spread(costs[s.name])} | "
            f"{_wal_cell(disclosures, s.name)} | {used} | {verdict} |"
        )
    rows.append(
        "| pk_audit_entries | audit_entries | PRIMARY KEY (seq) | "
        f"{size_before.get('pk_audit_entries', 0) / 2**20:.1f} MiB | not dropped (the "
        f"foreign keys reference it) | {_wal_cell(disclosures, 'pk_audit_entries')} | every "
        "join and page order | kept |"
    )
    rows.append(
        "| (the rows themselves) | audit_entries | | | | "
        f"{_wal_cell(disclosures, 'audit_entries')} | | |"
    )
    suite.sections.append("\n".join(rows) + "\n")
    tokens = wal[(before, "token")]
    rows = [
        "### The changed indexes on token issuances",
        "",
        "Entries with no agreement, subject or purpose (as `partners.oauth.server` writes "
        "them), one per request: server CPU saved per entry by dropping each, and its WAL.",
        "",
        "| index | server CPU | WAL |",
        "|---|---|---|",
    ]
    for name, saved in token_costs.items():
        rows.append(f"| {name} | {_spread(saved)} | {_wal_cell(tokens, name)} |")
    rows.append(f"| all three changes | {_spread(token_whole)} | |")
    suite.sections.append("\n".join(rows) + "\n")
    rows = [
        f"### Each reader's plans at {ENTRIES:,} entries, before and after",
        "",
        "The statements the hub runs (captured from the functions themselves), EXPLAIN "
        "ANALYZEd warm; the scans of audit tables each plan made, and the statements' total "
        "time (noisy: see above).",
        "",
        "| reader | before | after |",
        "|---|---|---|",
    ]
    for query in dict.fromkeys(p.query for p in plans_before):
        cells = []
        for plans_of in (plans_before, plans_after):
            mine = [p for p in plans_of if p.query == query]
            scans = "; ".join(dict.fromkeys(scan for p in mine for scan in p.scans))
            cells.append(f"{scans} ({sum(p.ms for p in mine):.1f} ms)")
        rows.append(f"| {query} | {cells[0]} | {cells[1]} |")
    suite.sections.append("\n".join(rows) + "\n")


def _wal_cell(wal: Wal, name: str) -> str:
    records, images = wal.records.get(name, 0), wal.images.get(name, 0)
    return f"{records:.0f} + {images:.0f} B" if records or images else ""


def _iqr(values: list[float]) -> str:
    low, _mid, high = statistics.quantiles(values, n=4)
    return f"{low:.1f} to {high:.1f}"


def _difference(before: list[Structure], after: list[Structure]) -> tuple[str, ...]:
    """Statements that make the `before` structures into the `after` ones, to run in one
    transaction (and roll back): what the migration does, read from the two databases."""
    then = {s.name: s for s in before}
    now = {s.name: s for s in after}
    statements = [then[name].drop for name in then if name not in now or now[name] != then[name]]
    statements += [now[name].restore for name in now if name not in then or now[name] != then[name]]
    return tuple(statements)
