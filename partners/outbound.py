"""Where the hub may reach out to partners' systems (webhook deliveries, clients' key sets): the
one rule on which addresses are refused, and one careful fetch.

An address is refused when it is, or resolves to, somewhere not on the public internet:
private, loopback, link-local, shared (CGNAT), multicast, reserved or unspecified, in every form
an IP literal can take (`https://2130706433/`, `https://0x7f000001/`, `https://0177.0.0.1/`,
`https://127.1/`, and IPv6 that carries such an IPv4 address: IPv4-mapped, NAT64, 6to4, Teredo).
In development and tests this machine's own loopback addresses are allowed (and plain http to
them), so that tests can run a partner's server on 127.0.0.1; production refuses them too.

`fetch` connects to the very address it checked (a name is resolved once, so DNS cannot point it
elsewhere between the check and the connection), follows redirects only on the same origin,
reads at most a given number of bytes within a given time, and fails with one generic error
whatever went wrong, so that its answer never tells closed ports, open ports and services apart.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from core.validation import Checker

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: A host made of numbers only (decimal, octal or hex parts, at most four): an IPv4 literal in
#: one of the forms `inet_aton` accepts, which a browser or resolver may read as an address.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3


class OutboundError(Exception):
    """A fetch that did not succeed; its message is for the hub's log, never for the caller."""


def _ipv4_from_numbers(host: str) -> ipaddress.IPv4Address | None:
    """The address an all-numeric host names (None if it names none: too big, malformed)."""
    parts = host.rstrip(".").split(".")
    try:
        numbers = [
            int(p, 16) if p.lower().startswith("0x") else int(p, 8) if p[:1] == "0" else int(p)
            for p in parts
        ]
    except ValueError:
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` is, if it is written as one in any form; None for a name."""
    host = host.strip().strip("[]").split("%")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        return _ipv4_from_numbers(host) or ipaddress.IPv4Address("0.0.0.0")  # noqa: S104
    return None


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> bool:
    """Whether an address is on the public internet (and so is any IPv4 address it carries)."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%")[0])
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        carried = [address.ipv4_mapped, address.sixtofour]
        if address.teredo:
            carried.append(address.teredo[1])
        if address in _NAT64:
            carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(is_public_address(inner) for inner in carried if inner is not None)
    return True


def is_loopback_host(host: str) -> bool:
    """This machine, by name or by address."""
    host = host.lower().strip("[]")
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    address = ip_literal(host)
    return address is not None and address.is_loopback


def is_refused_host(host: str, *, allow_loopback: bool) -> bool:
    """Whether a URL's host is refused as written (names are checked again when resolved)."""
    if allow_loopback and is_loopback_host(host):
        return False
    if is_loopback_host(host):
        return True
    address = ip_literal(host)
    return address is not None and not is_public_address(address)


def check_url(
    check: Checker,
    key: str,
    label: str,
    *,
    example: str,
    allow_loopback: bool,
    required: bool = True,
) -> str | None:
    """A partner's address, as a form field: https (plain http only to this machine, in
    development and tests), no credentials or fragment, not a private network's address."""
    value = check.text(key, label, required=required, max_length=2000)
    if not value:
        return value
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    loopback = allow_loopback and is_loopback_host(host)
    if not host:
        check.add(key, f"Enter a full web address, like {example}.")
    elif parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        check.add(key, "The address must start with https://.")
    elif parts.username or parts.password:
        check.add(key, "Do not put a user name or password in the address.")
    elif parts.fragment:
        check.add(key, "Remove the part of the address after #.")
    elif is_refused_host(host, allow_loopback=allow_loopback):
        check.add(key, "The address must be reachable on the internet, not a private network.")
    return value


def addresses_of(host: str) -> list[str]:
    """The IP addresses a host name resolves to (none if it does not resolve)."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # not resolvable: the request itself fails and says so
    return [str(info[4][0]).split("%")[0] for info in found]


def _allowed_address(host: str, *, allow_loopback: bool) -> str:
    """The one address of `host` the hub connects to; refused if any it resolves to is not
    public (loopback is allowed in development only, for a loopback host only)."""
    literal = ip_literal(host)
    addresses = [str(literal)] if literal is not None else addresses_of(host)
    if not addresses:
        raise OutboundError(f"{host} does not resolve")
    loopback = allow_loopback and is_loopback_host(host)
    for address in addresses:
        if loopback and ipaddress.ip_address(address).is_loopback:
            continue
        if not is_public_address(address):
            raise OutboundError(f"{host} resolves to {address}, not a public address")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain http to an address already checked (development only: loopback)."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """https to an address already checked, with the certificate checked for the host name."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def fetch(
    url: str,
    *,
    allow_loopback: bool,
    max_bytes: int,
    timeout: float,
    accept: str = "application/json",
) -> bytes:
    """GET `url` under the rule above; the body, or OutboundError (whatever the cause)."""
    deadline = time.monotonic() + timeout
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        loopback = allow_loopback and is_loopback_host(host)
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise OutboundError(f"{parts.scheme}:// is not allowed")
        if parts.username or parts.password:
            raise OutboundError("credentials in the address")
        address = _allowed_address(host, allow_loopback=allow_loopback)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundError("out of time")
        pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        connection = pinned(host, parts.port, address, remaining)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(
                "GET", target, headers={"Accept": accept, "User-Agent": "prevent-hub/1"}
            )
            response = connection.getresponse()
            if response.status in _REDIRECTS:
                location = urljoin(url, response.getheader("Location") or "")
                if _origin(location) != origin:
                    raise OutboundError(f"a redirect off {origin[1]}")
                url = location
                continue
            if response.status != 200:
                raise OutboundError(f"HTTP {response.status}")
            return _read_capped(response, connection, max_bytes, deadline)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()
    raise OutboundError("too many redirects")


def _read_capped(response: Any, connection: Any, max_bytes: int, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError(f"{declared} bytes is more than {max_bytes}")
    body = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundError("out of time")
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        chunk = response.read1(16 * 1024)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            raise OutboundError(f"more than {max_bytes} bytes")
