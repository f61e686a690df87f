"""A client's keys at its `jwks_uri`: registration refuses private networks in every form an
address can be written in (the webhooks' rule, `partners.outbound`), and the fetch at the token
endpoint follows no redirect off the host, reads a bounded body in bounded time, and answers one
generic, audited refusal whatever went wrong.

The partner's key server is a real HTTP server on the loopback interface: loopback (and plain
http to it) is allowed in development and tests only, as for webhooks; the production cases
switch the environment to production and check the server is never reached.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from core.errors import ValidationFailed
from partners import webhooks
from partners.models import OAuthClient
from partners.oauth import clients, server
from tests.conftest import actor_of
from tests.oauth_helpers import jwks_of, new_key, token_form

#: Private, loopback, link-local, shared and reserved addresses, as IP literals of every form.
REFUSED = [
    "https://10.0.0.1/jwks.json",
    "https://192.168.1.20/jwks.json",
    "https://172.16.5.4/jwks.json",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/jwks.json",
    "https://0.0.0.0/jwks.json",
    "https://127.0.0.1/jwks.json",
    "https://127.0.0.2:8443/jwks.json",
    "https://localhost/jwks.json",
    "https://keys.localhost/jwks.json",
    "https://2130706433/jwks.json",
    "https://0x7f000001/jwks.json",
    "https://0x7F.0.0.1/jwks.json",
    "https://0177.0.0.1/jwks.json",
    "https://127.1/jwks.json",
    "https://017700000001/jwks.json",
    "https://167772161/jwks.json",
    "https://[::1]/jwks.json",
    "https://[::ffff:127.0.0.1]/jwks.json",
    "https://[::ffff:7f00:1]/jwks.json",
    "https://[::ffff:a9fe:a9fe]/jwks.json",
    "https://[::ffff:10.0.0.1]/jwks.json",
    "https://[64:ff9b::a00:1]/jwks.json",
    "https://[2002:a00:1::]/jwks.json",
    "https://[fe80::1]/jwks.json",
    "https://[fc00::1]/jwks.json",
]


@pytest.fixture
def production(app, monkeypatch):
    """The hub as deployed: no loopback, no plain http."""
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "production")


@pytest.fixture
def admin_org(make_org, make_person):
    organisation = make_org()
    return organisation, make_person(organisation, ["org_admin"])


def _registration_page(client, organisation, admin, uri: str) -> str:
    client.sign_in(admin)
    response = client.submit(
        f"/organisations/{organisation.slug}/clients/new",
        {"name": "Keys elsewhere", "jwks_uri": uri, "scopes": ["speakers:read"]},
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _registered(organisation) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OAuthClient)
        .where(OAuthClient.organisation_id == organisation.id)
    )


@pytest.mark.parametrize("uri", REFUSED)
def test_registration_refuses_a_private_network_in_any_form(client, admin_org, production, uri):
    organisation, admin = admin_org
    html = _registration_page(client, organisation, admin, uri)
    assert "govuk-error-summary" in html and 'href="#jwks_uri"' in html
    assert "not a private network" in html
    assert _registered(organisation) == 0


@pytest.mark.parametrize(
    "uri",
    [
        "http://10.0.0.1/jwks.json",
        "https://10.0.0.1/jwks.json",
        "https://167772161/jwks.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:a9fe:a9fe]/jwks.json",
        "https://[fe80::1]/jwks.json",
    ],
)
def test_tests_allow_loopback_but_no_other_private_address(client, admin_org, uri):
    organisation, admin = admin_org
    html = _registration_page(client, organisation, admin, uri)
    assert "govuk-error-summary" in html
    assert _registered(organisation) == 0


@pytest.mark.parametrize("url", REFUSED)
def test_webhooks_refuse_the_same_addresses(make_org, make_person, production, url):
    organisation = make_org()
    admin = actor_of(make_person(organisation, ["org_admin"]))
    with pytest.raises(ValidationFailed) as excinfo:
        webhooks.subscribe(admin, organisation, {"url": url, "events": ["agreement.status"]})
    assert "url" in excinfo.value.errors


def test_a_public_address_is_accepted(client, admin_org, production):
    organisation, admin = admin_org
    html = _registration_page(client, organisation, admin, "https://8.8.8.8/jwks.json")
    assert "govuk-error-summary" not in html
    assert _registered(organisation) == 1


# --- fetching the keys ----------------------------------------------------------------------


@dataclass
class KeyServer:
    """A partner's key server on this machine: what it serves per path, and what it was asked."""

    base: str = ""
    routes: dict[str, tuple[int, dict[str, str], bytes, float]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def serve(
        self, path: str, body: Any, status: int = 200, delay: float = 0.0, **headers: str
    ) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, headers, raw, delay)
        return self.base + path


def _key_server() -> Iterator[KeyServer]:
    state = KeyServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.asked.append(self.path)
            status, headers, body, delay = state.routes.get(self.path, (404, {}, b"", 0.0))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if delay:  # drip the body, a byte at a time
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(delay)
                else:
                    self.wfile.write(body)
            except OSError:
                pass  # the hub hung up, as it should

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    http.daemon_threads = True
    state.base = f"http://127.0.0.1:{http.server_port}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield state
    http.shutdown()
    http.server_close()
    thread.join()


@pytest.fixture
def keys_at():
    yield from _key_server()


@pytest.fixture
def elsewhere():
    """A second server: another origin."""
    yield from _key_server()


@pytest.fixture
def client_at(admin_org):
    """Register a client whose keys are at `uri` (in test mode); returns it and its key."""

    def factory(uri: str) -> tuple[OAuthClient, Any]:
        organisation, admin = admin_org
        registered, _ = clients.register_client(
            actor_of(admin),
            organisation,
            {"name": f"Keys at {uri}", "jwks_uri": uri, "scopes": ["speakers:read"]},
        )
        db.session.flush()
        return registered, new_key()

    return factory


def _token_request(client, oauth_client, key) -> Any:
    return client.post("/oauth/token", data=token_form(oauth_client.client_id, key))


def _refusal(oauth_client) -> AuditEntry | None:
    return db.session.scalar(
        sa.select(AuditEntry)
        .where(
            AuditEntry.action == "oauth.token",
            AuditEntry.outcome == "denied",
            AuditEntry.resource_ids.contains(oauth_client.client_id),
        )
        .order_by(AuditEntry.seq.desc())
    )


GENERIC = "The client's keys could not be fetched from its jwks_uri."


def _assert_generic_refusal(response, oauth_client) -> None:
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert response.json == {"error": "invalid_client", "error_description": GENERIC}
    entry = _refusal(oauth_client)
    assert entry is not None, "the refusal was not audited"
    assert json.loads(entry.details)["detail"] == "jwks_unavailable"


def test_keys_at_a_jwks_uri_get_a_token(client, keys_at, client_at):
    oauth_client, key = client_at(keys_at.base + "/good")
    keys_at.serve("/good", jwks_of(key))
    response = _token_request(client, oauth_client, key)
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        {"hello": "world"},
        {"keys": "not a list"},
        {"keys": [{"kty": "nonsense"}]},
        [1, 2, 3],
        b"not json at all",
        b"\xff\xfe",
    ],
    ids=["object", "keys-not-list", "bad-key", "array", "text", "bytes"],
)
def test_a_document_that_is_not_a_key_set_is_a_generic_audited_refusal(
    client, keys_at, client_at, body
):
    oauth_client, key = client_at(keys_at.base + "/not-keys")
    keys_at.serve("/not-keys", body)
    _assert_generic_refusal(_token_request(client, oauth_client, key), oauth_client)


def test_closed_ports_and_services_answer_alike(client, keys_at, client_at):
    closed, key = client_at("http://127.0.0.1:9/jwks.json")
    missing, other_key = client_at(keys_at.base + "/missing")
    answers = [
        _token_request(client, closed, key).get_data(as_text=True),
        _token_request(client, missing, other_key).get_data(as_text=True),
    ]
    assert answers[0] == answers[1]
    assert GENERIC in answers[0]


def test_a_redirect_off_the_host_is_not_followed(client, keys_at, elsewhere, client_at):
    oauth_client, key = client_at(keys_at.base + "/moved")
    target = elsewhere.serve("/jwks", jwks_of(key))
    keys_at.serve("/moved", b"", status=302, Location=target)
    _assert_generic_refusal(_token_request(client, oauth_client, key), oauth_client)
    assert elsewhere.asked == []


def test_a_redirect_on_the_same_host_is_followed(client, keys_at, client_at):
    oauth_client, key = client_at(keys_at.base + "/old")
    keys_at.serve("/new", jwks_of(key))
    keys_at.serve("/old", b"", status=301, Location="/new")
    assert _token_request(client, oauth_client, key).status_code == 200


def test_a_body_larger_than_the_cap_is_not_read(client, keys_at, client_at):
    oauth_client, key = client_at(keys_at.base + "/huge")
    padding = "x" * (server.JWKS_MAX_BYTES + 1)
    keys_at.serve("/huge", {**jwks_of(key), "padding": padding})
    _assert_generic_refusal(_token_request(client, oauth_client, key), oauth_client)


def test_a_slow_server_is_given_up_on_in_time(client, keys_at, client_at, monkeypatch):
    monkeypatch.setattr(server, "JWKS_FETCH_SECONDS", 0.5)
    oauth_client, key = client_at(keys_at.base + "/slow")
    keys_at.serve("/slow", jwks_of(key), delay=0.05)  # ~100 bytes: 5 s, each byte in time
    started = time.monotonic()
    response = _token_request(client, oauth_client, key)
    assert time.monotonic() - started < 2.5
    _assert_generic_refusal(response, oauth_client)


def test_production_never_fetches_from_this_machine(client, keys_at, client_at, app, monkeypatch):
    oauth_client, key = client_at(keys_at.base + "/good-in-tests-only")
    keys_at.serve("/good-in-tests-only", jwks_of(key))
    # A name that resolves to loopback, registered before (or pointed there by DNS since).
    oauth_client.jwks_uri = keys_at.base.replace("http://127.0.0.1", "https://localhost") + "/x"
    db.session.flush()
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "production")
    _assert_generic_refusal(_token_request(client, oauth_client, key), oauth_client)
    assert keys_at.asked == []
