"""Partner API speed: token issuance (private_key_jwt, each assertion used once) and the shared
speaker read (token, purpose, disclosure through an agreement, audit entry) against a bare
Flask + SQLAlchemy read of the same row that writes one audit entry, side by side."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    DEDICATED,
    Gunicorn,
    Integrator,
    Suite,
    fresh_database,
    integrated,
    median,
    seed_partner_sharing,
)

ISSUER = "http://127.0.0.1:8000"  # the hub's base URL: what assertions name as their audience
PURPOSE = "speaker_due_diligence"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Timed runs per measure (medians): this shared VM's throughput moves by 10-20 % between
#: neighbouring runs, so five rather than three.
ROUNDS = 5
#: How the audit log is integrated while the load runs: by the dedicated integrator, the
#: production default (deploy/hub.env.example), held to the floors; and by a thread in each
#: web worker after its commits (the setting's default for a single process), reported beside.
MODES = ("dedicated", "after-commit")
#: Issue 16's floors and aims.
TOKEN_FLOOR, TOKEN_AIM = 600, 1000
RATIO_FLOOR, RATIO_AIM = 0.80, 0.90
REDIS_URL = "redis://127.0.0.1:6379/0"
SECONDS = 6
CONNECTIONS = 16
WRK_THREADS = 2
# Enough single-use assertions for one timed run at several times the target rate.
ASSERTIONS_PER_RUN = int(os.environ.get("BENCH_API_ASSERTIONS", "15000"))

WRK_LUA = """
-- POST pre-made token requests, each body once; wrk threads take every n-th line.
local bodies = {}
local used = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local n, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % n == id then bodies[#bodies + 1] = line end
    i = i + 1
  end
end

function request()
  used = used + 1
  -- Out of bodies: replay the first one; the hub refuses it and wrk counts a non-2xx.
  local body = bodies[used] or bodies[1]
  return wrk.format("POST", "/oauth/token",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""


def _seed() -> tuple[str, str, Any]:
    """Bench Fellwater shares a speaker with Bench Brackenmoor, whose partner system reads it;
    returns the speaker's id, the client's id and its private key."""
    [speaker_id], client_id, key = seed_partner_sharing(
        [
            {
                "display_name": "Dr Ember Quillfeather",
                "aliases": [{"name": "Embre Quilfeather", "kind": "alias"}],
                "distribution": "shareable",
            }
        ],
        purpose=PURPOSE,
        scopes=["speakers:read"],
    )
    return speaker_id, client_id, key


def _token_bodies(path: Path, client_id: str, key: Any, count: int) -> float:
    """Write `count` token requests, each with its own assertion; returns seconds taken."""
    from joserfc import jwt

    started = time.perf_counter()
    now = int(time.time())
    with path.open("w") as out:
        for _ in range(count):
            claims = {
                "iss": client_id,
                "sub": client_id,
                "aud": ISSUER,
                "iat": now,
                "exp": now + 240,
                "jti": uuid.uuid4().hex,
            }
            assertion = jwt.encode(
                {"alg": "Ed25519", "kid": key.kid}, claims, key, algorithms=["Ed25519"]
            )
            out.write(
                "grant_type=client_credentials&scope=speakers%3Aread"
                f"&client_assertion_type={ASSERTION_TYPE.replace(':', '%3A')}"
                f"&client_assertion={assertion}\n"
            )
    return time.perf_counter() - started


def _wrk(
    url: str, *options: str, script_args: tuple[str, ...] = (), seconds: int = SECONDS
) -> tuple[float, int]:
    """Requests per second and non-2xx responses that wrk measures for `url`."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s"]
    output = subprocess.run(
        [*command, *options, url, *script_args], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))
    return rate, int(match.group(1)) if match else 0


def _token_rate(base: str, bodies: Path, script: Path) -> tuple[float, int]:
    """Tokens per second, and refusals, POSTing the pre-made requests in `bodies` once each."""
    return _wrk(base, "-s", str(script), script_args=(str(bodies), str(WRK_THREADS)))


def _bearer_token(base: str, client_id: str, key: Any, folder: Path) -> str:
    """One access token, fetched over HTTP like any partner (it outlives the run)."""
    import json
    import urllib.request

    _token_bodies(folder / "one.txt", client_id, key, 1)
    body = (folder / "one.txt").read_text().strip().encode()
    request = urllib.request.Request(  # noqa: S310 (loopback)
        base + "/oauth/token",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["access_token"]


def _statements(app: Any, speaker_id: str, client_id: str, key: Any, folder: Path) -> dict:
    """SQL statements per request, counted in-process (warm: the policy cache filled, as on a
    worker under load): a token request, the shared speaker read and the bare read."""
    import sqlalchemy as sa

    from bench.endpoints import blueprint
    from core import db as core_db

    app.register_blueprint(blueprint)
    engine = app.extensions["hub_db_engine"]
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    http = app.test_client()
    _token_bodies(folder / "counted.txt", client_id, key, 3)
    bodies = (folder / "counted.txt").read_text().split()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = http.post("/oauth/token", data=bodies[0], headers=form).get_json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Hub-Purpose": PURPOSE,
        "Hub-On-Behalf-Of": "staff-bench",
    }
    calls = {
        "token request": lambda n: http.post("/oauth/token", data=bodies[n], headers=form),
        "shared speaker read": lambda n: http.get(
            f"/api/v1/shared/speakers/{speaker_id}", headers=headers
        ),
        "bare read": lambda n: http.get(f"/bench/speaker-bare/{speaker_id}"),
    }
    counted, together = {}, {}
    sa.event.listen(engine, "before_cursor_execute", count)
    send, batches = core_db._send, []

    def batched(session: Any, statements: list) -> list:
        batches.append(len(statements))
        return send(session, statements)

    core_db._send = batched
    try:
        for name, call in calls.items():
            call(1)  # warm
            seen.clear()
            batches.clear()
            assert call(2).status_code == 200, name
            # Integration after commit runs in a thread of this process: not the request's.
            counted[name] = [s for s in seen if "audit_leaves" not in s and "audit_tree" not in s]
            together[name] = list(batches)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
        core_db._send = send
    _token_bodies(folder / "profiled.txt", client_id, key, PROFILED)
    more = (folder / "profiled.txt").read_text().split()
    steps = {
        "token request": _steps(
            lambda n: http.post("/oauth/token", data=more[n], headers=form), TOKEN_STEPS
        ),
        "shared speaker read": _steps(calls["shared speaker read"], READ_STEPS),
    }
    return counted, together, steps


#: Requests profiled per kind for the time per step, and the steps (functions) reported.
PROFILED = 300
TOKEN_STEPS = {
    "client and its standing (policy cache)": "partners/oauth/server.py:query_client",
    "assertion checked (signature, claims)": "partners/oauth/server.py:process_assertion_claims",
    "assertion's jti claimed (deferred: sent with the audit entry)": (
        "partners/oauth/replay.py:claim"
    ),
    "access token signed": "partners/oauth/server.py:generate_token",
    "issuance audited (one round trip: policy read, jti claim, audit entry)": (
        "partners/oauth/server.py:save_token"
    ),
    "commit": "hub/web/edge.py:commit_request",
}
READ_STEPS = {
    "token verified (keys, revocations, client: policy cache)": (
        "partners/oauth/resource.py:authenticate_api_request"
    ),
    "policy generation (assumed: read with the speaker's)": "core/policy.py:generation",
    "speaker read with its lists and ratings (one round trip, with the policy read)": (
        "hub/records/shareable.py:_read"
    ),
    "projected and audited (disclose)": "agreements/services.py:disclose",
    "audit entries written (one statement)": "audit/services.py:record_many",
    "commit": "hub/web/edge.py:commit_api_request",
}


def _steps(call: Any, steps: dict[str, str]) -> dict[str, float]:
    """Milliseconds per request spent in each step (cProfile's cumulative time, so the
    profiler's own overhead is in it), and in the whole request."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for n in range(PROFILED):
        call(n)
    profiler.disable()
    whole = (time.perf_counter() - started) / PROFILED * 1000
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for label, where in steps.items():
        path, function = where.split(":")
        found[label] = sum(
            cumulative / PROFILED * 1000
            for (file, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.items()
            if file.endswith(path) and name == function
        )
    found["whole request"] = whole
    return found


def _both(urls: list[str], *options: str, script_args: tuple[str, ...] = ()) -> float:
    """Requests per second of several wrk processes run at once (one per host), summed."""
    with ThreadPoolExecutor(len(urls)) as pool:
        rates = pool.map(lambda url: _wrk(url, *options, script_args=script_args), urls)
        return sum(rate for rate, _errors in rates)


def run() -> Suite:
    """Run the partner API benchmarks on PostgreSQL."""
    from core import migrations
    from hub.app import create_app

    suite = Suite("Partner API (issues 6 and 16), PostgreSQL")
    url = fresh_database("hub_bench_api")
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-api-"))
    instance = folder / "instance"
    settings = {"database_url": url, "instance_path": instance, "secret_key": "bench-only-secret"}
    # In-process: no background threads (integration, mail) beside the requests counted.
    quiet = {
        "audit_integrate_after_commit": False,
        "mail_send_after_commit": False,
        "mail_send_interval_seconds": 0,
    }
    app = create_app({**settings, **quiet, "base_url": ISSUER})
    with app.app_context():
        migrations.upgrade(url)
        speaker_id, client_id, key = _seed()
    counted, together, steps = _statements(app, speaker_id, client_id, key, folder)
    app.extensions["hub_db_engine"].dispose()

    script = folder / "token.lua"
    script.write_text(WRK_LUA)
    env = {
        "DATABASE_URL": url,
        "HUB_INSTANCE_PATH": str(instance),
        "HUB_SECRET_KEY": "bench-only-secret",
        "HUB_ENV": "development",
        "HUB_BASE_URL": ISSUER,
        "HUB_RATELIMIT_ENABLED": "false",
        "HUB_TOKEN_MINUTES": "30",
    }
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    made = 0.0
    for mode in MODES:
        body_files = []
        for n in range(ROUNDS + 1):  # one warm-up run, then the timed ones
            path = folder / f"bodies-{mode}-{n}.txt"
            made += _token_bodies(path, client_id, key, ASSERTIONS_PER_RUN)
            body_files.append(path)
        with integrated(mode, env) as mode_env:
            _one_host(
                suite,
                mode,
                mode_env,
                threads,
                body_files,
                script,
                client_id,
                key,
                speaker_id,
                folder,
            )
    suite.notes.insert(
        0,
        f"{len(MODES) * (ROUNDS + 1) * ASSERTIONS_PER_RUN:,} client assertions (Ed25519, each "
        f"with its own jti) signed before the load in {made:.1f} s; wrk POSTs each once "
        "(set-up, not timed).",
    )
    _two_hosts(suite, env, threads, client_id, key, speaker_id, folder)
    suite.notes.append(
        "SQL statements per request (counted in-process, warm): "
        + "; ".join(f"{name} {len(found)}" for name, found in counted.items())
        + ". Before issue 16 (at 4c66289): token request 4, shared speaker read 17, bare read 2."
    )
    for name, found in counted.items():
        suite.notes.append(
            f"{name}: " + " | ".join(f"`{_first_words(statement)}`" for statement in found)
        )
    suite.notes.append(
        "Statements sent through the driver together (`core.db.driver_rows`: each group one "
        "round trip, the first with the transaction's BEGIN; then the COMMIT): "
        + "; ".join(f"{name} {groups}" for name, groups in together.items())
        + ". A request the edge may retry assumes its worker's policy generation and that a "
        "client assertion's id is unspent, and sends the reads that confirm both with its next "
        "statement (`core.db.defer`); at 0905392 the generation read and the claim were each a "
        "round trip of their own."
    )
    for name, timed in steps.items():
        suite.notes.append(
            f"Time per step, {name} (in-process, one at a time, {PROFILED} requests under "
            "cProfile): " + "; ".join(f"{label} {ms:.2f} ms" for label, ms in timed.items())
        )
    suite.notes.append(
        "Token issuance: each request is authenticated by an Ed25519 client assertion that the "
        "hub checks (signature, audience, lifetime) and records as used (single-use jti, one "
        "INSERT ... ON CONFLICT DO NOTHING), then an ES256 RFC 9068 access token is signed and "
        "its issuance audited; the used jti and the audit entry commit together. The client, "
        "its organisation and the signing key come from the worker's policy cache (one read of "
        "the policy generation per request). The policy read and the claim go with the audit "
        "entry, in one round trip: a replayed id or a changed policy found there throws the "
        "attempt away and the request is made again, reading and claiming first."
    )
    suite.notes.append(
        "Shared speaker read: the ES256 token is verified (published keys, revocations, the "
        "client and its organisation: all from the policy cache), the purpose and member of "
        "staff are read from the headers, the agreement covering the speaker is found (cached) "
        "and the record, read with its lists and the ratings on it in one statement, projected "
        "through its data schedule with its statements and ratings; one disclosure audit entry "
        "is written and committed. The bare endpoint selects the same speaker row and writes "
        "one audit entry with `audit.services.record`. "
        f"Both: wrk, {WRK_THREADS} threads, {CONNECTIONS} connections, {SECONDS} s per run, "
        f"{ROUNDS} interleaved runs, medians."
    )
    suite.notes.append(
        f"gunicorn: 2 workers x {threads} thread(s), rate limits off (HUB_RATELIMIT_ENABLED="
        "false: the per-client limit would otherwise cap the load). The audit log integrated "
        "by the dedicated integrator (`flask audit integrate --follow`, its own process on the "
        "same 2 cores, HUB_AUDIT_INTEGRATE_AFTER_COMMIT=false in the workers), as "
        "deploy/hub.env.example runs the hub: these figures are held to the floors. Beside "
        "them, marked [after-commit], the same with each worker integrating in a thread after "
        "its commits (the setting's default, for a hub run as one process). Load from wrk on "
        "the same 2 cores as gunicorn and PostgreSQL."
    )
    return suite


def _one_host(
    suite: Suite,
    mode: str,
    env: dict[str, str],
    threads: int,
    body_files: list[Path],
    script: Path,
    client_id: str,
    key: Any,
    speaker_id: str,
    folder: Path,
) -> None:
    """Token issuance, then the shared and the bare read interleaved, on one gunicorn (2
    workers) with the audit log integrated in `mode`. The production default (`dedicated`) is
    held to the floors; the other mode is reported beside it."""
    headline = mode == "dedicated"
    label = "" if headline else f"[{mode}] "
    server = Gunicorn("bench.app:app", env, workers=2, threads=threads)
    try:
        _token_rate(server.url, body_files[0], script)  # warm up
        rates, refused, cpu = [], 0, dict.fromkeys(_CPU_KINDS, 0.0)
        for path in body_files[1:]:
            before = _cpu_seconds()
            rate, errors = _token_rate(server.url, path, script)
            for kind, seconds in _cpu_seconds().items():
                cpu[kind] += seconds - before[kind]
            rates.append(rate)
            refused += errors
        token_rate = median(rates)
        per_token = {kind: seconds * 1000 / (sum(rates) * SECONDS) for kind, seconds in cpu.items()}
        suite.add(
            f"{label}token issuance (client credentials, private_key_jwt, audited)",
            token_rate,
            "tokens/s",
            f">= {TOKEN_FLOOR:,} tokens/s (aim {TOKEN_AIM:,})" if headline else "",
            token_rate >= TOKEN_FLOOR and refused == 0 if headline else None,
        )
        suite.notes.append(
            f"Token issuance per run ({mode}): "
            + ", ".join(f"{r:,.0f}" for r in rates)
            + f" tokens/s; {token_rate / TOKEN_AIM:.0%} of the aim."
        )
        suite.notes.append(
            f"CPU per token ({mode}; from /proc over the timed runs): "
            + ", ".join(f"{kind} {ms:.2f} ms" for kind, ms in per_token.items())
            + f"; {sum(per_token.values()):.2f} ms in all, so 2 cores issue at most "
            f"{2000 / sum(per_token.values()):,.0f} tokens/s before wrk takes its share."
        )
        if refused:
            suite.notes.append(f"{refused} token requests were refused under load ({mode}).")

        token = _bearer_token(server.url, client_id, key, folder)
        headers = _headers(token)
        paths = _paths(speaker_id)
        measured: dict[str, list[float]] = {name: [] for name in paths}
        for path in paths.values():
            _wrk(server.url + path, *headers, seconds=2)  # warm up both workers
        for _ in range(ROUNDS):  # interleaved, so drift affects both sides alike
            for name, path in paths.items():
                rate, errors = _wrk(server.url + path, *headers)
                if errors:
                    raise RuntimeError(f"{errors} non-2xx answers from {path}")
                measured[name].append(rate)
        if headline:  # what this machine serves when a request does nothing (no database)
            ceiling = median([_wrk(server.url + "/healthz")[0] for _ in range(3)])
    finally:
        server.stop()
    bare, api = median(measured["bare"]), median(measured["api"])
    if headline:
        suite.add("this machine's ceiling: GET /healthz on the same gunicorn", ceiling, "req/s")
        suite.add("token issuance against the bare read (same run)", token_rate / bare * 100, "%")
    suite.notes.append(
        f"Per run ({mode}, bare / API): "
        + "; ".join(
            f"{b:,.0f} / {a:,.0f} req/s"
            for b, a in zip(measured["bare"], measured["api"], strict=True)
        )
        + "."
    )
    suite.add(f"{label}bare Flask + SQLAlchemy: speaker row read + one audit entry", bare, "req/s")
    suite.add(
        f"{label}partner API: shared speaker read (Bearer token, purpose, disclose, audit)",
        api,
        "req/s",
    )
    suite.add(
        f"{label}shared speaker read: throughput kept against the bare read",
        api / bare * 100,
        "%",
        f">= {RATIO_FLOOR:.0%} (aim {RATIO_AIM:.0%})" if headline else "",
        api / bare >= RATIO_FLOOR if headline else None,
    )


#: What `_cpu_seconds` counts: the web workers, the integrator and PostgreSQL.
_CPU_KINDS = ("gunicorn", "integrator", "PostgreSQL")


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the processes of each of `_CPU_KINDS` on this machine (from
    /proc: user and system time)."""
    used = dict.fromkeys(_CPU_KINDS, 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if b"gunicorn" in command:
            kind = "gunicorn"
        elif b"integrate" in command:
            kind = "integrator"
        elif name.startswith("postgres"):
            kind = "PostgreSQL"
        else:
            continue
        user, system = fields.split()[11:13]  # utime and stime (stat's 14th and 15th fields)
        used[kind] += (int(user) + int(system)) / tick
    return used


def _headers(token: str) -> list[str]:
    return [
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        f"Hub-Purpose: {PURPOSE}",
        "-H",
        "Hub-On-Behalf-Of: staff-bench",
    ]


def _paths(speaker_id: str) -> dict[str, str]:
    return {
        "bare": f"/bench/speaker-bare/{speaker_id}",
        "api": f"/api/v1/shared/speakers/{speaker_id}",
    }


def _first_words(statement: str) -> str:
    words = " ".join(statement.split())
    return words if len(words) <= 60 else words[:57] + "..."


def _two_hosts(
    suite: Suite,
    env: dict[str, str],
    threads: int,
    client_id: str,
    key: Any,
    speaker_id: str,
    folder: Path,
) -> None:
    """Two hubs (separate gunicorn processes and ports, one worker each, as two hosts would
    be) on the one PostgreSQL, with rate limits counted in Redis, driven at once."""
    shared = {
        **env,
        **DEDICATED,
        "HUB_RATELIMIT_ENABLED": "true",
        "HUB_RATELIMIT_STORAGE_URI": REDIS_URL,
        # Counted in Redis on every request, set high enough never to refuse one here.
        "HUB_API_RATE_LIMIT": "1000000 per minute",
    }
    # Each host runs its own integrator, as each runs prevent-hub-integrator.service; one
    # leads (advisory lock), the other stands by.
    with contextlib.ExitStack() as running:
        for _ in range(2):
            running.enter_context(Integrator(shared))
        hosts = [Gunicorn("bench.app:app", shared, workers=1, threads=threads) for _ in range(2)]
        running.callback(lambda: [host.stop() for host in hosts])
        urls = [host.url for host in hosts]
        token = _bearer_token(urls[0], client_id, key, folder)
        headers = _headers(token)
        measured: dict[str, list[float]] = {name: [] for name in _paths(speaker_id)}
        for path in _paths(speaker_id).values():
            _both([u + path for u in urls], *headers)  # warm up
        for _ in range(ROUNDS):
            for name, path in _paths(speaker_id).items():
                measured[name].append(_both([u + path for u in urls], *headers))
    bare, api = median(measured["bare"]), median(measured["api"])
    suite.add("two hosts: bare read, combined", bare, "req/s")
    suite.add("two hosts: shared speaker read, combined", api, "req/s")
    suite.add(
        "two hosts: shared speaker read kept against the bare read",
        api / bare * 100,
        "%",
        f">= {RATIO_FLOOR:.0%} (aim {RATIO_AIM:.0%})",
        api / bare >= RATIO_FLOOR,
    )
    suite.notes.append(
        "Two hosts: two gunicorn processes (1 worker x "
        f"{threads} thread(s) each, own ports) on one PostgreSQL, rate limits on and counted "
        "in Redis (limit set above the load, so each process leases 50 calls of its client's "
        "budget at a time: `core.budgets`), each host with its own dedicated integrator (one "
        "leads), each driven by its own wrk at once; per run "
        "(bare / API, combined): "
        + "; ".join(
            f"{b:,.0f} / {a:,.0f} req/s"
            for b, a in zip(measured["bare"], measured["api"], strict=True)
        )
        + ". The policy cache is per process and kept exact by the generation read: a change "
        "made on one host is obeyed by the next request on the other (tests/test_policy.py)."
    )
