"""Browser journeys: a real hub served by gunicorn on a free port, driven by Debian's Chromium.

Each journey file gets a hub of its own: a server in its own process against a fresh SQLite
database seeded with the demo region, so every request commits for real (the root conftest's
per-test rollback is not used: no fixture here asks for `app`), and no journey sees what
another file's journeys changed, whichever order the files run in, alone or together. Within
a file each journey signs in as its own demo person, so TOTP time steps, which the hub
accepts once per person, never collide.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.conftest import close_app
from tests.mail import SmtpServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("HUB_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 30
ACTION_TIMEOUT_MS = 10_000
SERVER_LOG_LINES = 60
# A refused form (400) is logged by Chromium as a failed load; that is expected, not a fault.
EXPECTED_CONSOLE_ERROR = "Failed to load resource: the server responded with a status of 4"

_server_log: Path | None = None


@dataclass(frozen=True)
class Account:
    """A seeded person who can sign in."""

    email: str
    name: str
    organisation: str
    roles: tuple[str, ...]
    totp_secret: str


@dataclass(frozen=True)
class LiveHub:
    """The running server and who can sign in to it."""

    base_url: str
    password: str
    accounts: dict[str, Account]
    log_path: Path
    #: The SMTP server the hub sends its mail to (journeys read what arrived).
    mail: SmtpServer | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def account(self, email: str) -> Account:
        return self.accounts[email]


# --- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(
    database_url: str, instance: Path, secret_key: str, base_url: str
) -> tuple[str, dict[str, Account]]:
    """Migrate and seed the database in-process, with the instance folder the server will use
    (the field-encryption key for TOTP secrets is generated there)."""
    from core import migrations
    from core.db import db
    from hub.app import create_app
    from hub.demo import seed_demo

    app = create_app(
        {
            "env": "test",
            "database_url": database_url,
            "instance_path": instance,
            "secret_key": secret_key,
            "base_url": base_url,
            "password_time_cost": 1,
            "password_memory_kib": 8,
            "ratelimit_storage_uri": "memory://",
            # The server integrates the demo's audit entries when it starts; this process
            # keeps no integrator thread of its own on the database.
            "audit_integrate_after_commit": False,
            # The demo's email is sent by the server, to the journey's SMTP server.
            "mail_send_after_commit": False,
        }
    )
    with app.app_context():
        migrations.upgrade(database_url)
        password, demo_accounts = seed_demo()
        db.session.commit()
        db.session.remove()
    close_app(app)
    accounts = {
        a.email: Account(a.email, a.name, a.organisation, tuple(a.roles), a.totp_secret)
        for a in demo_accounts
    }
    return password, accounts


def _server_environment(
    database_url: str, instance: Path, secret_key: str, base_url: str
) -> dict[str, str]:
    """The server's settings come from the environment alone (inherited HUB_* are dropped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "HUB_INSTANCE_PATH": str(instance),
            "HUB_ENV": "test",
            "HUB_BASE_URL": base_url,
            "HUB_SECRET_KEY": secret_key,
            "HUB_PASSWORD_TIME_COST": "1",
            "HUB_PASSWORD_MEMORY_KIB": "8",
            "HUB_RATELIMIT_STORAGE_URI": "memory://",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _gunicorn() -> str:
    beside_python = VENV_BIN / "gunicorn"
    return str(beside_python) if beside_python.exists() else shutil.which("gunicorn") or "gunicorn"


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the hub exited with {process.returncode} while starting:\n{log.read_text()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the hub did not answer /healthz in {STARTUP_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def live_hub(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveHub]:
    """The journey file's own hub, served by gunicorn (1 worker, 4 threads) on 127.0.0.1 and
    seeded with the demo (its people's TOTP secrets are new for each hub), sending its mail to
    an SMTP server of its own (`live_hub.mail`). A journey file may
    set `SERVER_SETTINGS` (HUB_* variables) for its hub, e.g. a lower lockout threshold."""
    base = tmp_path_factory.mktemp("e2e")
    instance = base / "instance"
    database_url = f"sqlite:///{base / 'hub.sqlite3'}"
    secret_key = secrets.token_urlsafe(32)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    password, accounts = _seed(database_url, instance, secret_key, base_url)
    mail = SmtpServer().start()
    mail_settings = {
        "HUB_MAIL_BACKEND": "smtp",
        "HUB_SMTP_HOST": "127.0.0.1",
        "HUB_SMTP_PORT": str(mail.port),
        "HUB_SMTP_TLS": "none",
        "HUB_MAIL_SEND_INTERVAL_SECONDS": "2",
    }

    log_path = base / "server.log"
    command = [
        _gunicorn(),
        "--workers", "1",
        "--threads", "4",
        "--bind", f"127.0.0.1:{port}",
        "--access-logfile", "-",
        "wsgi:app",
    ]  # fmt: skip
    global _server_log
    _server_log = log_path
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=_server_environment(database_url, instance, secret_key, base_url)
            | mail_settings
            | getattr(request.module, "SERVER_SETTINGS", {}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(base_url, process, log_path)
        yield LiveHub(base_url, password, accounts, log_path, mail)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        mail.stop()


# --- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole run (`playwright install` is not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/ensure-chromium", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser, live_hub: LiveHub) -> Iterator:
    """Make fresh browser contexts (separate cookie jars); all are closed after the test,
    which then fails if any page threw a JavaScript error or logged one (a script blocked
    by the Content-Security-Policy, say)."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: problems.append(f"{page.url}: uncaught {error}"))

        def console(message: ConsoleMessage) -> None:
            if message.type == "error" and not message.text.startswith(EXPECTED_CONSOLE_ERROR):
                problems.append(f"{page.url}: console error: {message.text}")

        page.on("console", console)

    def factory() -> BrowserContext:
        context = browser.new_context(base_url=live_hub.base_url)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.on("page", watch)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()
    assert not problems, "errors in the browser:\n" + "\n".join(problems)


@pytest.fixture
def context(new_context) -> BrowserContext:
    return new_context()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed journey shows the end of the server's log (access lines and tracebacks)."""
    report = yield
    if report.failed and _server_log is not None and _server_log.exists():
        lines = _server_log.read_text(errors="replace").splitlines()[-SERVER_LOG_LINES:]
        report.sections.append(("hub server log (last lines)", "\n".join(lines)))
    return report


# --- signing in ---------------------------------------------------------------------------

_last_step: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """A code the hub will accept now: each 30-second step is accepted once per person, with
    one step of drift either way. Every sign-in in this run goes through here, so the steps
    already used are known without asking the database."""
    totp = pyotp.TOTP(secret)
    while True:
        now = totp.timecode(datetime.now(UTC))
        used = _last_step.get(secret)
        # The current step where it is free (a step behind may fall out of the window while
        # the form is sent), else the next one, which the hub accepts as a fast clock's.
        step = now if used is None else max(now, used + 1)
        if step <= now + 1:  # the hub allows one step ahead, as a clock running fast would
            _last_step[secret] = step
            return totp.generate_otp(step)
        time.sleep(1)


def submit_password(page: Page, email: str, password: str) -> None:
    """Fill and send the sign-in form (the page must be showing it)."""
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()


def submit_code(page: Page, secret: str) -> None:
    """Fill and send the security code page."""
    page.get_by_label("Enter your security code").fill(totp_code(secret))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()


def sign_in(page: Page, email: str, password: str, secret: str) -> None:
    """Sign in through the real pages: email and password, then the TOTP code."""
    page.goto("/sign-in")
    submit_password(page, email, password)
    page.wait_for_url("**/sign-in/code**")
    submit_code(page, secret)
    page.wait_for_url(lambda url: "/sign-in" not in url)


@pytest.fixture
def sign_in_as(live_hub: LiveHub):
    """sign_in_as(page, email): sign a seeded person in on `page`."""

    def signer(page: Page, email: str) -> Account:
        account = live_hub.account(email)
        sign_in(page, account.email, live_hub.password, account.totp_secret)
        return account

    return signer
