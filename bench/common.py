"""What every benchmark shares: the machine's description, databases, percentiles, servers."""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BENCH_ORGS = 100  # rows the request benchmarks spread their reads and changes over
SERVER_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Result:
    """One measured figure, with its target where the issue sets one."""

    name: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None


@dataclass
class Suite:
    """A benchmark suite's results and notes, rendered into RESULTS.md."""

    title: str
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args, **kwargs) -> Result:  # type: ignore[no-untyped-def]
        result = Result(*args, **kwargs)
        self.results.append(result)
        verdict = "" if result.passed is None else (" PASS" if result.passed else " FAIL")
        print(
            f"  {result.name}: {result.value:,.2f} {result.unit} {result.target}{verdict}",
            flush=True,
        )
        return result

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", "| measure | result | target | |", "|---|---|---|---|"]
        for r in self.results:
            verdict = "" if r.passed is None else ("pass" if r.passed else "**FAIL**")
            lines.append(f"| {r.name} | {r.value:,.2f} {r.unit} | {r.target} | {verdict} |")
        lines.append("")
        lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"


def machine() -> str:
    """A description of the machine the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"model name\s*:\s*(.+)", text)
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    memory = ""
    try:
        kib = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    pg = ""
    try:
        engine = sa.create_engine(SERVER_URL)
        with engine.connect() as connection:
            pg = connection.exec_driver_sql("SHOW server_version").scalar()
        engine.dispose()
    except sa.exc.OperationalError:
        pg = "unreachable"
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {memory}; "
        f"Python {platform.python_version()}; PostgreSQL {pg}; "
        f"measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def fresh_database(name: str) -> str:
    """Drop and create a PostgreSQL database for a benchmark; returns its URL."""
    engine = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sa.make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn serving `app_path` with its own environment, for load from a second process."""

    def __init__(
        self, app_path: str, env: dict[str, str], workers: int = 2, threads: int = 1
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                app_path,
            ],
            cwd=ROOT,
            env={**os.environ, **env},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Integrator:
    """The dedicated audit integrator (`flask audit integrate --follow`, as
    prevent-hub-integrator.service runs it) with its own environment, for the length of a
    `with` block; the web workers beside it are started with HUB_AUDIT_INTEGRATE_AFTER_COMMIT
    false (`DEDICATED`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __enter__(self) -> Integrator:
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/flask"),
                "--app",
                "wsgi",
                "audit",
                "integrate",
                "--follow",
                "--interval",
                "0.25",
            ],
            cwd=ROOT,
            env={**os.environ, **self.env, **DEDICATED},
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


#: The web workers' setting beside a dedicated integrator (as deploy/hub.env.example has it).
DEDICATED = {"HUB_AUDIT_INTEGRATE_AFTER_COMMIT": "false"}


@contextmanager
def integrated(mode: str, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The web workers' environment for audit integration in `mode`: "dedicated" (an
    `Integrator` runs for the block, the workers only append) or "after-commit" (each worker
    integrates in a thread after its commits)."""
    if mode != "dedicated":
        yield dict(env)
        return
    with Integrator(env):
        yield {**env, **DEDICATED}


def wrk(url: str, seconds: int = 10, connections: int = 16, threads: int = 2) -> float:
    """Requests per second that wrk sustains against `url` (non-2xx responses are errors)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    output = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"errors under load:\n{output}")
    return float(re.search(r"Requests/sec:\s*([\d.]+)", output).group(1))


def agreement_body(
    parties: list[dict[str, str]],
    schedule: list[dict[str, Any]],
    *,
    purpose: str,
    reference: str = "BENCH-DSA-1",
    kind: str = "one_way",
) -> dict[str, Any]:
    """A complete agreement for the benchmarks, every ICO section filled, in force for a year
    from yesterday."""
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "reference": reference,
        "title": f"Bench agreement {reference}",
        "type": kind,
        "parties": parties,
        "purposes": [purpose],
        "lawful_basis": {
            "article_6": "Art. 6(1)(e) public task (Prevent duty)",
            "article_9": "Art. 9(2)(g) substantial public interest",
            "schedule_1": "DPA 2018 Sch. 1 para 10",
        },
        "data_schedule": schedule,
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=365)).isoformat(),
        "review_on": (now + timedelta(days=180)).date().isoformat(),
    }
    from agreements.content import SECTIONS  # imported when used, as the suites import the app

    data.update({key: f"Bench text for {key}." for key in SECTIONS})
    return data


def seed_partner_sharing(
    speakers_data: list[dict[str, Any]],
    *,
    purpose: str,
    scopes: list[str],
    reference: str = "BENCH-DSA-1",
) -> tuple[list[str], str, Any]:
    """Bench Fellwater records `speakers_data` and shares its speakers' names (aliases masked)
    with Bench Brackenmoor for `purpose`, under an approved agreement; Brackenmoor's partner
    system holds `scopes`. Returns the speakers' ids, the client's id and its private key (run
    inside the app context; commits)."""
    import uuid

    from joserfc.jwk import OKPKey

    from agreements import services as agreements
    from core.db import db
    from core.security import Actor
    from hub.records.speakers import services as speakers
    from partners import services, signin
    from partners.oauth import clients

    system = Actor.system("bench")

    def org(name: str, slug: str) -> Any:
        return services.create_organisation(
            system,
            {
                "name": name,
                "slug": slug,
                "kind": "university",
                "region": "Benchshire",
                "dp_contact_name": "Bench",
                "dp_contact_email": f"dpo@{slug}.example",
            },
        )

    def person(organisation: Any, roles: list[str]) -> Any:
        n = uuid.uuid4().hex[:8]
        return services.create_person(
            system,
            organisation,
            {"name": f"Bench {n}", "email": f"b{n}@{organisation.slug}.example", "roles": roles},
        ).person

    owner = org("Bench Fellwater", "bench-fellwater")
    recipient = org("Bench Brackenmoor", "bench-brackenmoor")
    officer = signin.actor_for(person(owner, ["events_officer"]))
    speaker_ids = [str(speakers.create_speaker(officer, data).id) for data in speakers_data]
    signatories = [person(o, ["signatory", "dpo"]) for o in (owner, recipient)]
    parties = [
        {
            "organisation_id": str(o.id),
            "role": "controller",
            "designated_person": "Designated Person",
            "signatory_id": str(p.id),
        }
        for o, p in zip((owner, recipient), signatories, strict=True)
    ]
    schedule = [
        {
            "provider": str(owner.id),
            "recipient": str(recipient.id),
            "record_type": "speaker",
            "fields": {"display_name": "full", "aliases": "masked"},
        }
    ]
    drafter = signin.actor_for(signatories[0])
    agreement = agreements.create_draft(
        drafter, agreement_body(parties, schedule, purpose=purpose, reference=reference)
    )
    agreements.propose(drafter, agreement)
    for signatory in signatories:
        agreements.approve(
            signin.actor_for(signatory),
            agreement,
            content_hash=agreement.content_hash,
            reauthenticated_at=datetime.now(UTC),
        )
    key = OKPKey.generate_key("Ed25519")
    key.ensure_kid()
    client, _ = clients.register_client(
        signin.actor_for(person(recipient, ["org_admin"])),
        recipient,
        {
            "name": "Bench events system",
            "jwks": {"keys": [{**key.as_dict(private=False), "kid": key.kid}]},
            "scopes": scopes,
        },
    )
    db.session.commit()
    return speaker_ids, client.client_id, key
