"""Running through faults (issue 12): audited reads and writes through gunicorn while a worker
is killed, the hub's database connections are terminated, and the database is unreachable for
30 s (15 s refusing connections, 15 s accepting them and never answering).

The hub (wsgi:app, deploy/gunicorn.conf.py, 2 workers x 4 threads) reaches PostgreSQL through a
TCP proxy this module runs in a child process, so each fault is real on the wire (as in
tests/test_faults.py). Partner-client threads read a partner's speaker (a disclosure, audited)
and create speakers (audited, with Idempotency-Key, a failed create retried once with the same
key); every request's id, status, time and Retry-After are kept. Meanwhile `flask --app wsgi
audit verify` runs over and over against the database directly. Afterwards every 2xx change and
disclosure is looked up in the audit log by its request id.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench import faults_report
from bench.common import (
    ROOT,
    SERVER_URL,
    Suite,
    fresh_database,
    seed_partner_sharing,
)
from bench.faults_harness import (
    APP_NAME,
    ASSERTION_TYPE,
    BLACKHOLE_FOR,
    CATCH_UP_LIMIT,
    CLIENT_TIMEOUT,
    CONNECT,
    DATABASE,
    END_AT,
    INTEGRATE_EVERY,
    ISSUER,
    KILL_AT,
    NAME_PREFIX,
    OUTAGE_AT,
    POOL,
    PURPOSE,
    READERS,
    READY,
    REFUSE_FOR,
    REFUSED_SHARE,
    REPLAY_EVERY,
    RETRY_AFTER,
    SHARED_SPEAKERS,
    STATEMENT,
    TERMINATE_AT,
    TERMINATE_EVERY,
    TERMINATE_ROUNDS,
    WORKERS,
    WRITERS,
    ProxyProcess,
    Server,
)

# --- seeding ----------------------------------------------------------------------------------


def _seed() -> tuple[list[str], str, str, Any]:
    """Bench Fellwater shares its speakers with Bench Brackenmoor under an agreement;
    Brackenmoor's partner system reads them and records speakers of its own. Returns the shared
    speakers' ids, an unshared one's, the client's id and its private key."""
    made, client_id, key = seed_partner_sharing(
        [
            {"display_name": f"Shared Speaker {n}", "distribution": "shareable"}
            for n in range(SHARED_SPEAKERS)
        ]
        # Kept internal: no agreement discloses it, so reading it is a refusal (404, audited).
        + [{"display_name": "Internal Speaker", "distribution": "internal"}],
        purpose=PURPOSE,
        scopes=["speakers:read", "speakers:write"],
        reference="BENCH-FAULTS-1",
    )
    return made[:-1], made[-1], client_id, key


def _token(base: str, client_id: str, key: Any) -> str:
    """An access token for both scopes (private_key_jwt), fetched like any partner's."""
    import requests
    from joserfc import jwt

    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "Ed25519", "kid": key.kid}, claims, key, algorithms=["Ed25519"])
    response = requests.post(
        base + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "speakers:read speakers:write",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=20,
    )
    response.raise_for_status()
    return response.json()["access_token"]


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request the load made."""

    kind: str  # read | refused | create | retry | replay
    request_id: str
    phase: str
    started: float  # seconds from the start of the load
    elapsed: float
    status: int  # the HTTP status; 0: no answer (connection failed); -1: hung (no answer in time)
    retry_after: str | None = None
    error: str = ""
    body: str = ""  # non-2xx answers
    speaker_id: str | None = None
    replayed: bool = False
    key: str | None = None
    name: str | None = None


class Load:
    """Partner-client threads reading shared speakers and creating speakers, recording every
    request."""

    def __init__(self, base: str, token: str, speaker_ids: list[str], unshared: str) -> None:
        self.base = base
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Hub-Purpose": PURPOSE,
            "Hub-On-Behalf-Of": "staff-bench",
        }
        self.speaker_ids = speaker_ids
        self.unshared = unshared
        self.calls: list[Call] = []
        self.guard = threading.Lock()
        self.stop = threading.Event()
        self.phase = "baseline"
        self.marks: dict[str, float] = {"baseline": 0.0}  # when each phase began
        self.t0 = time.monotonic()
        self.replay_checks: list[tuple[Call, Call]] = []  # (the 2xx create, its replay)
        self.retries: list[tuple[Call, Call]] = []  # (the failed create, its retry)
        self.threads = [
            threading.Thread(target=self._reader, name=f"reader-{n}", daemon=True)
            for n in range(READERS)
        ] + [
            threading.Thread(target=self._writer, name=f"writer-{n}", daemon=True)
            for n in range(WRITERS)
        ]

    def start(self) -> None:
        self.t0 = time.monotonic()
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT + 20)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _call(
        self,
        session: Any,
        kind: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Call:
        import requests

        request_id = str(uuid.uuid4())
        sent = {**self.headers, "X-Request-Id": request_id}
        if key is not None:
            sent["Idempotency-Key"] = key
        call = Call(kind, request_id, self.phase, self.now(), 0.0, 0, key=key)
        if body is not None:
            call.name = body["display_name"]
        started = time.monotonic()
        try:
            response = session.request(
                method, self.base + path, headers=sent, json=body, timeout=(5, CLIENT_TIMEOUT)
            )
            call.elapsed = time.monotonic() - started
            call.status = response.status_code
            call.retry_after = response.headers.get("Retry-After")
            call.replayed = response.headers.get("Idempotent-Replayed") == "true"
            if 200 <= call.status < 300:
                if method == "POST":
                    call.speaker_id = response.json().get("id")
            else:
                call.body = response.text[:2000]
        except requests.ReadTimeout as exc:
            call.elapsed = time.monotonic() - started
            call.status, call.error = -1, type(exc).__name__
        except requests.RequestException as exc:
            call.elapsed = time.monotonic() - started
            call.status, call.error = 0, f"{type(exc).__name__}: {str(exc)[:200]}"
        with self.guard:
            self.calls.append(call)
        return call

    def _reader(self) -> None:
        import requests

        session = requests.Session()
        while not self.stop.is_set():
            refused = random.random() < REFUSED_SHARE
            speaker_id = self.unshared if refused else random.choice(self.speaker_ids)
            kind = "refused" if refused else "read"
            call = self._call(session, kind, "GET", f"/api/v1/shared/speakers/{speaker_id}")
            if call.status >= 500 or call.status <= 0:
                self.stop.wait(0.2)  # a partner backs off a little (not the full Retry-After)

    def _writer(self) -> None:
        import requests

        session = requests.Session()
        made = 0
        while not self.stop.is_set():
            key = str(uuid.uuid4())
            body = {"display_name": f"{NAME_PREFIX} {key[:13]}", "distribution": "internal"}
            call = self._call(session, "create", "POST", "/api/v1/speakers", body, key)
            if 200 <= call.status < 300:
                made += 1
                if made % REPLAY_EVERY == 0:  # the same key again: the first answer, replayed
                    replay = self._call(session, "replay", "POST", "/api/v1/speakers", body, key)
                    self.replay_checks.append((call, replay))
                continue
            if 400 <= call.status < 500:
                continue  # refused: not retried (and reported by status)
            wait = float(call.retry_after) if call.retry_after else 1.0
            time.sleep(min(wait, RETRY_AFTER))  # retried once even if the load is stopping
            # On a new connection: after Retry-After (5 s) idle, a kept-alive one races
            # gunicorn's keepalive (5 s) and may be reset as the retry is sent (seen in a run).
            session.close()
            retry = self._call(session, "retry", "POST", "/api/v1/speakers", body, key)
            self.retries.append((call, retry))


# --- audit verify, over and over ---------------------------------------------------------------


@dataclass
class Verification:
    phase: str
    started: float
    seconds: float
    exit_code: int
    tree_size: int | None
    output: str


def _verify_once(env: dict[str, str], load: Load | None, phase: str) -> Verification:
    started = load.now() if load else 0.0
    t = time.monotonic()
    try:
        done = subprocess.run(
            [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "audit", "verify", "--json"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = -1, f"timed out: {exc}"
    size = None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        size = json.loads(output[output.index("{") : output.rindex("}") + 1])["tree_size"]
    return Verification(phase, started, time.monotonic() - t, code, size, output)


def _verify_loop(env: dict[str, str], load: Load, results: list[Verification]) -> None:
    while not load.stop.is_set():
        results.append(_verify_once(env, load, load.phase))
        load.stop.wait(1.0)


# --- the integrator's catch-up -----------------------------------------------------------------


@dataclass
class CatchUp:
    fault: str
    pending: int  # entries pending at the moment measured from
    seconds: float | None  # until every entry committed by then was integrated (None: not seen)


def _catch_up(engine: sa.Engine, fault: str, out: list[CatchUp]) -> None:
    """From now: the entries pending, and how long until every entry committed by now has a
    place in the tree (entries committed later do not count)."""
    started = time.monotonic()
    with engine.connect() as connection:
        mark = connection.scalar(sa.text("SELECT coalesce(max(seq), 0) FROM audit_entries"))
        pending = connection.scalar(sa.text("SELECT count(*) FROM audit_pending"))
    query = sa.text("SELECT count(*) FROM audit_pending WHERE entry_seq <= :mark")
    seconds = None
    while time.monotonic() - started < CATCH_UP_LIMIT:
        with engine.connect() as connection:
            if connection.scalar(query, {"mark": mark}) == 0:
                seconds = time.monotonic() - started
                break
        time.sleep(0.1)
    out.append(CatchUp(fault, pending, seconds))


def _measure_catch_up(engine: sa.Engine, fault: str, out: list[CatchUp]) -> threading.Thread:
    thread = threading.Thread(target=_catch_up, args=(engine, fault, out), daemon=True)
    thread.start()
    return thread


# --- the run ------------------------------------------------------------------------------------


def _terminate_hub_connections() -> int:
    """pg_terminate_backend on every connection of the hub (its application_name), as a
    superuser connected directly."""
    engine = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return connection.scalar(
                sa.text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = :db AND application_name = :app"
                ),
                {"db": DATABASE, "app": APP_NAME},
            )
    finally:
        engine.dispose()


def _sleep_until(load: Load, at: float) -> None:
    time.sleep(max(0.0, at - load.now()))


def run() -> Suite:
    """Run the faults benchmark on PostgreSQL."""
    from audit import log
    from core import migrations
    from core.db import Watchdog
    from hub.app import create_app

    suite = Suite("Faults (issue 12), PostgreSQL")
    direct = fresh_database(DATABASE)
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-faults-"))
    instance = folder / "instance"
    settings = {
        "database_url": direct,
        "instance_path": instance,
        "secret_key": "bench-only-secret",
        "base_url": ISSUER,
        "audit_integrate_after_commit": False,  # this process leaves integration to the hub
    }
    app = create_app(settings)
    with app.app_context():
        migrations.upgrade(direct)
        speaker_ids, unshared_id, client_id, key = _seed()
        log.integrate_now(force_checkpoint=True)
    app.extensions["hub_db_engine"].dispose()

    url = sa.make_url(direct)
    proxy = ProxyProcess((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(
        host="127.0.0.1", port=proxy.port, query={**url.query, "application_name": APP_NAME}
    ).render_as_string(hide_password=False)
    common = {
        "HUB_INSTANCE_PATH": str(instance),
        "HUB_SECRET_KEY": "bench-only-secret",
        "HUB_ENV": "development",
        "HUB_BASE_URL": ISSUER,
    }
    env = {
        **common,
        "DATABASE_URL": proxied,
        "HUB_RATELIMIT_ENABLED": "false",
        "HUB_TOKEN_MINUTES": "30",
        "HUB_DB_STATEMENT_TIMEOUT": str(STATEMENT),
        "HUB_DB_CONNECT_TIMEOUT": str(CONNECT),
        "HUB_DB_READY_TIMEOUT": str(READY),
        "HUB_DB_POOL_TIMEOUT": str(POOL),
        "HUB_RETRY_AFTER_SECONDS": str(RETRY_AFTER),
        "HUB_AUDIT_INTEGRATE_AFTER_COMMIT": "true",
        "HUB_AUDIT_INTEGRATE_INTERVAL_SECONDS": str(INTEGRATE_EVERY),
    }
    # `audit verify` as an operator runs it on the host: straight to the database.
    verify_env = {**common, "DATABASE_URL": direct, "HUB_AUDIT_INTEGRATE_AFTER_COMMIT": "false"}
    engine = sa.create_engine(direct, pool_size=3)

    server = Server(env, folder)
    timeline: list[str] = []
    catch_ups: list[CatchUp] = []
    verifications: list[Verification] = []
    try:
        token = _token(server.url, client_id, key)
        load = Load(server.url, token, speaker_ids, unshared_id)
        load.start()
        verifier = threading.Thread(
            target=_verify_loop, args=(verify_env, load, verifications), daemon=True
        )
        verifier.start()

        def mark(phase: str, what: str) -> None:
            load.phase = phase
            load.marks[phase] = load.now()
            timeline.append(f"{load.now():.1f} s: {what}")
            print(f"  [{load.now():6.1f} s] {what}", flush=True)

        _sleep_until(load, KILL_AT)
        before = server.workers()
        victim = before[0]
        mark("worker killed", f"kill -9 worker {victim} (workers {before})")
        os.kill(victim, signal.SIGKILL)
        _measure_catch_up(engine, "worker killed", catch_ups)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 60:
            now = server.workers()
            if len(now) == WORKERS and victim not in now:
                timeline.append(
                    f"{load.now():.1f} s: gunicorn replaced it ({now}) after "
                    f"{time.monotonic() - killed_at:.1f} s"
                )
                break
            time.sleep(0.2)

        _sleep_until(load, TERMINATE_AT)
        mark(
            "connections terminated",
            f"pg_terminate_backend on the hub's connections, {TERMINATE_ROUNDS} rounds "
            f"{TERMINATE_EVERY} s apart",
        )
        for round_ in range(TERMINATE_ROUNDS):
            _sleep_until(load, TERMINATE_AT + round_ * TERMINATE_EVERY)
            terminated = _terminate_hub_connections()
            timeline.append(f"{load.now():.1f} s: {terminated} connections terminated")
        _measure_catch_up(engine, "connections terminated (last round)", catch_ups)

        _sleep_until(load, OUTAGE_AT)
        proxy.mode("refuse", drop=True)
        mark("refused", "database unreachable: proxy refuses (open connections dropped)")
        _sleep_until(load, OUTAGE_AT + REFUSE_FOR)
        proxy.mode("blackhole")
        mark("blackholed", "database unreachable: proxy accepts and never answers")
        _sleep_until(load, OUTAGE_AT + REFUSE_FOR + BLACKHOLE_FOR)
        proxy.mode("pass", drop=True)
        mark("recovered", "database reachable again (proxy passes; blackholed sockets closed)")
        recovery = _measure_catch_up(engine, "outage (from recovery)", catch_ups)

        _sleep_until(load, END_AT)
        mark("after", "load stopped")
        load.finish()
        verifier.join(320)
        recovery.join(CATCH_UP_LIMIT + 5)
        drain: list[CatchUp] = []
        _catch_up(engine, "after the load", drain)
        catch_ups.extend(drain)
        proxy_counts = proxy.counts()
        with (folder / "calls.jsonl").open("w") as out:
            for call in load.calls:
                out.write(json.dumps(call.__dict__) + "\n")
    finally:
        server.stop()
        proxy.stop()
    final = _verify_once(verify_env, None, "final")
    faults_report.report(
        suite,
        load,
        verifications,
        final,
        catch_ups,
        engine,
        timeline,
        proxy_counts,
        server,
        Watchdog.GRACE,
        Watchdog.TICK,
    )
    engine.dispose()
    return suite
