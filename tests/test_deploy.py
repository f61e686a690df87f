"""The supervised deployment in deploy/: the systemd units say what matters (how the web service
is stopped and restarted, hardening, commands that exist), and gunicorn's workers leave with
their master, so a restart finds the port free."""

from __future__ import annotations

import contextlib
import http.client
import os
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import app_config, close_app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = [
    "prevent-hub-web.service",
    "prevent-hub-integrator.service",
    "prevent-hub-witness.service",
    "prevent-hub-submit.service",
]
TIMERS = {
    "prevent-hub-witness.timer": "prevent-hub-witness.service",
    "prevent-hub-submit.timer": "prevent-hub-submit.service",
}
BIN = Path(sys.executable).parent

Unit = dict[str, dict[str, list[str]]]


def read_unit(name: str) -> Unit:
    """A unit file as {section: {key: [values in order]}}: keys such as Environment= repeat."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in (DEPLOY / name).read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{name}: {line!r} is outside any section"
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    """The value of a key set once (the last one wins in systemd; here it must be alone)."""
    values = unit.get(section, {}).get(key)
    assert values is not None, f"{key}= is missing from [{section}]"
    assert len(values) == 1, f"{key}= is set {len(values)} times"
    return values[0]


def gunicorn_settings() -> dict:
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


# --- the unit files ------------------------------------------------------------------------

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallFilter": "@system-service",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
}


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_is_confined(name):
    unit = read_unit(name)
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, f"{name}: {key}"
    assert one(unit, "Service", "User") not in {"", "root", "0"}
    # The instance folder is the one place it writes, and the settings come from one file.
    environment = dict(
        item.split("=", 1)
        for value in unit["Service"]["Environment"]
        for item in shlex.split(value)
    )
    assert environment["HUB_INSTANCE_PATH"] in one(unit, "Service", "ReadWritePaths").split()
    assert one(unit, "Service", "EnvironmentFile") == "/etc/prevent-hub/hub.env"


def test_web_service_stops_the_master_and_kills_what_it_leaves():
    unit = read_unit("prevent-hub-web.service")
    assert one(unit, "Service", "KillMode") == "mixed"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "Type") == "notify"
    # systemd's SIGKILL comes only after gunicorn's own graceful stop has had its time.
    stop_after = int(one(unit, "Service", "TimeoutStopSec"))
    assert stop_after > gunicorn_settings()["graceful_timeout"]
    command = shlex.split(one(unit, "Service", "ExecStart"))
    assert Path(command[0]).name == "gunicorn"
    config = command[command.index("-c") + 1]
    assert config == one(unit, "Service", "WorkingDirectory") + "/deploy/gunicorn.conf.py"
    assert command[-1] == "wsgi:app"


def test_integrator_restarts_whatever_made_it_stop_and_never_gives_up():
    unit = read_unit("prevent-hub-integrator.service")
    assert one(unit, "Service", "Restart") == "always"
    assert float(one(unit, "Service", "RestartSec")) > 0
    assert one(unit, "Unit", "StartLimitIntervalSec") == "0"


@pytest.mark.parametrize(("timer_name", "service"), sorted(TIMERS.items()))
def test_each_timer_starts_its_oneshot_service_periodically(timer_name, service):
    timer = read_unit(timer_name)
    assert one(timer, "Timer", "Unit") == service
    assert one(timer, "Timer", "OnCalendar")
    assert one(timer, "Install", "WantedBy") == "timers.target"
    assert one(read_unit(service), "Service", "Type") == "oneshot"


def test_gunicorn_access_log_leaves_out_query_strings_and_referrers():
    log_format = gunicorn_settings()["access_log_format"]
    for carries_a_query in ("%(r)s", "%(q)s", "%(f)s", "%({referer}i)s", "%({query_string}e)s"):
        assert carries_a_query not in log_format
    assert "%(U)s" in log_format


@pytest.fixture
def bare_app(tmp_path: Path) -> Iterator[Flask]:
    """An app for `--help` only: nothing reaches its database."""
    from core.db import db
    from hub.app import create_app

    app = create_app(app_config(f"sqlite:///{tmp_path / 'help.sqlite3'}", tmp_path / "instance"))
    yield app
    db.session.remove()
    close_app(app)


@pytest.mark.parametrize("name", [s for s in SERVICES if s != "prevent-hub-web.service"])
def test_the_flask_command_a_unit_runs_exists(name, bare_app):
    command = shlex.split(one(read_unit(name), "Service", "ExecStart"))
    assert Path(command[0]).name == "flask"
    assert command[1:3] == ["--app", "wsgi"]
    arguments = command[3:]
    result = bare_app.test_cli_runner().invoke(args=[*arguments, "--help"])
    assert result.exit_code == 0, result.output
    for option in (a for a in arguments if a.startswith("--")):
        assert option in result.output  # e.g. --follow is an option of `audit integrate`


def test_systemd_analyze_verifies_the_units(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # A root with the system's own units and the commands the units name, so that verify
    # checks the files themselves rather than this machine's /opt.
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for command in ("opt/prevent-hub/.venv/bin/gunicorn", "opt/prevent-hub/.venv/bin/flask"):
        (root / command).parent.mkdir(parents=True, exist_ok=True)
        (root / command).write_text("#!/bin/sh\n")
        (root / command).chmod(0o755)
    (root / "bin").mkdir()
    (root / "bin/kill").write_text("#!/bin/sh\n")
    (root / "bin/kill").chmod(0o755)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in [*SERVICES, *TIMERS]:
        shutil.copy(DEPLOY / name, units / name)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *sorted(str(p) for p in units.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Older systemd (before 254) does not know the integrator's restart back-off keys and
    # ignores them, restarting at the fixed RestartSec; nothing else may be reported.
    reported = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip()
        and not ("Unknown key 'RestartSteps'" in line or "Unknown key 'RestartMaxDelaySec'" in line)
    ]
    assert reported == []


# --- gunicorn's workers leave with their master --------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Whether a new gunicorn could listen on the port (it binds with SO_REUSEADDR too)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True


def _running(pid: int) -> bool:
    """Whether `pid` is still running (an exited child nobody has reaped yet is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_workers_exit_and_free_the_port_soon_after_the_master_is_killed(tmp_path):
    environment = {
        **os.environ,
        "HUB_ENV": "development",
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.sqlite3'}",
        "HUB_AUDIT_INTEGRATE_AFTER_COMMIT": "false",
    }
    environment.pop("GUNICORN_CMD_ARGS", None)
    # Migrating also makes the instance keys, so the workers do not race to make them.
    subprocess.run(
        [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    master = subprocess.Popen(
        [
            BIN / "gunicorn",
            *("-c", DEPLOY / "gunicorn.conf.py"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "2"),
            "wsgi:app",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    workers: list[int] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                connection.request("GET", "/healthz")
                assert connection.getresponse().read()
                break
            except OSError:
                connection.close()
                assert master.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = _children(master.pid)
        assert len(workers) == 2
        # The connection stays open (kept alive) while the master dies, as a proxy's would.
        master.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        master.wait(timeout=10)
        exited = freed = None
        while (exited is None or freed is None) and time.monotonic() - killed < 30:
            if exited is None and not any(_running(pid) for pid in workers):
                exited = time.monotonic() - killed
            if freed is None and _port_is_free(port):
                freed = time.monotonic() - killed
            time.sleep(0.02)
        log_text = (tmp_path / "gunicorn.log").read_text()
        assert exited is not None and exited < 8, f"workers still running\n{log_text}"
        assert freed is not None and freed < 8, f"port still held\n{log_text}"
        assert log_text.count("Parent changed, shutting down") == 2
    finally:
        connection.close()
        log.close()
        if master.poll() is None:
            master.kill()
            master.wait()
        for pid in workers:
            if _running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


# --- MemoryDenyWriteExecute ----------------------------------------------------------------

_UNDER_MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3+)
    sys.exit(77)
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("writable and executable memory was not refused")
except PermissionError:
    pass
import argon2, fpdf, psycopg, pyotp, segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from audit import notes
from hub.app import create_app
from tests.conftest import app_config
argon2.PasswordHasher(time_cost=1, memory_cost=1024).verify(
    argon2.PasswordHasher(time_cost=1, memory_cost=1024).hash("x"), "x")
key = AESGCM.generate_key(bit_length=256)
assert AESGCM(key).decrypt(b"n" * 12, AESGCM(key).encrypt(b"n" * 12, b"x", None), None) == b"x"
signer = notes.make_signer_key("hub.example/audit")
note = notes.sign_note(notes.format_checkpoint("hub.example/audit", 1, bytes(32)), signer)
notes.open_note(note, [notes.verifier_key_from_signer(signer)])
pyotp.TOTP(pyotp.random_base32()).now()
segno.make("otpauth://totp/x").png_data_uri()
pdf = fpdf.FPDF(); pdf.add_page(); pdf.set_font("helvetica"); pdf.cell(text="x"); pdf.output()
app = create_app(app_config("sqlite:///" + sys.argv[1], sys.argv[2]))
assert app.test_client().get("/healthz").status_code == 200
if len(sys.argv) > 3:
    with psycopg.connect(sys.argv[3], connect_timeout=5) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
"""


def test_the_hub_runs_without_writable_executable_memory(tmp_path, database_server):
    """MemoryDenyWriteExecute=yes in the units: the hub's native code (cryptography, argon2,
    psycopg, CPython itself) never asks for memory that is writable and executable. Run under
    the kernel's own form of the rule (prctl PR_SET_MDWE); systemd enforces the same rule with
    this prctl or a seccomp filter."""
    arguments = [str(tmp_path / "hub.sqlite3"), str(tmp_path / "instance")]
    if database_server is not None:
        arguments.append(
            sa.make_url(database_server)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
    result = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert result.returncode == 0, result.stderr
