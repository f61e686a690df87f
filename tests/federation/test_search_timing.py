"""How long a federated search waited for each peer, and what becomes of an answer that comes
after the deadline. Two real hubs on loopback (tests/federation/test_two_hubs.py's region, one
for this module), and real servers for a peer that hangs up: no mock of our code.

- A peer frozen past the deadline is `slow` with `elapsed_ms` the time waited (not 0), in the
  answer and in its audit entry; a peer that hangs up is `down` with the time until it did.
- A peer that answers after the search gave up has disclosed records (its own log says so,
  under the same request id) that this hub never showed: this hub's log gets a second entry for
  that peer's call, `peer_late`, with the results the answer held.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from core.db import db
from hub.federation import services as federation
from tests.conftest import HubClient
from tests.federation import test_two_hubs as two_hubs
from tests.federation.test_two_hubs import PURPOSE, SYSTEM, Hub

#: The two hubs (one pair for this module) and the officer who searches at the north.
region = two_hubs.region
officer = two_hubs.officer


def _search(client: HubClient, request_id: str):
    return client.get(
        "/api/v1/federation/speakers",
        query_string={"q": "Ember Quilfeather", "purpose": PURPOSE},
        headers={"X-Request-Id": request_id},
    )


def _wait_for_federation_calls_to_end(timeout: float = 10.0) -> None:
    """Wait until the search's calls to peers have ended (a late answer is recorded by then)."""
    for thread in threading.enumerate():
        if thread.name.startswith("federation"):
            thread.join(timeout)
            assert not thread.is_alive(), "a call to a peer hub did not end"


@contextmanager
def deadline(hub: Hub, seconds: float) -> Iterator[None]:
    settings = hub.app.config["HUB_SETTINGS"]
    before = settings.federation_deadline_seconds
    settings.federation_deadline_seconds = seconds
    try:
        yield
    finally:
        settings.federation_deadline_seconds = before


def _details(entry) -> dict:
    return json.loads(entry.details or "{}")


def _peer_entries(hub: Hub, request_id: str) -> list:
    return [e for e in hub.entries(request_id) if e.action == "federation.peer_search"]


def test_a_frozen_peer_is_slow_after_the_time_waited_not_zero(region, officer):
    north, south = region.north, region.south
    south.delay.seconds = 30.0  # held until released: it never answers within the deadline
    try:
        with deadline(north, 0.5):
            response = _search(officer, str(uuid.uuid4()))
    finally:
        south.delay.seconds = 0.0
        _wait_for_federation_calls_to_end()  # this hub stopped listening first
        south.delay.release_and_wait()
    assert response.status_code == 200
    body = response.get_json()
    [peer] = body["peers"]
    assert peer["status"] == "slow"
    assert peer["elapsed_ms"] >= 500
    [entry] = _peer_entries(north, body["request_id"])
    assert entry.reason == "peer_slow" and _details(entry)["elapsed_ms"] == peer["elapsed_ms"]


class HangingUp:
    """A real server that takes each connection, holds it `seconds`, and closes it unanswered."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                connection, _ = self.sock.accept()
            except TimeoutError:
                continue
            time.sleep(self.seconds)
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


@contextmanager
def peer_at(hub: Hub, url: str) -> Iterator[None]:
    """The hub's peer moved to `url` for the duration (as `update-peer --url` would)."""
    with hub.app.app_context():
        peer = hub.peer()
        before = peer.base_url
        federation.update_peer(SYSTEM, peer, {"base_url": url})
        db.session.commit()
    try:
        yield
    finally:
        with hub.app.app_context():
            federation.update_peer(SYSTEM, hub.peer(), {"base_url": before})
            db.session.commit()


def test_a_peer_that_hangs_up_is_down_after_the_time_until_it_did(region, officer):
    server = HangingUp(0.3)
    try:
        with peer_at(region.north, server.url), deadline(region.north, 5.0):
            response = _search(officer, str(uuid.uuid4()))
    finally:
        server.stop()
    assert response.status_code == 200
    body = response.get_json()
    [peer] = body["peers"]
    assert peer["status"] == "down", peer
    assert peer["elapsed_ms"] >= 300
    [entry] = _peer_entries(region.north, body["request_id"])
    assert entry.reason == "peer_down" and _details(entry)["elapsed_ms"] == peer["elapsed_ms"]


def test_an_answer_after_the_deadline_is_recorded_as_late_beside_the_peers_disclosure(
    region, officer
):
    north, south = region.north, region.south
    request_id = str(uuid.uuid4())
    # The peer holds the read until the search has given up on it, then answers while this hub
    # still listens (as long again as the deadline).
    south.delay.seconds = 30.0
    try:
        with deadline(north, 2.0):
            response = _search(officer, request_id)
            assert response.get_json()["peers"][0]["status"] == "slow"
            south.delay.release_and_wait()
            _wait_for_federation_calls_to_end()  # the late answer is in, and recorded
    finally:
        south.delay.seconds = 0.0
    body = response.get_json()
    assert {r["origin"] for r in body["results"]} == {"local"}  # the answer was never shown

    slow, late = _peer_entries(north, request_id)
    assert (slow.outcome, slow.reason) == ("failed", "peer_slow")
    assert (late.outcome, late.reason) == ("failed", "peer_late")
    assert late.resource_org == north.ids["south_org"] and late.purpose == slow.purpose
    assert late.actor == slow.actor
    held = _details(late)
    assert held["results"] == 1 and held["total"] == 1
    assert held["elapsed_ms"] >= _details(slow)["elapsed_ms"] >= 2000
    assert held["peer_on_behalf_of"] == _details(slow)["peer_on_behalf_of"]

    # The peer audited its disclosure as for any answer, under the same request id.
    theirs = south.entries(request_id)
    [disclosure] = [e for e in theirs if e.action == "disclosure"]
    assert disclosure.actor == f"client:{south.ids['north_client']}"
    assert south.ids["speaker"] in disclosure.resource_ids
    assert north.verify().ok and south.verify().ok


def test_an_answer_in_time_leaves_one_entry_for_the_peer(region, officer):
    request_id = str(uuid.uuid4())
    response = _search(officer, request_id)
    _wait_for_federation_calls_to_end()
    [peer] = response.get_json()["peers"]
    assert peer["status"] == "ok"
    [entry] = _peer_entries(region.north, request_id)
    assert entry.outcome == "granted" and _details(entry)["elapsed_ms"] == peer["elapsed_ms"]


@pytest.fixture(autouse=True)
def _no_call_left_running() -> Iterator[None]:
    yield
    _wait_for_federation_calls_to_end()
