"""The faults benchmark's figures: what `bench/faults_bench.py` measured, checked against the
targets and written into bench/RESULTS.md."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bench.common import (
    ROOT,
    Suite,
)
from bench.faults_harness import (
    CATCH_UP_LIMIT,
    CLIENT_TIMEOUT,
    CONNECT,
    END_AT,
    INTEGRATE_EVERY,
    NAME_PREFIX,
    POOL,
    READERS,
    READY,
    REPLAY_EVERY,
    RETRY_AFTER,
    SHARED_SPEAKERS,
    STATEMENT,
    WORKERS,
    WRITERS,
    Server,
)

if TYPE_CHECKING:
    from bench.faults_bench import CatchUp, Load, Verification


# --- the figures ---------------------------------------------------------------------------------


def report(
    suite: Suite,
    load: Load,
    verifications: list[Verification],
    final: Verification,
    catch_ups: list[CatchUp],
    engine: sa.Engine,
    timeline: list[str],
    proxy_counts: dict[str, int],
    server: Server,
    grace: float,
    tick: float,
) -> None:
    calls = load.calls
    ok = [c for c in calls if 200 <= c.status < 300]
    by_phase: dict[str, Counter[str]] = defaultdict(Counter)
    for c in calls:
        by_phase[c.phase][
            str(c.status) if c.status > 0 else ("hung" if c.status else "no answer")
        ] += 1

    # 500s: each one a bug; their bodies, and the tracebacks gunicorn logged.
    errors = [c for c in calls if c.status >= 500 and c.status != 503]
    suite.add("5xx answers other than 503 (each a bug)", len(errors), "answers", "0", not errors)
    for c in errors[:10]:
        print(f"  {c.status} {c.kind} {c.request_id} ({c.phase}): {c.body}", flush=True)

    outage = {"refused", "blackholed"}
    unavailable = [c for c in calls if c.status == 503]
    in_outage = [c for c in unavailable if c.phase in outage]
    with_retry = [c for c in unavailable if c.retry_after]
    suite.add(
        "503 answers carrying Retry-After",
        len(with_retry) / len(unavailable) * 100 if unavailable else 100.0,
        f"% (of {len(unavailable):,}; {len(in_outage):,} while the database was unreachable)",
        "100 %",
        len(with_retry) == len(unavailable) and bool(in_outage),
    )
    outage_calls = [c for c in calls if c.phase in outage]
    # Started and answered while the database was away (one that outlives the outage may
    # rightly succeed once it is back).
    away, back = load.marks.get("refused", 0.0), load.marks.get("recovered", 0.0)
    inside = [c for c in outage_calls if c.started + c.elapsed <= back]
    answered_503 = sum(1 for c in inside if c.status == 503)
    suite.add(
        "requests started and answered while the database was unreachable: 503",
        answered_503 / len(inside) * 100 if inside else 0.0,
        f"% (of {len(inside):,}, from {away:.0f} s to {back:.0f} s)",
        "100 %",
        bool(inside) and answered_503 == len(inside),
    )

    # Deadlines: what one request may wait on the database at most.
    ping = min(READY, CONNECT)
    bound = POOL + 2 * (ping + CONNECT) + STATEMENT + grace + 2 * tick
    longest = max(calls, key=lambda c: c.elapsed)
    suite.add(
        "longest request",
        longest.elapsed,
        f"s ({longest.kind}, {longest.phase}, status {longest.status})",
        f"<= {bound:.1f} s",
        longest.elapsed <= bound,
    )
    hung = [c for c in calls if c.status == -1]
    suite.add(
        f"requests unanswered after {CLIENT_TIMEOUT} s (hung)",
        len(hung),
        "requests",
        "0",
        not hung,
    )
    # No answer at all: expected only of requests the killed worker was serving.
    killed = load.marks.get("worker killed", -1.0)
    no_answer = [c for c in calls if c.status == 0]
    at_kill = [c for c in no_answer if c.started <= killed + 1 <= c.started + c.elapsed + 1]
    suite.add(
        "requests cut without an answer (connection closed)",
        len(no_answer),
        f"requests ({len(at_kill)} in flight when the worker was killed)",
        "only requests in flight on the killed worker",
        len(at_kill) == len(no_answer),
    )
    others = [c for c in no_answer if c not in at_kill]

    # Audit: every 2xx disclosure and change exactly once, by request id.
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT e.seq, e.request_id, e.action, e.outcome, e.resource_ids, "
                "l.idx IS NOT NULL FROM audit_entries e "
                "LEFT JOIN audit_leaves l ON l.entry_seq = e.seq "
                "WHERE e.action IN ('disclosure', 'speaker.create')"
            )
        ).all()
        names = Counter(
            dict(
                connection.execute(
                    sa.text(
                        "SELECT display_name, count(*) FROM speakers "
                        "WHERE display_name LIKE :prefix GROUP BY display_name"
                    ),
                    {"prefix": NAME_PREFIX + " %"},
                ).all()
            )
        )
        entries_total = connection.scalar(sa.text("SELECT count(*) FROM audit_entries"))
        leaves_total = connection.scalar(sa.text("SELECT count(*) FROM audit_leaves"))
    by_request: dict[tuple[str, str], list[Any]] = defaultdict(list)
    refusals_of: Counter[str] = Counter()
    creates_of: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.outcome != "granted":
            refusals_of[row.request_id] += 1
            continue
        by_request[(row.request_id, row.action)].append(row)
        if row.action == "speaker.create":
            for speaker_id in json.loads(row.resource_ids or "[]"):
                creates_of[speaker_id].append(row)
    unintegrated = sum(1 for row in rows if not row[5])

    reads = [c for c in ok if c.kind == "read"]
    read_wrong = [
        (c, len(by_request[(c.request_id, "disclosure")]))
        for c in reads
        if len(by_request[(c.request_id, "disclosure")]) != 1
    ]
    suite.add(
        "2xx disclosures not audited exactly once",
        len(read_wrong),
        f"of {len(reads):,} ({sum(1 for _, n in read_wrong if n == 0)} missing, "
        f"{sum(1 for _, n in read_wrong if n > 1)} doubled)",
        "0",
        not read_wrong,
    )
    writes = [c for c in ok if c.kind in {"create", "retry", "replay"}]
    write_wrong = []
    for c in writes:
        own = len(by_request[(c.request_id, "speaker.create")])
        of_speaker = len(creates_of.get(c.speaker_id or "", []))
        expected_own = 0 if c.replayed else 1
        if own != expected_own or of_speaker != 1:
            write_wrong.append((c, own, of_speaker))
    replayed = sum(1 for c in writes if c.replayed)
    suite.add(
        "2xx creates not audited exactly once",
        len(write_wrong),
        f"of {len(writes):,} ({replayed} replayed answers: checked by speaker id)",
        "0",
        not write_wrong,
    )
    refused = [c for c in calls if c.kind == "refused" and c.status == 404]
    refused_wrong = [c for c in refused if refusals_of[c.request_id] != 1]
    suite.add(
        "404 refusals (unshared speaker) not audited exactly once",
        len(refused_wrong),
        f"of {len(refused):,} (not a target of the issue: refusals are audited in a "
        "transaction of their own, best effort)",
    )
    suite.add(
        "audit entries of the load not integrated after it",
        unintegrated,
        f"of {len(rows):,}",
        "0",
        unintegrated == 0,
    )

    # Duplicates and idempotency.
    duplicates = {name: n for name, n in names.items() if n > 1}
    suite.add("speakers created twice (retries)", len(duplicates), "names", "0", not duplicates)
    retried = [(first, retry) for first, retry in load.retries]
    retry_ok = [(f, r) for f, r in retried if 200 <= r.status < 300]
    retry_bad = [(f, r) for f, r in retry_ok if names.get(r.name or "", 0) != 1 or not r.speaker_id]
    # A repeat answered 5xx is counted above (availability); here: 2xx answers that are not
    # the first answer again.
    repeats_ok = [(c, r) for c, r in load.replay_checks if 200 <= r.status < 300]
    replay_bad = [
        (c, r)
        for c, r in repeats_ok
        if not (r.status == c.status and r.replayed and r.speaker_id == c.speaker_id)
    ]
    suite.add(
        "Idempotency-Key: 2xx repeats not replaying the first speaker",
        len(replay_bad) + len(retry_bad),
        f"of {len(repeats_ok)} answered repeats of a 2xx create (of {len(load.replay_checks)}) "
        f"and {len(retry_ok)} successful retries of a failed one",
        "0",
        not replay_bad and not retry_bad,
    )
    committed_ids = {rid for rid, _action in by_request}
    false_nothing = [
        c
        for c in calls
        if c.status >= 500 and "Nothing was changed" in c.body and c.request_id in committed_ids
    ]
    suite.add(
        "errors saying 'Nothing was changed' for a request that committed",
        len(false_nothing),
        "answers",
        "0",
        not false_nothing,
    )

    # audit verify while the load ran, and after.
    failed = [v for v in verifications if v.exit_code != 0]
    during_outage = sum(1 for v in verifications if v.phase in outage)
    suite.add(
        "audit verify runs failed while the load ran",
        len(failed),
        f"of {len(verifications)} runs ({during_outage} during the outage)",
        "0",
        bool(verifications) and not failed,
    )
    suite.add(
        "audit verify after the load",
        final.tree_size or 0,
        "entries verified" if final.exit_code == 0 else f"entries: FAILED ({final.exit_code})",
        "exit 0",
        final.exit_code == 0,
    )

    # The integrator.
    for item in catch_ups:
        suite.add(
            f"integrator catch-up after: {item.fault} ({item.pending} pending)",
            item.seconds if item.seconds is not None else CATCH_UP_LIMIT,
            "s" if item.seconds is not None else f"s: NOT caught up in {CATCH_UP_LIMIT:.0f} s",
            f"<= {INTEGRATE_EVERY * 2} s",
            item.seconds is not None and item.seconds <= INTEGRATE_EVERY * 2,
        )

    # Notes.
    kinds = Counter(c.kind for c in calls)
    elapsed_outage = sorted(c.elapsed for c in outage_calls)
    suite.notes.append(
        f"Load: {READERS} reader and {WRITERS} writer threads (Python `requests`, one partner "
        f"client's token with speakers:read and speakers:write) for {END_AT} s: "
        + ", ".join(f"{n:,} {k}" for k, n in kinds.items())
        + f" requests ({len(ok):,} 2xx). Reads: GET /api/v1/shared/speakers/<id> of "
        f"{SHARED_SPEAKERS} partner speakers (Hub-Purpose, Hub-On-Behalf-Of; one disclosure "
        "entry each). Writes: POST /api/v1/speakers, each with its own X-Request-Id and "
        "Idempotency-Key; a failed create (5xx or no answer) is sent once more with the same key "
        "after its Retry-After, on a new connection (a kept-alive one idle for those 5 s races "
        "gunicorn's keepalive of 5 s: in an earlier run one such retry was reset unanswered); "
        f"every {REPLAY_EVERY}th successful create is sent again with its key and must be "
        "replayed with the same speaker id."
    )
    suite.notes.append(
        f"Hub: wsgi:app under gunicorn with deploy/gunicorn.conf.py ({WORKERS} workers x 4 gthread "
        f"threads), rate limits off, audit integration in the workers (after commit and every "
        f"{INTEGRATE_EVERY} s), reaching PostgreSQL through a TCP proxy in a child process; "
        f"HUB_DB_STATEMENT_TIMEOUT={STATEMENT}, HUB_DB_CONNECT_TIMEOUT={CONNECT}, "
        f"HUB_DB_READY_TIMEOUT={READY} (the pool's ping deadline), HUB_DB_POOL_TIMEOUT={POOL}, "
        f"HUB_RETRY_AFTER_SECONDS={RETRY_AFTER}."
    )
    suite.notes.append(
        f"Deadline bound {bound:.1f} s = pool wait {POOL} + two checkout attempts x (ping "
        f"{ping} + connect {CONNECT}) + one statement ({STATEMENT} + the watchdog's grace "
        f"{grace:g}) + two watchdog ticks ({tick:g}); a request still unanswered after "
        f"{CLIENT_TIMEOUT} s counts as hung. Requests started during the outage: median "
        f"{_pct(elapsed_outage, 50):.2f} s, p99 {_pct(elapsed_outage, 99):.2f} s, max "
        f"{_pct(elapsed_outage, 100):.2f} s."
    )
    suite.notes.append("Faults (seconds from the start of the load): " + "; ".join(timeline) + ".")
    suite.notes.append(
        "Answers by phase: "
        + "; ".join(
            f"{phase}: " + ", ".join(f"{n:,} x {s}" for s, n in sorted(counts.items()))
            for phase, counts in by_phase.items()
        )
        + f". Proxy: {', '.join(f'{n:,} {k}' for k, n in proxy_counts.items())}."
    )
    retried_ok = len(retry_ok)
    suite.notes.append(
        f"Failed creates retried once with their key: {len(retried)}; the retry answered 2xx "
        f"{retried_ok} times ({sum(1 for _, r in retry_ok if r.replayed)} replayed an answer "
        "whose first attempt had committed). Every speaker this load created has one name: "
        f"{len(names):,} names, {sum(names.values()):,} rows."
    )
    suite.notes.append(
        f"`flask --app wsgi audit verify` ran {len(verifications)} times during the load against "
        f"the database directly (not through the proxy), "
        f"{len(verifications) - len(failed)} passed; after the load it verified "
        f"{final.tree_size or 0:,} entries ({entries_total:,} written, {leaves_total:,} in the "
        "tree). Integrator catch-up: from the fault (or the database's return) until every "
        "entry committed by then has its place in the tree; under load the first commits "
        "after the fault wake the workers' integrators, the 5 s timer being the fallback."
    )
    logged = _unhandled(server.log_path)
    suite.notes.append(
        f"gunicorn's log holds {sum(logged.values())} unhandled exception(s) (Flask's "
        "'Exception on ...')"
        + (": " + "; ".join(f"{n} x {sig}" for sig, n in logged.items()) if logged else "")
        + "."
    )
    signatures = " ".join(logged)
    if "commit_api_request" in signatures:
        suite.notes.append(
            "Why a 500 from hub/web/edge.py commit_api_request: the request's one COMMIT runs "
            "in an after_request hook, and here met a connection that pg_terminate_backend had "
            "just ended. Flask does not hand an exception from an after_request hook to the "
            "app's handler for Exception (hub/web/errors.py handle_exception, which answers 503 "
            "with Retry-After and says the change could not be confirmed); its own "
            "handle_exception wraps it in InternalServerError, which the app's HTTPException "
            "handler (handle_http_exception) answers as a generic 500 problem, no Retry-After."
        )
    if "keep_refusal" in signatures:
        suite.notes.append(
            "Why a 500 from audit/refusals.py keep_refusal: a refusal (HubError) met a dead "
            "connection; keep_refusal's first db.session.rollback(), outside its try, raises "
            "inside the error handler, and Flask answers an exception raised by an error "
            "handler as InternalServerError (a generic 500)."
        )
    if errors:
        suite.notes.append(
            "5xx answers: "
            + "; ".join(f"{c.status} {c.kind} ({c.phase}): {c.body[:300]}" for c in errors[:5])
        )
    if refused_wrong:
        suite.notes.append(
            "404 refusals without exactly one audit entry: "
            + "; ".join(
                f"started at {c.started:.1f} s ({c.phase}), {refusals_of[c.request_id]} entries"
                for c in refused_wrong[:5]
            )
            + " (audit/refusals.py keep_refusal logs 'could not audit the refusal' and answers)"
        )
    if others:
        suite.notes.append(
            "No answer, not at the worker's kill: "
            + "; ".join(
                f"{c.kind} started at {c.started:.1f} s ({c.phase}, after {c.elapsed:.2f} s): "
                f"{c.error[:160]}"
                for c in others[:5]
            )
        )
    if read_wrong or write_wrong:
        sample = [f"read {c.request_id}: {n} entries" for c, n in read_wrong[:3]] + [
            f"{c.kind} {c.request_id}: {own} under its id, {n} for speaker {c.speaker_id}"
            for c, own, n in write_wrong[:3]
        ]
        suite.notes.append("Not audited exactly once: " + "; ".join(sample))
    if failed:
        suite.notes.append(
            "audit verify failures: "
            + "; ".join(f"{v.phase}: {v.output.strip()[:300]}" for v in failed[:3])
        )
    print(f"  gunicorn log: {server.log_path}; calls: {server.log_path.parent}/calls.jsonl")


def _unhandled(path: Path) -> Counter[str]:
    """Flask's logged unhandled exceptions, by the hub's frames and the final exception."""
    found: Counter[str] = Counter()
    lines = path.read_text(errors="replace").splitlines()
    for n, line in enumerate(lines):
        if "ERROR in app: Exception on" not in line:
            continue
        frames, last = [], ""
        for follow in lines[n + 1 :]:
            if follow.startswith("[") or follow.startswith("database unavailable"):
                break
            stripped = follow.strip()
            if stripped.startswith(f'File "{ROOT}/') and "/.venv/" not in stripped:
                where = stripped.split('"')[1].replace(str(ROOT) + "/", "")
                frames.append(f"{where}:{stripped.rsplit(' ', 1)[-1]}")
            elif re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit)?: ", stripped):
                last = stripped[:160]  # the exception itself: "module.Class: message"
        route = line.split("Exception on ", 1)[1]
        found[f"{route}: {' > '.join(frames[-3:])}: {last}"] += 1
    return found


def _pct(values: list[float], p: float) -> float:
    from bench.common import percentile

    return percentile(values, p) if values else 0.0
