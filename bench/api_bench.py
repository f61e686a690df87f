"""Partner API speed: token issuance (private_key_jwt, each assertion used once) and the shared
speaker read (token, purpose, disclosure through an agreement, audit entry) against a bare
Flask + SQLAlchemy read of the same row that writes one audit entry, side by side."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Gunicorn, Suite, fresh_database, median, seed_partner_sharing

ISSUER = "http://127.0.0.1:8000"  # the hub's base URL: what assertions name as their audience
PURPOSE = "speaker_due_diligence"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ROUNDS = 3
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


def run() -> Suite:
    """Run the partner API benchmarks on PostgreSQL."""
    from core import migrations
    from hub.app import create_app

    suite = Suite("Partner API (issue 6), PostgreSQL")
    url = fresh_database("hub_bench_api")
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-api-"))
    instance = folder / "instance"
    settings = {"database_url": url, "instance_path": instance, "secret_key": "bench-only-secret"}
    app = create_app({**settings, "base_url": ISSUER})
    with app.app_context():
        migrations.upgrade(url)
        speaker_id, client_id, key = _seed()
    app.extensions["hub_db_engine"].dispose()

    script = folder / "token.lua"
    script.write_text(WRK_LUA)
    made = 0.0
    body_files = []
    for n in range(ROUNDS + 1):  # one warm-up run, then the timed ones
        path = folder / f"bodies-{n}.txt"
        made += _token_bodies(path, client_id, key, ASSERTIONS_PER_RUN)
        body_files.append(path)
    suite.notes.append(
        f"{len(body_files) * ASSERTIONS_PER_RUN:,} client assertions (Ed25519, each with its own "
        f"jti) signed before the load in {made:.1f} s; wrk POSTs each once (set-up, not timed)."
    )

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
    server = Gunicorn("bench.app:app", env, workers=2, threads=threads)
    try:
        _token_rate(server.url, body_files[0], script)  # warm up
        rates, refused = [], 0
        for path in body_files[1:]:
            rate, errors = _token_rate(server.url, path, script)
            rates.append(rate)
            refused += errors
        token_rate = median(rates)
        suite.add(
            "token issuance (client credentials, private_key_jwt, audited)",
            token_rate,
            "tokens/s",
            ">= 300 tokens/s",
            token_rate >= 300 and refused == 0,
        )
        suite.notes.append(
            "Token issuance per run: " + ", ".join(f"{r:,.0f}" for r in rates) + " tokens/s."
        )
        if refused:
            suite.notes.append(f"{refused} token requests were refused under load.")

        token = _bearer_token(server.url, client_id, key, folder)
        headers = [
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            f"Hub-Purpose: {PURPOSE}",
            "-H",
            "Hub-On-Behalf-Of: staff-bench",
        ]
        paths = {
            "bare": f"/bench/speaker-bare/{speaker_id}",
            "api": f"/api/v1/shared/speakers/{speaker_id}",
        }
        measured: dict[str, list[float]] = {name: [] for name in paths}
        for path in paths.values():
            _wrk(server.url + path, *headers, seconds=2)  # warm up both workers
        for _ in range(ROUNDS):  # interleaved, so drift affects both sides alike
            for name, path in paths.items():
                rate, errors = _wrk(server.url + path, *headers)
                if errors:
                    raise RuntimeError(f"{errors} non-2xx answers from {path}")
                measured[name].append(rate)
        bare, api = median(measured["bare"]), median(measured["api"])
        suite.notes.append(
            "Per run (bare / API): "
            + "; ".join(
                f"{b:,.0f} / {a:,.0f} req/s"
                for b, a in zip(measured["bare"], measured["api"], strict=True)
            )
            + ". Other work on this shared 2-core machine moves single runs by up to 2x."
        )
        suite.add("bare Flask + SQLAlchemy: speaker row read + one audit entry", bare, "req/s")
        suite.add(
            "partner API: shared speaker read (Bearer token, purpose, disclose, audit)",
            api,
            "req/s",
        )
        suite.add(
            "shared speaker read: throughput kept against the bare read",
            api / bare * 100,
            "%",
            ">= 80 %",
            api / bare >= 0.8,
        )
    finally:
        server.stop()
    suite.notes.append(
        "Token issuance: each request is authenticated by an Ed25519 client assertion that the "
        "hub checks (signature, audience, lifetime) and records as used (single-use jti, one "
        "INSERT ... ON CONFLICT DO NOTHING), then an ES256 RFC 9068 access token is signed and "
        "its issuance audited; the used jti and the audit entry commit together. Four SQL "
        "statements and one commit per token: the client with its organisation, the jti, the "
        "current signing key, the audit entry."
    )
    suite.notes.append(
        "Shared speaker read: the ES256 token is verified (published keys, revocation list, the "
        "client and its organisation, scopes), the purpose and member of staff are read from "
        "the headers, the agreement covering the speaker is found and the record projected "
        "through its data schedule (with its statements, ratings and appearances, each "
        "disclosed), one disclosure audit entry is written and committed. The bare endpoint "
        "selects the same speaker row and writes one audit entry with `audit.services.record`. "
        f"Both: wrk, {WRK_THREADS} threads, {CONNECTIONS} connections, {SECONDS} s per run, "
        f"{ROUNDS} interleaved runs, medians."
    )
    suite.notes.append(
        f"gunicorn: 2 workers x {threads} thread(s), rate limits off (HUB_RATELIMIT_ENABLED="
        "false: the per-client limit would otherwise cap the load), audit integration after "
        "commit; load from wrk on the same 2 cores as gunicorn and PostgreSQL."
    )
    return suite
