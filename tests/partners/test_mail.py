"""Email delivery: the outbox written in the change's transaction, the sender's claims, retries
and give-up, the backends (a real SMTP server, STARTTLS with a certificate made here, GOV.UK
Notify's official client against a stand-in for Notify's API), `/dev/mail`, and the settings
that choose them."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import migrations
from core.config import DEFAULT_MAIL_FROM, ConfigurationError, Settings
from core.db import db, make_engine, utcnow
from partners import notifications
from partners.mail import backends, messages, outbox, sender
from partners.mail.backends import (
    ConsoleBackend,
    DevBackend,
    NotifyBackend,
    Outgoing,
    SmtpBackend,
)
from partners.models import EmailStatus, OutboxEmail
from tests.conftest import app_config, close_app, dispose_database, fresh_database_url
from tests.mail import HOST, SmtpServer, free_port, self_signed_certificate

SENDER = "Prevent Information Sharing Hub <no-reply@hub.example>"


def smtp_to(server: SmtpServer, **options: Any) -> SmtpBackend:
    """A backend that sends to `server` in clear (a relay on this machine)."""
    return SmtpBackend(HOST, server.port, sender=SENDER, tls="none", timeout=5, **options)


def queue_one(to: str = "reader@test-org.example", key: str | None = None, **notice: Any):
    email = messages.notice(
        notice.get("subject", "Something is waiting for you"),
        notice.get("paragraphs", ["A thing happened."]),
        notice.get("link", "/somewhere"),
    )
    return outbox.queue(to, email, kind="test.notice", dedupe_key=key or uuid.uuid4().hex)


def stored(row_id: int) -> OutboxEmail:
    return db.session.scalars(
        sa.select(OutboxEmail)
        .where(OutboxEmail.id == row_id)
        .execution_options(populate_existing=True)
    ).one()


# --- messages ----------------------------------------------------------------------------


def test_a_notice_has_a_plain_text_and_an_html_part_with_an_absolute_link(app_ctx):
    email = messages.notice("An event is waiting", ["Please look <soon> & decide."], "/events/1")
    base = "http://127.0.0.1:8000"  # the test app's HUB_BASE_URL (the default)
    assert email.subject == "An event is waiting"
    assert "Please look <soon> & decide." in email.text
    assert f"{base}/events/1" in email.text
    assert "Please look &lt;soon&gt; &amp; decide." in email.html  # escaped in HTML only
    assert f'href="{base}/events/1"' in email.html


def test_a_subject_cannot_carry_a_header(app_ctx):
    email = messages.notice("Hello\r\nBcc: someone@elsewhere.example", ["x"])
    assert "\n" not in email.subject and "\r" not in email.subject


# --- the outbox --------------------------------------------------------------------------


def test_queueing_is_once_per_dedupe_key(app_ctx):
    assert queue_one(key="reminder:1") is not None
    assert queue_one(key="reminder:1") is None
    count = sa.select(sa.func.count()).where(OutboxEmail.dedupe_key == "reminder:1")
    assert db.session.scalar(count) == 1


def test_a_rolled_back_change_queues_nothing_and_a_committed_one_is_sent(
    app_ctx, make_org, make_person, mailbox
):
    org = make_org()
    person = make_person(org, ["prevent_lead"])
    change = db.session.begin_nested()  # the change's transaction, as the edge runs it
    notifications.notify(org.id, "test.rolled_back", "Never sent", person_id=person.id)
    change.rollback()
    notifications.notify(org.id, "test.kept", "Sent once committed", person_id=person.id)
    db.session.commit()
    done = sender.deliver(db.session(), smtp_to(mailbox))
    assert done.sent == 1
    assert [m.subject for m in mailbox.to(person.email)] == ["Sent once committed"]
    assert not db.session.scalar(
        sa.select(OutboxEmail.id).where(OutboxEmail.kind == "test.rolled_back")
    )


# --- the sender --------------------------------------------------------------------------


def test_delivery_sends_text_and_html_through_a_real_smtp_server(app_ctx, mailbox):
    row = queue_one(subject="Your request", paragraphs=["It is ready."], link="/advisory/7")
    db.session.commit()
    done = sender.deliver(db.session(), smtp_to(mailbox))
    assert (done.sent, done.retrying, done.failed) == (1, 0, 0)
    [received] = mailbox.messages
    assert received.envelope_to == ("reader@test-org.example",)
    assert received.message["From"] == SENDER
    assert received.subject == "Your request"
    assert received.message.get_content_type() == "multipart/alternative"
    assert "It is ready." in received.text and "http://127.0.0.1:8000/advisory/7" in received.text
    assert 'href="http://127.0.0.1:8000/advisory/7"' in received.html
    sent = stored(row.id)
    assert sent.status == EmailStatus.SENT and sent.sent_at is not None and sent.attempts == 1
    assert sent.claimed_by is None
    assert sent.body == sent.html_body == ""  # not kept once sent (links, what was said)
    # Sent once: a second round finds nothing due.
    assert sender.deliver(db.session(), smtp_to(mailbox)).attempted == 0
    assert len(mailbox.messages) == 1


def test_an_outage_is_retried_with_backoff_and_the_mail_arrives_once(app_ctx):
    relay = SmtpServer()  # not started: the relay is down
    row = queue_one(subject="Through the outage")
    db.session.commit()
    now = utcnow()
    done = sender.deliver(db.session(), smtp_to(relay), now=now)
    assert (done.sent, done.retrying) == (0, 1)
    waiting = stored(row.id)
    assert waiting.status == EmailStatus.PENDING and waiting.attempts == 1
    assert waiting.next_attempt_at == now + timedelta(minutes=1)
    assert waiting.last_error == "ConnectionRefusedError"  # the class only, no message
    # Not due yet: a round a moment later leaves it alone.
    assert (
        sender.deliver(db.session(), smtp_to(relay), now=now + timedelta(seconds=30)).attempted == 0
    )
    # The second failure waits twice as long.
    sender.deliver(db.session(), smtp_to(relay), now=now + timedelta(minutes=1))
    assert stored(row.id).next_attempt_at == now + timedelta(minutes=1) + timedelta(minutes=2)
    relay.start()
    try:
        later = now + timedelta(minutes=3)
        assert sender.deliver(db.session(), smtp_to(relay), now=later).sent == 1
        assert (
            sender.deliver(db.session(), smtp_to(relay), now=later + timedelta(hours=2)).attempted
            == 0
        )
        assert [m.subject for m in relay.messages] == ["Through the outage"]
    finally:
        relay.stop()
    sent = stored(row.id)
    assert sent.status == EmailStatus.SENT and sent.attempts == 3 and sent.last_error is None


@pytest.mark.parametrize(
    ("attempts", "minutes"), [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)]
)
def test_the_wait_doubles_from_a_minute_to_an_hour(attempts, minutes):
    assert sender.wait_after(attempts) == timedelta(minutes=minutes)


def test_mail_undelivered_for_three_days_is_given_up_and_shown_to_operators(app_ctx, cli):
    relay = SmtpServer()  # never started
    row = queue_one(subject="Lost cause")
    db.session.commit()
    created = stored(row.id).created_at
    nearly = created + timedelta(days=2, hours=23)
    sender.deliver(db.session(), smtp_to(relay), now=nearly)
    assert stored(row.id).status == EmailStatus.PENDING
    done = sender.deliver(db.session(), smtp_to(relay), now=created + timedelta(days=3, hours=1))
    assert done.failed == 1
    failed = stored(row.id)
    assert failed.status == EmailStatus.FAILED and failed.failed_at is not None
    result = cli.invoke(args=["mail", "status"])
    assert result.exit_code == 0, result.output
    assert "failed: 1" in result.output and f"failed {row.id} (test.notice)" in result.output
    assert "ConnectionRefusedError" in result.output and "Lost cause" not in result.output
    result = cli.invoke(args=["mail", "retry-failed"])
    assert "Queued 1 failed email again." in result.output
    assert stored(row.id).status == EmailStatus.PENDING


def test_an_address_refused_for_good_fails_at_once_with_the_smtp_code(app_ctx):
    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):
            return "550 5.1.1 No such mailbox"

    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(Refusing(), hostname=HOST, port=port)
    controller.start()
    try:
        row = queue_one(to="nobody@test-org.example")
        db.session.commit()
        backend = SmtpBackend(HOST, port, sender=SENDER, tls="none", timeout=5)
        assert sender.deliver(db.session(), backend).failed == 1
    finally:
        controller.stop()
    failed = stored(row.id)
    assert failed.status == EmailStatus.FAILED
    assert failed.last_error == "SMTPRecipientsRefused 550"


def test_a_backend_fault_loses_no_mail(app_ctx):
    class Broken:
        def send(self, message: Outgoing) -> None:
            raise RuntimeError("a bug, with the body in its message")

        def describe(self) -> str:
            return "broken"

    row = queue_one()
    db.session.commit()
    assert sender.deliver(db.session(), Broken()).retrying == 1
    assert stored(row.id).status == EmailStatus.PENDING
    assert stored(row.id).last_error == "RuntimeError"


def test_a_lapsed_claim_is_taken_over_and_a_live_one_is_not(app_ctx, mailbox):
    row = queue_one()
    db.session.commit()
    now = utcnow()
    _token, claimed = sender.claim(db.session(), now=now)
    assert [m.id for m in claimed] == [row.id]
    # Another sender now: the claim holds.
    assert sender.claim(db.session(), now=now + timedelta(minutes=1))[1] == []
    # The first sender died: after the claim lapses the row is sent by another.
    later = now + sender.CLAIM + timedelta(seconds=1)
    assert sender.deliver(db.session(), smtp_to(mailbox), now=later).sent == 1
    assert len(mailbox.messages) == 1


# --- two senders at once, each with its own connection ------------------------------------


@pytest.fixture
def own_database(app, database_server, tmp_path) -> Iterator[sa.Engine]:
    """A migrated database of its own whose commits are real (two senders need two
    connections that see each other's commits)."""
    url = fresh_database_url(database_server, tmp_path, "mail")
    with app.app_context():
        migrations.upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        dispose_database(database_server, url)


def test_two_senders_at_once_never_send_one_email_twice(own_database, mailbox):
    rows = 60
    with Session(own_database) as session:
        session.add_all(
            OutboxEmail(
                to_address=f"person{n}@test-org.example",
                subject=f"Message {n}",
                body=f"Body {n}",
                html_body="",
                kind="test.race",
                dedupe_key=f"race:{n}",
            )
            for n in range(rows)
        )
        session.commit()
    start = threading.Barrier(2)
    rounds: list[sender.Round] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with Session(own_database, expire_on_commit=False) as session:
                start.wait()
                while (done := sender.deliver(session, smtp_to(mailbox), limit=7)).attempted:
                    rounds.append(done)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    subjects = [m.subject for m in mailbox.messages]
    assert len(subjects) == rows and len(set(subjects)) == rows
    assert sum(r.sent for r in rounds) == rows
    with Session(own_database) as session:
        statuses = session.scalars(sa.select(OutboxEmail.status)).all()
    assert set(statuses) == {EmailStatus.SENT}


def test_the_background_round_survives_a_database_fault(app, tmp_path, caplog):
    """The thread's round with the database gone: logged by class, nothing raised."""
    from hub.app import create_app

    caplog.set_level(logging.INFO, logger="partners.mail.sender")
    missing = tmp_path / "gone" / "nowhere" / "hub.sqlite3"
    broken = create_app(app_config(f"sqlite:///{missing}", tmp_path / "instance"))
    broken.extensions["hub_db_engine"].dispose()
    assert sender.deliver_opportunistically(broken) is None
    assert "mail delivery" in caplog.text
    close_app(broken)


# --- STARTTLS ----------------------------------------------------------------------------


@pytest.fixture
def tls_relay(tmp_path) -> Iterator[tuple[SmtpServer, Path]]:
    """A relay that requires STARTTLS, with a certificate for 127.0.0.1 made now."""
    certificate, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    relay = SmtpServer(tls_context=context).start()
    try:
        yield relay, certificate
    finally:
        relay.stop()


def test_starttls_sends_over_tls_to_a_relay_whose_certificate_is_trusted(app_ctx, tls_relay):
    relay, certificate = tls_relay
    queue_one(subject="Over TLS")
    db.session.commit()
    backend = SmtpBackend(
        HOST, relay.port, sender=SENDER, tls="starttls", timeout=5, ca_file=str(certificate)
    )
    assert sender.deliver(db.session(), backend).sent == 1
    assert [m.subject for m in relay.messages] == ["Over TLS"]


def test_starttls_refuses_a_certificate_it_does_not_trust(app_ctx, tls_relay):
    relay, _ = tls_relay
    row = queue_one(subject="Not to an impostor")
    db.session.commit()
    backend = SmtpBackend(HOST, relay.port, sender=SENDER, tls="starttls", timeout=5)
    assert sender.deliver(db.session(), backend).retrying == 1
    assert stored(row.id).last_error == "SSLCertVerificationError"
    assert relay.messages == []


def test_a_relay_without_starttls_is_not_sent_to_in_clear(app_ctx, mailbox):
    row = queue_one()
    db.session.commit()
    backend = SmtpBackend(HOST, mailbox.port, sender=SENDER, tls="starttls", timeout=5)
    assert sender.deliver(db.session(), backend).retrying == 1
    assert stored(row.id).last_error == "SMTPNotSupportedError"
    assert mailbox.messages == []


# --- GOV.UK Notify -----------------------------------------------------------------------

SERVICE_ID = str(uuid.uuid4())
SECRET = str(uuid.uuid4())
NOTIFY_KEY = f"hub_test-{SERVICE_ID}-{SECRET}"
TEMPLATE_ID = str(uuid.uuid4())


class _NotifyStandIn(BaseHTTPRequestHandler):
    """Notify's API as its client calls it (an outside service: standing in for it is fine)."""

    received: list[dict[str, Any]]
    answer: int

    def do_POST(self) -> None:
        token = self.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])  # signed with the key's secret
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append({"path": self.path, "iss": claims["iss"], "body": body})
        status = self.server.answer
        reply = (
            {"id": str(uuid.uuid4()), "reference": body.get("reference")}
            if status == 201
            else {"status_code": status, "errors": [{"error": "BadRequestError", "message": "x"}]}
        )
        payload = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def notify_api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer((HOST, 0), _NotifyStandIn)
    server.received = []
    server.answer = 201
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_notify_sends_the_subject_and_text_through_the_template(app_ctx, notify_api):
    row = queue_one(subject="An event is waiting for your decision", link="/events/9/decision")
    db.session.commit()
    base = f"http://{HOST}:{notify_api.server_address[1]}"
    backend = NotifyBackend(NOTIFY_KEY, TEMPLATE_ID, base_url=base, timeout=5)
    assert sender.deliver(db.session(), backend).sent == 1
    [call] = notify_api.received
    assert call["path"] == "/v2/notifications/email" and call["iss"] == SERVICE_ID
    body = call["body"]
    assert body["email_address"] == "reader@test-org.example"
    assert body["template_id"] == TEMPLATE_ID
    assert body["reference"] == f"hub-outbox-{row.id}"
    assert body["personalisation"]["subject"] == "An event is waiting for your decision"
    assert "http://127.0.0.1:8000/events/9/decision" in body["personalisation"]["body"]


@pytest.mark.parametrize(("status", "outcome"), [(400, "failed"), (500, "retrying")])
def test_notify_refusals_fail_for_good_and_outages_are_retried(
    app_ctx, notify_api, status, outcome
):
    notify_api.answer = status
    row = queue_one()
    db.session.commit()
    base = f"http://{HOST}:{notify_api.server_address[1]}"
    done = sender.deliver(db.session(), NotifyBackend(NOTIFY_KEY, TEMPLATE_ID, base_url=base))
    assert getattr(done, outcome) == 1
    assert stored(row.id).last_error.endswith(str(status))


# --- development backends and /dev/mail --------------------------------------------------


def test_console_backend_prints_the_message(app_ctx):
    stream = StringIO()
    queue_one(subject="On the console", paragraphs=["Printed."])
    db.session.commit()
    assert sender.deliver(db.session(), ConsoleBackend(stream)).sent == 1
    assert "On the console" in stream.getvalue() and "Printed." in stream.getvalue()


@pytest.fixture
def development_app(app, tmp_path):
    """The hub as `make run` serves it (HUB_ENV=development), on the suite's database."""
    from hub.app import create_app

    url = app.extensions["hub_db_engine"].url.render_as_string(hide_password=False)
    application = create_app(app_config(url, tmp_path / "instance", env="development"))
    yield application
    close_app(application)


def test_dev_mail_lists_delivered_mail_newest_first(development_app):
    folder = backends.dev_folder(development_app.config["HUB_SETTINGS"])
    backend = DevBackend(folder, sender=SENDER)
    for n, subject in enumerate(["First message", "Second message"], start=1):
        backend.send(
            Outgoing(n, "reader@test-org.example", subject, f"Text {n}", f"<p>Html {n}</p>", "t")
        )
    client = development_app.test_client()
    page = client.get("/dev/mail/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert body.index("Second message") < body.index("First message")
    assert "Text 1" in body and "&lt;p&gt;Html 1&lt;/p&gt;" in body
    name = backends.kept_mail(folder)[0].name
    html = client.get(f"/dev/mail/{name}.html")
    assert html.status_code == 200 and html.get_data(as_text=True).strip() == "<p>Html 2</p>"


def test_dev_mail_is_not_there_outside_development(client):
    assert client.get("/dev/mail/").status_code == 404


# --- settings ----------------------------------------------------------------------------


def _settings(tmp_path: Path, **environ: str) -> Settings:
    settings = Settings.from_environ({"HUB_INSTANCE_PATH": str(tmp_path), **environ})
    settings.finalise()
    return settings


PRODUCTION = {
    "HUB_ENV": "production",
    "HUB_SECRET_KEY": "x" * 40,
    "DATABASE_URL": "postgresql+psycopg://hub@db/hub",
    "HUB_BASE_URL": "https://hub.example",
    "HUB_RATELIMIT_STORAGE_URI": "redis://cache:6379/0",
    "HUB_MAIL_FROM": "no-reply@hub.example",
}


@pytest.mark.parametrize(
    ("mail", "refused"),
    [
        ({"HUB_MAIL_BACKEND": "dev"}, "HUB_MAIL_BACKEND is dev"),
        ({"HUB_MAIL_BACKEND": "console"}, "HUB_MAIL_BACKEND is console"),
        ({"HUB_MAIL_BACKEND": "smtp", "HUB_SMTP_TLS": "none"}, "HUB_SMTP_TLS is none"),
        ({"HUB_MAIL_BACKEND": "smtp", "HUB_MAIL_FROM": DEFAULT_MAIL_FROM},
         "HUB_MAIL_FROM is not set"),
        ({"HUB_MAIL_BACKEND": "smtp"}, None),
        ({"HUB_MAIL_BACKEND": "notify", "HUB_NOTIFY_API_KEY": NOTIFY_KEY,
          "HUB_NOTIFY_TEMPLATE_ID": TEMPLATE_ID}, None),
    ],
)  # fmt: skip
def test_production_refuses_mail_that_is_not_sent_or_not_protected(tmp_path, mail, refused):
    if refused is None:
        assert (
            _settings(tmp_path, **{**PRODUCTION, **mail}).mail_backend == mail["HUB_MAIL_BACKEND"]
        )
        return
    with pytest.raises(ConfigurationError, match=refused):
        _settings(tmp_path, **{**PRODUCTION, **mail})
    allowed = _settings(tmp_path, **{**PRODUCTION, **mail}, HUB_ALLOW_INSECURE_PRODUCTION="true")
    assert allowed.mail_backend == mail["HUB_MAIL_BACKEND"]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"HUB_MAIL_BACKEND": "pigeon"}, "HUB_MAIL_BACKEND must be one of"),
        ({"HUB_SMTP_TLS": "maybe"}, "HUB_SMTP_TLS must be one of"),
        ({"HUB_MAIL_BACKEND": "notify"}, "set HUB_NOTIFY_API_KEY and HUB_NOTIFY_TEMPLATE_ID"),
    ],
)
def test_mail_settings_that_cannot_work_are_refused_everywhere(tmp_path, environ, message):
    with pytest.raises(ConfigurationError, match=message):
        _settings(tmp_path, **environ)


def test_the_settings_choose_the_backend(tmp_path):
    smtp = backends.for_settings(
        _settings(tmp_path, HUB_MAIL_BACKEND="smtp", HUB_SMTP_HOST="relay.example",
                  HUB_SMTP_PORT="465", HUB_SMTP_TLS="ssl")
    )  # fmt: skip
    assert isinstance(smtp, SmtpBackend) and smtp.describe() == "SMTP relay relay.example:465 (ssl)"
    assert isinstance(backends.for_settings(_settings(tmp_path)), DevBackend)


def test_mail_deliver_command_sends_through_the_configured_backend(
    app, app_ctx, cli, mailbox, monkeypatch
):
    settings = app.config["HUB_SETTINGS"]
    monkeypatch.setattr(settings, "mail_backend", "smtp")
    monkeypatch.setattr(settings, "smtp_host", HOST)
    monkeypatch.setattr(settings, "smtp_port", mailbox.port)
    monkeypatch.setattr(settings, "smtp_tls", "none")
    queue_one(subject="From the command")
    db.session.commit()
    result = cli.invoke(args=["mail", "deliver"])
    assert result.exit_code == 0, result.output
    assert f"SMTP relay {HOST}:{mailbox.port} (none)" in result.output
    assert "Sent 1; 0 to retry; 0 given up." in result.output
    assert [m.subject for m in mailbox.messages] == ["From the command"]
