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
import multiprocessing
import os
import random
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import (
    ROOT,
    SERVER_URL,
    Suite,
    free_port,
    fresh_database,
    seed_partner_sharing,
)

ISSUER = "http://127.0.0.1:8000"  # the hub's base URL: what client assertions name as audience
PURPOSE = "speaker_due_diligence"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DATABASE = "hub_bench_faults"
APP_NAME = "faults-bench-hub"  # application_name of the hub's connections (to terminate them)
NAME_PREFIX = "Faults bench speaker"

# The hub's deadlines for this run (seconds), set through its HUB_* settings.
STATEMENT, CONNECT, READY, POOL, RETRY_AFTER, INTEGRATE_EVERY = 5, 2, 1, 5, 5, 5
WORKERS = 2  # x 4 threads each, from deploy/gunicorn.conf.py
READERS, WRITERS = 4, 2
SHARED_SPEAKERS = 20
CLIENT_TIMEOUT = 40  # a request unanswered after this long has hung (gunicorn's timeout is 30)
REPLAY_EVERY = 10  # every n-th successful create is sent again with its key (must replay)
REFUSED_SHARE = 0.1  # reads of a speaker no agreement discloses (404, the refusal audited)

# The schedule, in seconds from the start of the load.
KILL_AT, TERMINATE_AT, OUTAGE_AT = 20, 55, 90
# pg_terminate_backend rounds, this far apart: one round catches a request inside its COMMIT
# only by chance; three give the fault more chances to land anywhere in a request.
TERMINATE_ROUNDS, TERMINATE_EVERY = 3, 5
REFUSE_FOR, BLACKHOLE_FOR = 15, 15
END_AT = 200
CATCH_UP_LIMIT = 60.0  # give up measuring a catch-up after this long


# --- the proxy (a child process) -------------------------------------------------------------


class FaultProxy:
    """A TCP proxy to PostgreSQL: "pass" forwards; "refuse" closes each new connection at once;
    "blackhole" accepts and reads every byte (TCP acknowledges them) and never answers.
    Modelled on tests/test_faults.py's FaultyProxy."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: set[socket.socket] = set()
        self.guard = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str, drop: bool) -> None:
        self.mode = mode
        if drop:
            self.drop_all()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.counts[f"accepted while {self.mode}"] += 1
            if self.mode == "refuse":
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> None:
        with self.guard:
            self.open.update(socks)

    def _serve(self, client: socket.socket) -> None:
        # A socket closed by drop_all() under select() raises ValueError or OSError: either
        # way this connection is over.
        with contextlib.suppress(OSError, ValueError):
            self._pump(client)

    def _pump(self, client: socket.socket) -> None:
        self._track(client)
        if self.mode == "blackhole":
            try:
                while client.recv(65536):  # read and acknowledge; never answer
                    pass
            finally:
                self._close(client)
            return
        server = socket.create_connection(self.upstream)
        self._track(server)
        try:
            while not self.stopped.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.5)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if self.mode == "blackhole":
                        continue  # swallowed in both directions
                    (server if source is client else client).sendall(data)
        finally:
            self._close(client, server)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self.guard:
                self.open.discard(sock)

    def drop_all(self) -> None:
        """Close every connection through the proxy (as a restart of the database would)."""
        with self.guard:
            socks = list(self.open)
        self._close(*socks)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        self.drop_all()


def _proxy_main(upstream: tuple[str, int], pipe: Any) -> None:
    """The proxy process: serve, and obey ("mode", name, drop) / ("counts",) / ("stop",)."""
    proxy = FaultProxy(upstream)
    pipe.send(proxy.port)
    while True:
        command, *args = pipe.recv()
        if command == "mode":
            proxy.set_mode(*args)
            pipe.send(proxy.mode)
        elif command == "counts":
            pipe.send(dict(proxy.counts))
        elif command == "stop":
            proxy.close()
            pipe.send("stopped")
            return


class ProxyProcess:
    """The proxy in its own process (so its forwarding never competes for the load's GIL)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_proxy_main, args=(upstream, child), daemon=True)
        self.process.start()
        self.port: int = self.pipe.recv()
        self.guard = threading.Lock()

    def _ask(self, *command: Any) -> Any:
        with self.guard:
            self.pipe.send(command)
            return self.pipe.recv()

    def mode(self, name: str, drop: bool = False) -> None:
        self._ask("mode", name, drop)

    def counts(self) -> dict[str, int]:
        return self._ask("counts")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ask("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


# --- the hub under gunicorn -------------------------------------------------------------------


class Server:
    """gunicorn with deploy/gunicorn.conf.py on a free port, its output in `folder`."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "gunicorn.log"
        self.access_path = folder / "access.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-c",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--access-logfile",
                str(self.access_path),
                "--error-logfile",
                "-",
                "wsgi:app",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        import requests

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}")

    def workers(self) -> list[int]:
        """The master's worker processes, by pid (from /proc)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return sorted(found)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


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
    _report(
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


# --- the figures ---------------------------------------------------------------------------------


def _report(
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
