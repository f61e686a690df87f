"""Running through faults: a database that refuses connections, one that accepts and never
answers, and a connection that dies just after a commit. Every request answers within its
deadlines (503 with Retry-After while the database is away, JSON from /readyz always), and a
committed change is never reported as unchanged.

The database is reached through a TCP proxy in this module, so each fault is real on the wire:
"refuse" stops listening, "blackhole" keeps accepting and reading bytes but forwards nothing
(TCP acknowledges them; the server never answers), "cut after commit" lets a COMMIT through,
then closes the connection before anything else.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import (
    IsolatedClient,
    app_config,
    close_app,
    dispose_database,
    fresh_database_url,
)

#: Short deadlines so a fault is answered quickly in tests (the defaults are 5 s / 30 s).
FAST = {
    "db_connect_timeout": 1.0,
    "db_statement_timeout": 1.0,
    "db_pool_timeout": 1.0,
    "db_ready_timeout": 1.0,
    "retry_after_seconds": 7,
    "audit_integrate_after_commit": False,
    "audit_integrate_interval_seconds": 0,
}
#: Longer than any deadline above can add up to: a request still waiting then has hung.
HANG = 30


class FaultyProxy:
    """A TCP proxy to PostgreSQL whose behaviour a test switches: pass, refuse, blackhole,
    or cut each connection right after it forwards a COMMIT."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.refused = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                self.refused += 1
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        # A socket closed by drop_all() under a running select() raises ValueError or OSError:
        # either way this connection is over.
        with contextlib.suppress(OSError, ValueError):
            self._pump(client)

    def _pump(self, client: socket.socket) -> None:
        if self.mode == "blackhole":
            self.open.append(client)
            with contextlib.suppress(OSError):
                while client.recv(65536):  # read and acknowledge; never answer
                    pass
            return
        server = socket.create_connection(self.upstream)
        self.open += [client, server]
        cut_next_reply = False
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 0.5)
                if self.stopped.is_set():
                    return
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        if self.mode == "blackhole":
                            continue
                        if self.mode == "cut_after_commit" and b"COMMIT" in data:
                            cut_next_reply = True
                        if self.mode == "cut_at_commit" and b"COMMIT" in data:
                            self.mode = "pass"
                            return  # the COMMIT never reaches the server
                        server.sendall(data)
                    else:
                        if self.mode == "blackhole":
                            continue
                        client.sendall(data)
                        if cut_next_reply:  # the server has committed and said so: cut
                            self.mode = "pass"
                            return
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def drop_all(self) -> None:
        """Close every connection through the proxy (as a database restart would)."""
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.open.clear()

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        self.drop_all()


@pytest.fixture
def faulty(database_server, tmp_path) -> Iterator[tuple[Any, FaultyProxy]]:
    """An app whose database is behind a FaultyProxy (PostgreSQL only), migrated and seeded
    with one organisation and a signed-in events officer's client."""
    if database_server is None:
        pytest.skip("the proxy stands in front of PostgreSQL")
    from core import migrations
    from hub.app import create_app

    direct = fresh_database_url(database_server, tmp_path, "faults")
    url = sa.make_url(direct)
    proxy = FaultyProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    migrations.upgrade(direct)
    app = create_app(app_config(proxied, tmp_path / "instance", **FAST))
    app.test_client_class = IsolatedClient
    try:
        yield app, proxy
    finally:
        proxy.close()
        close_app(app)
        dispose_database(database_server, direct)


def _signed_in(app) -> Any:
    """A committed organisation and events officer, signed in through the real pages."""
    import pyotp

    from core.db import db
    from core.security import Actor
    from partners import services, signin
    from tests.conftest import TEST_PASSWORD, HubClient

    with app.app_context():
        org = services.create_organisation(
            Actor.system("test"),
            {
                "name": "Fault University",
                "slug": f"fault-{uuid.uuid4().hex[:6]}",
                "kind": "university",
                "region": "Testshire",
                "dp_contact_name": "Test Contact",
                "dp_contact_email": "dpo@fault-university.example",
            },
        )
        person = services.create_person(
            Actor.system("test"),
            org,
            {
                "name": "Faye Ult",
                "email": "faye@fault-university.example",
                "roles": ["events_officer"],
            },
        ).person
        person.password_hash = signin.hash_password(TEST_PASSWORD)
        signin.set_totp_secret(person, pyotp.random_base32())
        db.session.commit()
        client = HubClient(app.test_client())
        client.sign_in(person)
        db.session.remove()
    return client


def _answer(call) -> Any:
    """Run `call` in a thread; fail if it is still waiting after HANG seconds (a hang)."""
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(value=call()), daemon=True)
    thread.start()
    thread.join(HANG)
    assert not thread.is_alive(), f"the request hung for more than {HANG} s"
    return result["value"]


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_readyz_answers_json_503_while_the_database_is_away(faulty, mode):
    app, proxy = faulty
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    proxy.mode = mode
    proxy.drop_all()
    response = _answer(lambda: client.get("/readyz"))
    assert response.status_code == 503
    assert response.is_json and response.json["status"] == "unavailable"
    assert response.headers["Retry-After"] == "7"
    proxy.mode = "pass"
    assert _answer(lambda: client.get("/readyz")).status_code == 200  # and it recovers


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_requests_answer_503_with_retry_after_while_the_database_is_away(faulty, mode):
    app, proxy = faulty
    client = _signed_in(app)
    proxy.mode = mode
    proxy.drop_all()
    page = _answer(lambda: client.get("/speakers/"))
    assert page.status_code == 503 and page.headers["Retry-After"] == "7"
    assert "Sorry, the service is unavailable" in page.get_data(as_text=True)
    api = _answer(lambda: client.api("GET", "/api/v1/speakers"))
    assert api.status_code == 503 and api.mimetype == "application/problem+json"
    assert api.json["type"].endswith("/service-unavailable")
    assert "Nothing was changed" in api.json["detail"]
    assert api.headers["Retry-After"] == "7"


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_a_warm_request_that_assumed_its_policy_answers_503_while_the_database_is_away(
    faulty, mode
):
    """The published keys are served from the worker's policy cache: a warm request assumes
    the generation and confirms it before it answers (`core.db.settle`). With the database
    away, that confirmation fails as any statement would: 503, not a crash."""
    app, proxy = faulty
    client = app.test_client()
    assert client.get("/.well-known/jwks.json").status_code == 200
    assert client.get("/.well-known/jwks.json").status_code == 200  # warm
    proxy.mode = mode
    proxy.drop_all()
    response = _answer(lambda: client.get("/.well-known/jwks.json"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    proxy.mode = "pass"
    assert _answer(lambda: client.get("/.well-known/jwks.json")).status_code == 200


def test_a_change_committed_before_the_connection_dies_is_answered_as_saved(faulty):
    """The response is built inside the transaction, before the commit: a connection that
    dies right after COMMIT leaves a saved record and a 201, not a 500 saying nothing was
    changed (which would invite a duplicate)."""
    from core.db import db
    from hub.records.models import Speaker

    app, proxy = faulty
    client = _signed_in(app)
    proxy.mode = "cut_after_commit"
    response = _answer(
        lambda: client.api(
            "POST",
            "/api/v1/speakers",
            json={"display_name": "Ember Quillfeather", "aliases": ["E. Quillfeather"]},
        )
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["aliases"] == [{"name": "E. Quillfeather", "kind": "alias"}]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Speaker)) == 1


def test_a_commit_that_fails_is_answered_as_unconfirmed_not_as_a_crash(faulty):
    """The API's one commit runs after the answer is built: when the connection dies during
    it, the answer is a 503 saying the change could not be confirmed (retry with the same
    Idempotency-Key), not a bare 500, and not "nothing was changed"."""
    from core.db import db
    from hub.records.models import Speaker

    app, proxy = faulty
    client = _signed_in(app)
    key = str(uuid.uuid4())
    proxy.mode = "cut_at_commit"
    response = _answer(
        lambda: client.api(
            "POST",
            "/api/v1/speakers",
            json={"display_name": "Ember Quillfeather"},
            headers={"Idempotency-Key": key},
        )
    )
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "could not confirm" in response.json["detail"]
    assert "Nothing was changed" not in response.json["detail"]
    retried = _answer(
        lambda: client.api(
            "POST",
            "/api/v1/speakers",
            json={"display_name": "Ember Quillfeather"},
            headers={"Idempotency-Key": key},
        )
    )
    assert retried.status_code == 201
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Speaker)) == 1


def _pending(app) -> int:
    from audit.models import AuditPending
    from core.db import db

    with app.app_context():
        try:
            return db.session.scalar(sa.select(sa.func.count()).select_from(AuditPending))
        finally:
            db.session.remove()


def _wait_for(condition, seconds: float = HANG) -> bool:
    stop = threading.Event()
    for _ in range(int(seconds / 0.1)):
        if condition():
            return True
        stop.wait(0.1)
    return condition()


def test_the_dedicated_integrator_survives_a_database_outage(faulty):
    """`audit integrate --follow` keeps going while connections are refused or dropped, and
    catches up once the database is back."""
    from audit import log
    from audit import services as audit
    from core.db import db
    from core.security import Actor

    app, proxy = faulty
    with app.app_context():
        audit.record(Actor.system("test"), "test.before", "granted")
        db.session.commit()
        db.session.remove()
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                log.follow(0.05, stop=stop)
        except BaseException as exc:  # the integrator must not die
            failures.append(exc)

    integrator = threading.Thread(target=run, daemon=True)
    integrator.start()
    try:
        assert _wait_for(lambda: _pending(app) == 0)
        proxy.mode = "refuse"
        proxy.drop_all()  # the integrator's pooled connection dies under it
        # Several rounds fail on the dropped and refused connections...
        assert _wait_for(lambda: proxy.refused >= 3 or not integrator.is_alive())
        assert integrator.is_alive() and not failures
        proxy.mode = "pass"
        with app.app_context():
            audit.record(Actor.system("test"), "test.after", "granted")
            db.session.commit()
            db.session.remove()
        assert _wait_for(lambda: _pending(app) == 0), "the integrator did not catch up"
        assert integrator.is_alive() and not failures
    finally:
        stop.set()
        integrator.join(HANG)


def test_entries_left_pending_by_a_crash_are_integrated_at_start_up(database_server, tmp_path):
    """A process killed after committing entries and before integrating them leaves them
    pending; the next start integrates them without waiting for a request or a commit."""
    from audit import log
    from audit import services as audit
    from core import migrations
    from core.db import db
    from core.security import Actor
    from hub.app import create_app

    url = fresh_database_url(database_server, tmp_path, "pending")
    migrations.upgrade(url)
    crashed = create_app(app_config(url, tmp_path / "instance", audit_integrate_after_commit=False))
    with crashed.app_context():
        for n in range(5):
            audit.record(Actor.system("crashed"), "test.pending", "granted", resource_ids=[str(n)])
        db.session.commit()
        db.session.remove()
    assert _pending(crashed) == 5
    close_app(crashed)
    restarted = create_app(
        app_config(url, tmp_path / "instance", audit_integrate_interval_seconds=0.2)
    )
    try:
        assert _wait_for(lambda: _pending(restarted) == 0), "pending entries were left waiting"
    finally:
        log.stop_integrating(restarted)
        close_app(restarted)
        dispose_database(database_server, url)


def test_a_connection_idle_past_the_ping_delay_that_died_is_replaced_unseen(faulty, monkeypatch):
    """Connections back from a request a moment ago are used without a ping (a round trip
    less per request); one idle longer is pinged, and if it died meanwhile it is replaced
    before the request sees it."""
    from core import db as database

    app, proxy = faulty
    engine = app.extensions["hub_db_engine"]
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: (pings.append(c), real_ping(c))[1])
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.5)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    pinged = len(pings)
    assert client.get("/readyz").status_code == 200  # at once: no ping
    assert len(pings) == pinged

    proxy.drop_all()  # the pooled connection dies while idle; the database stays up
    time.sleep(0.6)
    assert _answer(lambda: client.get("/readyz")).status_code == 200
    assert len(pings) > pinged


@pytest.mark.parametrize("open_transaction", [False, True], ids=["with BEGIN", "in a transaction"])
def test_the_first_read_of_a_transaction_has_the_statement_deadline(faulty, open_transaction):
    """`read_first` sends the policy generation read with its BEGIN, through the driver: a
    database that stops answering mid-connection is cut by the watchdog at the statement's
    deadline, and the failure is SQLAlchemy's OperationalError on an invalidated connection
    (what the edge answers 503 to), not a hang or a driver error."""
    from core.db import db, is_unavailable, read_first
    from core.policy import PolicyGeneration

    app, proxy = faulty
    with app.app_context():
        session = db.session()
        assert read_first(session, "SELECT 1") == 1  # connected, through the proxy
        session.commit()
        if open_transaction:
            session.scalar(sa.select(PolicyGeneration.id))
        proxy.mode = "blackhole"  # the live connection's bytes now go nowhere
        started = time.monotonic()
        raised = _answer(
            lambda: _error_of(read_first, session, "SELECT token FROM policy_generation")
        )
        assert time.monotonic() - started < FAST["db_statement_timeout"] + 5
        assert isinstance(raised, sa.exc.OperationalError)
        assert raised.connection_invalidated and is_unavailable(raised)
        db.session.remove()  # as the request's teardown does
        proxy.mode = "pass"
        assert len(read_first(db.session(), "SELECT token FROM policy_generation")) == 32


def test_the_audit_write_has_the_statement_deadline_and_marks_the_transaction(faulty):
    """The audit write goes through the driver (`core.db.driver_rows`) too: it marks the
    transaction as one that wrote (the edge commits it), and a database that stops answering
    cuts it at the statement's deadline as SQLAlchemy's OperationalError on an invalidated
    connection, not a hang or a driver error."""
    from audit import services as audit
    from core.db import db, is_unavailable, wrote
    from core.security import Actor

    app, proxy = faulty
    actor = Actor.system("faults")
    with app.app_context():
        session = db.session()
        written = audit.record(actor, "test.fault", "granted", resource_ids=["one"])
        assert written.seq > 0 and wrote(session)
        session.commit()
        proxy.mode = "blackhole"
        started = time.monotonic()
        raised = _answer(lambda: _error_of(audit.record, actor, "test.fault", "granted"))
        assert time.monotonic() - started < FAST["db_statement_timeout"] + 5
        assert isinstance(raised, sa.exc.OperationalError)
        assert raised.connection_invalidated and is_unavailable(raised)
        db.session.remove()
        proxy.mode = "pass"
        assert audit.record(actor, "test.fault", "granted").seq > written.seq
        db.session.rollback()


def _error_of(call, *args) -> BaseException | None:
    try:
        call(*args)
    except Exception as exc:  # the error is what the test looks at
        return exc
    return None


@pytest.mark.parametrize("through", ["read_first", "a statement"])
def test_a_connection_killed_in_a_transaction_is_invalidated_and_the_session_closes(
    faulty, through
):
    """A connection the server ended (a restart, an administrator) fails the next statement
    as SQLAlchemy's error with the connection invalidated; the session then closes (as every
    request's teardown closes it) and the next transaction gets a new connection. Before,
    closing it failed: the rollback listener asked the lost connection for its `info`."""
    from core.db import db, read_first

    def run(session, sql):
        if through == "read_first":
            return read_first(session, sql)
        return session.execute(sa.text(sql)).scalar()

    app, _proxy = faulty
    with app.app_context():
        session = db.session()
        # The connection is taken for the transaction, which the read will BEGIN.
        pid = session.connection().connection.driver_connection.info.backend_pid
        engine = app.extensions["hub_db_engine"]
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
        with pytest.raises(sa.exc.OperationalError) as raised:
            run(session, "SELECT 1")
        assert raised.value.connection_invalidated
        db.session.remove()  # as the request's teardown does
        assert run(db.session(), "SELECT pg_backend_pid()") != pid
