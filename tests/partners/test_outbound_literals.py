"""IP literals in every form, under the one rule on where the hub may reach (`partners.outbound`):
loopback is allowed in development only when written plainly (127.0.0.1, [::1], localhost, a
name under .localhost); any other spelling of this machine or of a private address is refused
when a partner subscribes (the API's problem names the field, the page's error summary links to
it) and when the hub sends, in every environment. A public address is accepted however written.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from core.db import db
from core.validation import Checker
from partners import outbound
from partners.models import WebhookSubscription

#: Loopback and private addresses written another way, with the address each is.
WRITTEN_ANOTHER_WAY = [
    ("https://2130706433/hooks", "127.0.0.1"),  # decimal
    ("https://0x7f000001/hooks", "127.0.0.1"),  # hex
    ("https://0x7F.0.0.1/hooks", "127.0.0.1"),  # dotted hex
    ("https://0177.0.0.1/hooks", "127.0.0.1"),  # dotted octal
    ("https://017700000001/hooks", "127.0.0.1"),  # octal
    ("https://127.1/hooks", "127.0.0.1"),  # shortened
    ("https://127.0.1/hooks", "127.0.0.1"),
    ("https://127.0.0.1./hooks", "127.0.0.1"),  # a final dot
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hooks", "127.0.0.1"),  # full-width digits
    ("https://127\u30020\u30020\u30021/hooks", "127.0.0.1"),  # ideographic full stops
    ("http://2130706433:8123/hooks", "127.0.0.1"),  # plain http too
    ("https://[::ffff:127.0.0.1]/hooks", "127.0.0.1"),  # IPv4-mapped
    ("https://[::ffff:7f00:1]/hooks", "127.0.0.1"),
    ("https://[::127.0.0.1]/hooks", "127.0.0.1"),  # IPv4-compatible
    ("https://[0:0:0:0:0:0:0:1]/hooks", "::1"),
    ("https://[64:ff9b::7f00:1]/hooks", "127.0.0.1"),  # NAT64
    ("https://[2002:7f00:1::]/hooks", "127.0.0.1"),  # 6to4
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fefe]/hooks", "127.0.1.1"),  # Teredo
    ("https://167772161/hooks", "10.0.0.1"),
    ("https://0xa9fea9fe/latest/meta-data", "169.254.169.254"),
    ("https://[::ffff:a9fe:a9fe]/latest/meta-data", "169.254.169.254"),
    ("https://[64:ff9b::a00:1]/hooks", "10.0.0.1"),
    ("https://[2002:a00:1::]/hooks", "10.0.0.1"),
]
#: Written plainly, but not public, or this machine in a spelling development does not allow.
REFUSED_AS_WRITTEN = [
    "https://127.0.0.2/hooks",
    "https://localhost./hooks",
    "https://192.0.0.8/hooks",  # IETF protocol assignments
    "https://[64:ff9b:1::a00:1]/hooks",  # local-use NAT64
    "https://[fec0::1]/hooks",  # site-local
]
#: This machine written plainly: what development and tests use for partners' test servers.
PLAIN_LOOPBACK = [
    "http://127.0.0.1:8123/hooks",
    "https://localhost/hooks",
    "http://[::1]:8123/hooks",
    "https://events.localhost/hooks",
]


@pytest.fixture
def development(app, monkeypatch):
    """The hub as a developer runs it: loopback allowed, written plainly."""
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "development")


@pytest.fixture
def admin_client(client, make_org, make_person):
    organisation = make_org()
    client.sign_in(make_person(organisation, ["org_admin"]))
    return client, organisation


def _subscribe_over_the_api(client, url: str) -> Any:
    return client.api("POST", "/api/v1/webhooks", json={"url": url, "events": ["agreement.status"]})


def _subscriptions(organisation) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookSubscription)
        .where(WebhookSubscription.organisation_id == organisation.id)
    )


# --- subscribing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "address"), WRITTEN_ANOTHER_WAY)
def test_the_api_refuses_an_address_written_another_way_naming_the_field(
    admin_client, development, url, address
):
    client, organisation = admin_client
    response = _subscribe_over_the_api(client, url)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["errors"]["url"] == [
        "The address must be reachable on the internet, not a private network "
        f"(it is {address} written another way)."
    ]
    assert _subscriptions(organisation) == 0


@pytest.mark.parametrize("url", REFUSED_AS_WRITTEN)
def test_the_api_refuses_other_loopback_and_private_addresses_in_development(
    admin_client, development, url
):
    client, organisation = admin_client
    response = _subscribe_over_the_api(client, url)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["errors"]["url"] == [
        "The address must be reachable on the internet, not a private network."
    ]
    assert _subscriptions(organisation) == 0


@pytest.mark.parametrize("url", PLAIN_LOOPBACK)
def test_development_accepts_this_machine_written_plainly(admin_client, development, url):
    client, organisation = admin_client
    response = _subscribe_over_the_api(client, url)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert _subscriptions(organisation) == 1


@pytest.mark.parametrize(
    "url", ["https://[zz]/hooks", "https://[::1/hooks", "https://events.example:99999/hooks"]
)
def test_an_address_that_does_not_parse_is_a_field_error_not_a_failure(admin_client, url):
    client, organisation = admin_client
    response = _subscribe_over_the_api(client, url)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["errors"]["url"] == [
        "Enter a full web address, like https://events.example.ac.uk/hub-events."
    ]
    assert _subscriptions(organisation) == 0


@pytest.mark.parametrize(
    "url",
    ["https://134744072/hooks", "https://0x8.0x8.0x8.0x8/hooks", "https://[::ffff:8.8.8.8]/hooks"],
)
def test_a_public_address_is_accepted_however_written(admin_client, app, monkeypatch, url):
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "production")
    client, organisation = admin_client
    response = _subscribe_over_the_api(client, url)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert _subscriptions(organisation) == 1


@pytest.mark.parametrize(
    ("url", "address"),
    [WRITTEN_ANOTHER_WAY[0], WRITTEN_ANOTHER_WAY[5], WRITTEN_ANOTHER_WAY[11]],
)
def test_the_page_shows_the_refusal_in_the_error_summary(admin_client, development, url, address):
    client, organisation = admin_client
    response = client.submit(
        f"/organisations/{organisation.slug}/webhooks/new",
        {"url": url, "events": ["agreement.status"]},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html and 'href="#url"' in html
    assert f"(it is {address} written another way)" in html
    assert _subscriptions(organisation) == 0


@pytest.mark.parametrize(("uri", "address"), WRITTEN_ANOTHER_WAY[:6])
def test_a_clients_key_set_address_follows_the_same_rule(admin_client, development, uri, address):
    client, organisation = admin_client
    response = client.submit(
        f"/organisations/{organisation.slug}/clients/new",
        {"name": "Keys elsewhere", "jwks_uri": uri, "scopes": ["speakers:read"]},
    )
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html and 'href="#jwks_uri"' in html
    assert f"(it is {address} written another way)" in html


# --- sending --------------------------------------------------------------------------------


@dataclass
class KeyServer:
    """A real HTTP server on 127.0.0.1 that counts the requests it is sent."""

    port: int = 0
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    state = KeyServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = b'{"keys": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"]
)
def test_development_never_sends_to_this_machine_written_another_way(key_server, host):
    with pytest.raises(outbound.OutboundError):
        outbound.fetch(
            f"http://{host}:{key_server.port}/jwks.json",
            allow_loopback=True,
            max_bytes=1000,
            timeout=5,
        )
    assert key_server.requests == []
    # Written plainly, the same server is reached.
    body = outbound.fetch(
        f"http://127.0.0.1:{key_server.port}/jwks.json",
        allow_loopback=True,
        max_bytes=1000,
        timeout=5,
    )
    assert body == b'{"keys": []}' and key_server.requests == ["/jwks.json"]


# --- the property: every spelling of an IPv4 address gets the same answer --------------------

#: Not public, from the IANA IPv4 Special-Purpose Address Registry (and multicast), written
#: here independently of the code under test.
NOT_PUBLIC_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]


def _octets(n: int) -> list[int]:
    return [(n >> shift) & 0xFF for shift in (24, 16, 8, 0)]


def _radix(value: int, radix: str) -> str:
    return {"dec": str(value), "hex": hex(value), "HEX": f"0X{value:X}", "oct": f"0{value:o}"}[
        radix
    ]


RADIXES = st.sampled_from(["dec", "hex", "HEX", "oct"])


@st.composite
def spellings(draw: Callable[..., Any], n: int) -> str:
    """One of the ways `n` can be written as a URL's host."""
    o = _octets(n)
    form = draw(st.sampled_from(["dotted", "three", "two", "one", "mapped", "mapped-hex", "wide"]))
    if form == "dotted":
        return ".".join(_radix(b, draw(RADIXES)) for b in o)
    if form == "three":
        return ".".join([_radix(o[0], draw(RADIXES)), _radix(o[1], draw(RADIXES))]) + (
            "." + _radix((o[2] << 8) | o[3], draw(RADIXES))
        )
    if form == "two":
        return _radix(o[0], draw(RADIXES)) + "." + _radix(n & 0xFFFFFF, draw(RADIXES))
    if form == "one":
        return _radix(n, draw(RADIXES))
    if form == "mapped":
        return f"[::ffff:{ipaddress.IPv4Address(n)}]"
    if form == "mapped-hex":
        return f"[::ffff:{n >> 16:x}:{n & 0xFFFF:x}]"
    return str(ipaddress.IPv4Address(n)).translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})


ADDRESSES = st.one_of(
    st.integers(0, 2**32 - 1),
    st.sampled_from(NOT_PUBLIC_V4).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address))
    ),
    st.sampled_from([0x7F000001, 0x08080808, 0xA9FEA9FE]),
)


def _refused_when_subscribing(url: str, allow_loopback: bool) -> bool:
    check = Checker({"url": url})
    outbound.check_url(
        check, "url", "the address", example="https://x.example/", allow_loopback=allow_loopback
    )
    return bool(check.errors)


def _refused_when_sending(host: str, allow_loopback: bool) -> bool:
    try:
        outbound._allowed_address(host, allow_loopback=allow_loopback)
    except outbound.OutboundError:
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(data=st.data(), n=ADDRESSES, development=st.booleans())
def test_every_spelling_of_an_address_is_refused_iff_it_is_not_public(data, n, development):
    address = ipaddress.IPv4Address(n)
    host = data.draw(st.one_of(st.just(str(address)), spellings(n)), label="host")
    url = f"https://{host}/hooks"
    not_public = any(address in network for network in NOT_PUBLIC_V4)
    plain_loopback = development and host == "127.0.0.1"
    expected = not_public and not plain_loopback
    assert _refused_when_subscribing(url, development) == expected
    assert _refused_when_sending(urlsplit(url).hostname or "", development) == expected
