"""Two regional hubs on loopback, each a real server with its own database, each an OAuth client
of the other: federated speaker search (the peer's agreements minimise what it gives), slow and
stopped peers reported (never an error page), one request id in both audit logs that both
verify, mutual witnessing, and a peer whose log was rewritten refused by the witness."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from werkzeug.serving import make_server

from agreements import services as agreements
from audit import log
from audit import services as audit
from audit import verify as verification
from audit.models import AuditEntry
from core.db import db
from core.errors import PermissionDenied, ValidationFailed
from core.security import Actor
from hub.federation import search as federation_search
from hub.federation import services as federation
from hub.federation import witnessing
from hub.federation.models import PeerHub
from hub.records.speakers import services as speakers
from partners import services as partners
from partners.models import OAuthClient, Organisation, Person
from tests.agreement_factories import agreement_data, rule
from tests.conftest import (
    HubClient,
    IsolatedClient,
    actor_of,
    app_config,
    close_app,
    dispose_database,
    fresh_database_url,
)

PURPOSE = "speaker_due_diligence"
NAME = "Dr Ember Quillfeather"
SYSTEM = Actor.system("test")


# --- serving a hub ------------------------------------------------------------------------------


class Delay:
    """WSGI middleware in front of a real hub: holds shared-record reads for `seconds` (a slow
    peer) or until released; everything else passes straight through. It counts the reads in
    flight, so a test can wait until a held read has been answered."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.seconds = 0.0
        self.released = threading.Event()
        self.in_flight = 0
        self.changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/api/v1/shared/"):
            return self.app(environ, start_response)
        with self.changed:
            self.in_flight += 1
        try:
            if self.seconds:
                self.released.wait(self.seconds)
            return self.app(environ, start_response)
        finally:
            with self.changed:
                self.in_flight -= 1
                self.changed.notify_all()

    def release_and_wait(self, timeout: float = 10.0) -> None:
        """Let held reads through and wait until every read in flight has been answered."""
        self.released.set()
        try:
            with self.changed:
                assert self.changed.wait_for(lambda: self.in_flight == 0, timeout), (
                    "a held read was still being answered"
                )
        finally:
            self.released.clear()


@dataclass
class Hub:
    """A hub served on loopback: its app, address, and what the test made in it."""

    app: Flask
    url: str
    port: int
    database: str
    delay: Delay
    server: Any = None
    thread: threading.Thread | None = None
    ids: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self.server = make_server("127.0.0.1", self.port, self.delay, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def entries(self, request_id: str) -> list[AuditEntry]:
        with self.app.app_context():
            return list(
                db.session.scalars(
                    sa.select(AuditEntry)
                    .where(AuditEntry.request_id == request_id)
                    .order_by(AuditEntry.seq)
                )
            )

    def verify(self) -> verification.Report:
        with self.app.app_context():
            log.integrate_now(force_checkpoint=True)
            report = verification.verify(db.session(), log.verifier_key())
            db.session.rollback()
            return report

    def client(self, person_id: str) -> HubClient:
        """A browser-like client signed in as the person (through the real pages)."""
        with self.app.app_context():
            person = db.session.get(Person, uuid.UUID(person_id))
        client = HubClient(self.app.test_client())
        client.sign_in(person)
        return client

    def peer(self) -> PeerHub:
        return db.session.scalar(sa.select(PeerHub))

    def cli(self, *args: str) -> Any:
        with self.app.app_context():
            return FlaskCliRunner(self.app).invoke(args=list(args))


def _serve(database_server, base: Path, label: str, origin: str, signer: Path | None = None) -> Hub:
    from core import migrations
    from hub.app import create_app

    url = fresh_database_url(database_server, base, label)
    instance = base / f"{label}-instance"
    instance.mkdir()
    if signer is not None:  # the same log key: a rewritten log at the same origin
        shutil.copy(signer, instance / "audit-log.signer")
    # Sign-in itself is tested elsewhere: here people sign in with a password only.
    app = create_app(app_config(url, instance, origin=origin, require_mfa=False))
    app.test_client_class = IsolatedClient
    with app.app_context():
        migrations.upgrade(url)
    probe = make_server("127.0.0.1", 0, app)
    port = probe.server_port
    probe.server_close()
    hub = Hub(app, f"http://127.0.0.1:{port}", port, url, Delay(app))
    app.config["HUB_SETTINGS"].base_url = hub.url
    hub.start()
    return hub


def _shutdown(database_server, hub: Hub) -> None:
    hub.stop()
    with hub.app.app_context():
        db.session.remove()
    close_app(hub.app)
    dispose_database(database_server, hub.database)


# --- the two regions ----------------------------------------------------------------------------


def _org(name: str, slug: str, kind: str = "university") -> Organisation:
    return partners.create_organisation(
        SYSTEM,
        {
            "name": name,
            "slug": slug,
            "kind": kind,
            "region": "Testshire",
            "dp_contact_name": "Data Protection Desk",
            "dp_contact_email": f"dpo@{slug}.example",
        },
    )


def _person(org: Organisation, roles: list[str]) -> Person:
    from partners import signin
    from tests.conftest import TEST_PASSWORD

    n = uuid.uuid4().hex[:8]
    person = partners.create_person(
        SYSTEM, org, {"name": f"Person {n}", "email": f"p{n}@{org.slug}.example", "roles": roles}
    ).person
    person.password_hash = signin.hash_password(TEST_PASSWORD)
    db.session.flush()
    return person


def _agreement(provider: Organisation, recipient: Organisation, levels: dict[str, str]) -> str:
    """An approved one-way agreement: `provider`'s signatory approves; the recipient peer hub's
    approval is recorded by the operator (its signatory signed at the peer)."""
    signatory = _person(provider, ["signatory", "dpo"])
    parties = [
        {
            "organisation_id": str(provider.id),
            "role": "controller",
            "designated_person": "Designated Person",
            "signatory_id": str(signatory.id),
        },
        {
            "organisation_id": str(recipient.id),
            "role": "controller",
            "designated_person": "The peer hub's DPO",
            "signatory_id": "",
        },
    ]
    data = agreement_data(
        parties,
        [rule(provider, recipient, "speaker", levels)],
        reference="PEER-DSA-1",
        kind="one_way",
        purposes=[PURPOSE],
    )
    agreement = agreements.create_draft(actor_of(signatory), data)
    agreements.propose(actor_of(signatory), agreement)
    agreements.approve(
        actor_of(signatory),
        agreement,
        content_hash=agreement.content_hash,
        reauthenticated_at=datetime.now(UTC),
    )
    return str(agreement.id)


def _connect(north: Hub, south: Hub) -> None:
    """Register each hub as the other's peer, as the operators do (docs/connecting-hubs.md)."""
    with south.app.app_context():
        south_log_key, south_witness = log.verifier_key(), witnessing.witness_verifier_key()
    with north.app.app_context():
        north_log_key, north_witness = log.verifier_key(), witnessing.witness_verifier_key()
        peer = federation.add_peer(
            SYSTEM,
            {
                "name": "Southmoor hub",
                "slug": "southmoor-hub",
                "base_url": south.url,
                "log_key": south_log_key,
                "region": "Southmoor",
                "dp_contact_name": "Southmoor DPO",
                "dp_contact_email": "dpo@southmoor-hub.example",
                "witness_key": south_witness,
            },
        )
        north_jwks = federation.public_jwks(peer)
        db.session.commit()
    with south.app.app_context():
        peer = federation.add_peer(
            SYSTEM,
            {
                "name": "Northshire hub",
                "slug": "northshire-hub",
                "base_url": north.url,
                "log_key": north_log_key,
                "region": "Northshire",
                "dp_contact_name": "Northshire DPO",
                "dp_contact_email": "dpo@northshire-hub.example",
                "peer_jwks": north_jwks,
                "witness_key": north_witness,
            },
        )
        client_for_north = db.session.scalar(
            sa.select(OAuthClient.client_id).where(
                OAuthClient.organisation_id == peer.organisation_id
            )
        )
        south_jwks = federation.public_jwks(peer)
        south.ids["north_org"] = str(peer.organisation_id)
        south.ids["north_client"] = client_for_north
        db.session.commit()
    with north.app.app_context():
        peer = north.peer()
        federation.update_peer(SYSTEM, peer, {"client_id": client_for_north})
        client = federation.register_peer_client(SYSTEM, peer, south_jwks)
        north.ids["south_org"] = str(peer.organisation_id)
        db.session.commit()
    with south.app.app_context():
        federation.update_peer(SYSTEM, south.peer(), {"client_id": client.client_id})
        db.session.commit()


def _seed_south(south: Hub) -> None:
    """Southmoor University shares its speaker with the Northshire hub: the name in full, other
    names pseudonymised, topics not at all."""
    with south.app.app_context():
        university = _org("Southmoor University", "southmoor-uni")
        officer = _person(university, ["events_officer"])
        speaker = speakers.create_speaker(
            actor_of(officer),
            {
                "display_name": NAME,
                "aliases": [{"name": "Embre Quilfeather", "kind": "alias"}],
                "topics": ["campus politics"],
                "distribution": "shareable",
            },
        )
        peer_org = db.session.get(Organisation, uuid.UUID(south.ids["north_org"]))
        agreement_id = _agreement(
            university, peer_org, {"display_name": "full", "aliases": "pseudonymised"}
        )
        federation.approve_agreement_for_peer(SYSTEM, south.peer(), agreement_id)
        south.ids["speaker"] = str(speaker.id)
        db.session.commit()


def _seed_north(north: Hub) -> None:
    """Northshire University holds its own record of the speaker; people in every role."""
    with north.app.app_context():
        university = _org("Northshire University", "northshire-uni")
        coordinators = _org("Northshire coordinators", "northshire-coord", "regional_coordinator")
        officer = _person(university, ["events_officer"])
        speakers.create_speaker(
            actor_of(officer),
            {"display_name": "Ember Quillfeather", "distribution": "internal"},
        )
        north.ids["person:events_officer"] = str(officer.id)
        for role in ("prevent_lead", "dpo", "auditor", "org_admin", "signatory"):
            north.ids[f"person:{role}"] = str(_person(university, [role]).id)
        north.ids["person:coordinator"] = str(_person(coordinators, ["coordinator"]).id)
        db.session.commit()


@dataclass
class Region:
    north: Hub
    south: Hub
    base: Path
    database_server: str | None


@pytest.fixture(scope="module")
def region(database_server, tmp_path_factory) -> Iterator[Region]:
    base = tmp_path_factory.mktemp("federation")
    north = _serve(database_server, base, "north", "north.hub.test/audit")
    south = _serve(database_server, base, "south", "south.hub.test/audit")
    try:
        _connect(north, south)
        _seed_south(south)
        _seed_north(north)
        yield Region(north, south, base, database_server)
    finally:
        federation_search.forget_tokens()
        for hub in (north, south):
            _shutdown(database_server, hub)


@pytest.fixture(scope="module")
def officer(region) -> HubClient:
    return region.north.client(region.north.ids["person:events_officer"])


def _search(client: HubClient, request_id: str | None = None, **params: str) -> Any:
    query = {"q": "Ember Quilfeather", "purpose": PURPOSE, **params}
    headers = {"X-Request-Id": request_id} if request_id else {}
    return client.get("/api/v1/federation/speakers", query_string=query, headers=headers)


# --- federated search ---------------------------------------------------------------------------


def test_federated_search_merges_the_peers_minimised_results_under_one_request_id(region, officer):
    north, south = region.north, region.south
    request_id = str(uuid.uuid4())
    response = _search(officer, request_id)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["request_id"] == request_id
    assert [p["status"] for p in body["peers"]] == ["ok"] and body["notes"] == []
    origins = {r["origin"] for r in body["results"]}
    assert origins == {"local", "southmoor-hub"}
    [local] = [r for r in body["results"] if r["origin"] == "local"]
    assert local["own"] and local["data"]["display_name"] == "Ember Quillfeather"
    [remote] = [r for r in body["results"] if r["origin"] == "southmoor-hub"]
    assert remote["origin_name"] == "Southmoor hub"
    assert remote["id"] == south.ids["speaker"] and remote["owner"] == "Southmoor University"
    assert remote["disclosed_under"]["reference"] == "PEER-DSA-1"
    # Exactly what Southmoor's agreement schedules: the name in full, the alias pseudonymised,
    # the topics (not scheduled) nowhere.
    assert remote["data"]["display_name"] == NAME
    assert all(a.startswith("psn:") for a in remote["data"]["aliases"])
    assert "Embre" not in str(remote["data"])
    assert "topics" not in remote["data"] and "campus politics" not in response.get_data(True)

    # Each hub wrote its own entries, carrying the one request id.
    mine = north.entries(request_id)
    assert {"federation.peer_search", "federation.search", "speaker.search"} <= {
        e.action for e in mine
    }
    [fan_out] = [e for e in mine if e.action == "federation.peer_search"]
    assert fan_out.outcome == "granted" and fan_out.resource_org == north.ids["south_org"]
    theirs = south.entries(request_id)
    actors = {e.actor for e in theirs}
    assert actors == {f"client:{south.ids['north_client']}"}
    assert {e.action for e in theirs} >= {"speaker.search", "disclosure"}
    [disclosure] = [e for e in theirs if e.action == "disclosure"]
    assert disclosure.purpose == PURPOSE and disclosure.resource_org != south.ids["north_org"]
    assert "display_name" in disclosure.fields and "topics" not in disclosure.fields
    with north.app.app_context():
        searcher = Actor(kind="person", id=north.ids["person:events_officer"])
        sent = federation_search.on_behalf_of(searcher)
    with south.app.app_context():  # south's log keeps its own pseudonym of what north sent
        assert disclosure.on_behalf_of == audit.on_behalf_of_pseudonym(south.ids["north_org"], sent)
    # And both logs still verify end to end.
    assert north.verify().ok and south.verify().ok


def test_the_access_token_is_reused_until_near_expiry(region, officer):
    before = _token_count(region.south)
    for _ in range(2):
        assert _search(officer).status_code == 200
    assert _token_count(region.south) == before  # the first test's token is still cached


def _token_count(hub: Hub) -> int:
    with hub.app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.action == "oauth.token")
        )


def test_the_page_shows_each_result_with_the_hub_it_came_from(region, officer):
    response = officer.get(
        "/federation/speakers", query_string={"q": "Ember Quilfeather", "purpose": PURPOSE}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-origin="southmoor-hub"' in html and 'data-origin="local"' in html
    assert "Southmoor hub" in html and "PEER-DSA-1 v1" in html
    assert "Some hubs did not answer" not in html


def test_a_slow_peer_is_reported_as_slow_with_the_local_results(region, officer):
    settings = region.north.app.config["HUB_SETTINGS"]
    settings.federation_deadline_seconds, region.south.delay.seconds = 0.5, 30.0
    try:
        started = time.monotonic()
        response = _search(officer)
        elapsed = time.monotonic() - started
    finally:
        settings.federation_deadline_seconds, region.south.delay.seconds = 3.0, 0.0
        # The next test starts once the peer has answered the read it held: the north's
        # call has given up (its thread ends), then the south's held read is let through.
        _wait_for_federation_calls_to_end()
        region.south.delay.release_and_wait()
    assert response.status_code == 200
    body = response.get_json()
    assert elapsed < 1.4  # the deadline, not the peer, decided when to answer
    assert [p["status"] for p in body["peers"]] == ["slow"]
    assert body["notes"] == [
        "Southmoor hub did not answer within the time allowed; its results are missing."
    ]
    assert {r["origin"] for r in body["results"]} == {"local"}
    [entry] = [
        e for e in region.north.entries(body["request_id"]) if e.action == "federation.peer_search"
    ]
    assert entry.outcome == "failed" and entry.reason == "peer_slow"


def _wait_for_federation_calls_to_end(timeout: float = 10.0) -> None:
    """Wait until no call to a peer is under way (the search's worker threads have ended)."""
    for thread in threading.enumerate():
        if thread.name.startswith("federation"):
            thread.join(timeout)
            assert not thread.is_alive(), "a call to a peer hub did not end"


# --- input and permissions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"q": ""}, 422, "q"),
        ({"q": "   "}, 422, "q"),
        ({"purpose": "curiosity"}, 400, None),
        ({"purpose": ""}, 400, None),
    ],
)
def test_bad_input_is_refused_with_a_clear_problem(region, officer, params, status, field):
    response = _search(officer, **params)
    assert response.status_code == status
    problem = response.get_json()
    assert problem["detail"]
    if field:
        assert problem["errors"][field]
    else:
        assert "purpose" in problem["detail"].lower()


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"q": "", "purpose": PURPOSE}, 422, "Enter a speaker&#39;s name"),
        ({"q": "Ember", "purpose": "curiosity"}, 400, "Choose the purpose of your search"),
    ],
)
def test_the_page_explains_bad_input(region, officer, params, status, message):
    response = officer.get("/federation/speakers", query_string=params)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html and message in html


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("events_officer", True),
        ("prevent_lead", True),
        ("dpo", True),
        ("auditor", True),
        ("org_admin", True),
        ("coordinator", True),
        ("signatory", False),
    ],
)
def test_who_may_search_across_hubs(region, role, allowed):
    client = region.north.client(region.north.ids[f"person:{role}"])
    response = _search(client)
    assert response.status_code == (200 if allowed else 403), response.get_data(as_text=True)
    page = client.get("/federation/speakers")
    assert page.status_code == (200 if allowed else 403)


def test_signed_out_callers_are_refused(region):
    client = HubClient(region.north.app.test_client())
    assert _search(client).status_code == 401
    assert client.get("/federation/speakers").status_code == 302


# --- peers have no people -----------------------------------------------------------------------


def test_no_one_can_be_added_to_a_peer_hub_so_no_peer_makes_a_hub_administrator(region):
    with region.north.app.app_context():
        peer_org = region.north.peer().organisation
        with pytest.raises(PermissionDenied, match="peer hub"):
            partners.create_person(
                SYSTEM,
                peer_org,
                {"name": "Intruder", "email": "admin@peer.example", "roles": ["org_admin"]},
            )
        db.session.rollback()
        assert peer_org.people == []
    result = region.north.cli(
        "partners",
        "create-person",
        "--org",
        "southmoor-hub",
        "--name",
        "Intruder",
        "--email",
        "admin2@peer.example",
        "--role",
        "org_admin",
    )
    assert result.exit_code != 0 and "peer hub" in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hub.example.org", "must start with https://"),
        ("not a url", "base URL"),
        ("http://hub.example.org", "must start with https://"),
        ("https://hub.example.org/?x=1", "base URL"),
    ],
)
def test_add_peer_refuses_a_bad_peer_url(region, url, message):
    with region.south.app.app_context():
        log_key = log.verifier_key()
    result = region.north.cli(
        "federation",
        "add-peer",
        "--name",
        "Elsewhere hub",
        "--slug",
        "elsewhere-hub",
        "--url",
        url,
        "--log-key",
        log_key,
        "--region",
        "Elsewhere",
        "--dp-contact-name",
        "DPO",
        "--dp-contact-email",
        "dpo@elsewhere.example",
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    with region.north.app.app_context():
        assert not db.session.scalar(
            sa.select(Organisation.id).where(Organisation.slug == "elsewhere-hub")
        )


def test_list_peers_shows_the_registered_peer(region):
    result = region.north.cli("federation", "list-peers")
    assert result.exit_code == 0
    assert "southmoor-hub\tactive\t" + region.south.url in result.output


# --- mutual witnessing --------------------------------------------------------------------------


def test_each_hub_cosigns_the_others_checkpoint_and_the_dpo_page_shows_both(region):
    north, south = region.north, region.south
    first = north.cli("federation", "witness-peers")
    assert first.exit_code == 0, first.output
    assert "southmoor-hub: cosigned at size" in first.output
    second = south.cli("federation", "witness-peers")
    assert second.exit_code == 0, second.output
    # A second round checks the new tree against the one cosigned before (a consistency proof).
    assert north.cli("federation", "witness-peers").exit_code == 0
    with north.app.app_context():
        peer = north.peer()
        assert peer.witnessed_size and peer.last_witness_outcome == "cosigned"
        ours = peer.witnessed_size
    with south.app.app_context():
        theirs = south.peer().witnessed_size
    dpo = north.client(north.ids["person:dpo"])
    html = dpo.get("/audit/integrity").get_data(as_text=True)
    assert 'id="peer-witnessing"' in html and "Southmoor hub" in html
    row = html.split('id="peer-witnessing"')[1]
    assert f"{ours:,}" in row and f"{theirs:,}" in row and "Cosigned" in row


def test_a_peer_whose_log_was_rewritten_is_refused_and_the_refusal_recorded(region):
    north, south = region.north, region.south
    if north.cli("federation", "witness-peers").exit_code != 0:
        pytest.fail("the honest peer should be cosigned first")
    with north.app.app_context():
        before = north.peer().witnessed_size
    # The same log key and origin, another history: what a rewritten log looks like from outside.
    fork = _serve(
        region.database_server,
        region.base,
        "fork",
        "south.hub.test/audit",
        signer=Path(south.app.instance_path) / "audit-log.signer",
    )
    try:
        with fork.app.app_context():
            for n in range(before + 5):
                audit.record(SYSTEM, "test.rewritten", "granted", resource_ids=[str(n)])
            db.session.commit()
            log.integrate_now(force_checkpoint=True)
        with north.app.app_context():
            north.peer().base_url = fork.url
            db.session.commit()
        result = north.cli("federation", "witness-peers")
        assert result.exit_code == 3, result.output
        assert "refused" in result.output and "not consistent" in result.output
        with north.app.app_context():
            peer = north.peer()
            assert peer.last_witness_outcome == "refused"
            assert peer.witnessed_size == before  # the state is left as it was
            [entry] = db.session.scalars(
                sa.select(AuditEntry).where(
                    AuditEntry.action == "federation.witness", AuditEntry.outcome == "denied"
                )
            ).all()
            assert entry.reason == "inconsistent_checkpoint"
        dpo = north.client(north.ids["person:dpo"])
        html = dpo.get("/audit/integrity").get_data(as_text=True)
        assert "Refused" in html.split('id="peer-witnessing"')[1]
    finally:
        with north.app.app_context():
            north.peer().base_url = south.url
            db.session.commit()
        _shutdown(region.database_server, fork)
    assert north.verify().ok


def test_the_background_schedule_witnesses_peers_when_switched_on(region):
    south = region.south
    with south.app.app_context():
        before = south.peer().last_witness_at
    schedule = witnessing._Schedule(south.app, 1)
    schedule.ensure_started()
    try:
        for _ in range(60):
            time.sleep(0.1)
            with south.app.app_context():
                peer = south.peer()
                if peer.last_witness_at != before:
                    break
        assert peer.last_witness_outcome == "cosigned" and peer.last_witness_at != before
    finally:
        schedule.stop()


def test_the_schedule_is_off_unless_configured(region):
    assert "hub_peer_witness_schedule" not in region.north.app.extensions


# --- agreements with a peer hub -----------------------------------------------------------------


def test_only_the_operator_records_a_peer_hubs_approval_and_other_parties_need_signatories(
    region,
):
    south = region.south
    with south.app.app_context():
        university = db.session.scalar(
            sa.select(Organisation).where(Organisation.slug == "southmoor-uni")
        )
        peer = south.peer()
        signatory = _person(university, ["signatory", "dpo"])
        parties = [
            {
                "organisation_id": str(university.id),
                "role": "controller",
                "designated_person": "Designated Person",
                "signatory_id": "",
            },
            {
                "organisation_id": str(peer.organisation_id),
                "role": "controller",
                "designated_person": "Peer DPO",
                "signatory_id": "",
            },
        ]
        schedule = [rule(university, peer.organisation, "speaker", {"display_name": "full"})]
        data = agreement_data(parties, schedule, reference="PEER-DSA-2", kind="one_way")
        with pytest.raises(ValidationFailed) as refused:
            agreements.create_draft(actor_of(signatory), data)
        assert list(refused.value.errors) == ["parties.0.signatory_id"]
        parties[0]["signatory_id"] = str(signatory.id)
        agreement = agreements.create_draft(actor_of(signatory), data)
        agreements.propose(actor_of(signatory), agreement)
        with pytest.raises(PermissionDenied):
            agreements.approve(
                actor_of(signatory),
                agreement,
                content_hash=agreement.content_hash,
                reauthenticated_at=datetime.now(UTC),
                hub_party=str(peer.organisation_id),
            )
        db.session.rollback()


def test_the_partners_search_page_links_to_the_search_across_hubs(region, officer):
    html = officer.get("/shared/speakers", query_string={"q": "Ember"}).get_data(as_text=True)
    assert 'id="search-peer-hubs"' in html and "/federation/speakers?q=Ember" in html


# --- a peer that stops --------------------------------------------------------------------------


def test_a_stopped_peer_gives_a_partial_answer_with_a_note_not_an_error(region, officer):
    region.south.stop()
    try:
        response = _search(officer)
        assert response.status_code == 200
        body = response.get_json()
        assert [p["status"] for p in body["peers"]] == ["down"]
        assert body["notes"] == ["Southmoor hub could not be reached; its results are missing."]
        assert {r["origin"] for r in body["results"]} == {"local"}
        page = officer.get(
            "/federation/speakers", query_string={"q": "Ember Quilfeather", "purpose": PURPOSE}
        )
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Some hubs did not answer" in html and "could not be reached" in html
        assert 'data-origin="local"' in html
        witnessed = region.north.cli("federation", "witness-peers")
        assert witnessed.exit_code == 1 and "unreachable" in witnessed.output
    finally:
        region.south.start()
    assert _search(officer).get_json()["peers"][0]["status"] == "ok"
    assert region.north.verify().ok and region.south.verify().ok
