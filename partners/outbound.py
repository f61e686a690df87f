"""Where the hub may reach out to partners' systems (webhook deliveries, clients' key sets): the
one rule on which addresses are refused, and one careful fetch.

An address is refused when it is, or resolves to, somewhere not on the public internet:
private, loopback, link-local, shared (CGNAT), multicast, reserved or unspecified, in every form
an IP literal can take (`https://2130706433/`, `https://0x7f000001/`, `https://0177.0.0.1/`,
`https://127.1/`, full-width digits, and IPv6 that carries such an IPv4 address: IPv4-mapped,
IPv4-compatible, NAT64, 6to4, Teredo). An IP literal of a public address is accepted however it
is written: only where it leads matters.

In development and tests this machine is allowed (and plain http to it), so that tests can run a
partner's server on loopback, but only when written plainly: `127.0.0.1`, `[::1]`, `localhost`
or a name under `.localhost` (RFC 6761 keeps it for this machine), the spellings every parser,
resolver and reader takes alike. Loopback written any other way (`https://2130706433/`,
`https://127.1/`, `https://[::ffff:127.0.0.1]/`, `https://127.0.0.2/`, `https://localhost./`)
is refused in every environment: nobody's test server needs it, and it is how a check that
compares text is slipped past. Production refuses loopback however written. Subscribing
(`check_url`) and sending (`address_for`) ask the same rule (`is_refused_host`), so nothing accepted
in development is refused only later, at send time, in production.

`fetch` (client key sets) and `post` (webhook deliveries) connect to the very address that
`address_for` checked (a name is resolved once, so DNS cannot point it elsewhere between the
check and the connection). `fetch` follows redirects only on the same origin, reads at most a
given number of bytes within a given time, and fails with one generic error whatever went
wrong, so that its answer never tells closed ports, open ports and services apart; `post`
follows no redirect (a redirect is an answer).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
import unicodedata
from typing import Any
from urllib.parse import urljoin, urlsplit

from core.validation import Checker

#: This machine written plainly: the loopback spellings development and tests may use (with any
#: name under `.localhost` made of plain labels, `PLAIN_LOCALHOST_NAME`).
PLAIN_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PLAIN_LOCALHOST_NAME = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+localhost$")
#: The full stops a resolver reads as `.` in a host name (IDNA, RFC 3490 section 3.1).
_FULL_STOPS = re.compile("[\u3002\uff0e\uff61]")
#: A host made of numbers only (decimal, octal or hex parts, at most four): an IPv4 literal in
#: one of the forms `inet_aton` accepts, which a browser or resolver may read as an address.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Not public, whatever the running Python's `is_global` says (it has changed between
#: versions): IETF protocol assignments (RFC 6890; the two anycast services in it are no
#: partner's), local-use NAT64 (RFC 8215, whose IPv4 part may sit anywhere), and deprecated
#: IPv4-compatible IPv6 (RFC 4291 section 2.5.5.1, never routed to the internet).
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NOT_PUBLIC = (
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    _IPV4_COMPATIBLE,
)
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


def _as_resolved(host: str) -> str:
    """The host as a resolver reads it: without an IPv6 literal's brackets or zone, with
    full-width digits and ideographic full stops made ASCII (as IDNA does before the lookup), in
    lower case, without a final dot."""
    host = unicodedata.normalize("NFKC", host.strip().strip("[]").split("%")[0])
    return _FULL_STOPS.sub(".", host).lower().rstrip(".") or host


def _numbers_naming_no_address(host: str) -> bool:
    """A host of numbers only that is no IPv4 address (`https://999999999999/`, `https://08/`):
    resolvers differ on what it means, so it is refused (`ip_literal` takes it as 0.0.0.0)."""
    host = _as_resolved(host)
    return bool(_NUMERIC_HOST.match(host)) and _ipv4_from_numbers(host) is None


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` is, if it is written as one in any form; None for a name."""
    host = _as_resolved(host)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        return _ipv4_from_numbers(host) or ipaddress.IPv4Address("0.0.0.0")  # noqa: S104
    return None


def carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> bool:
    """Whether an address is on the public internet (and so is any IPv4 address it carries)."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public_address(address.ipv4_mapped)  # an IPv4 address, however spelt
    if address.is_multicast or not address.is_global:
        return False
    if any(address in network for network in _NOT_PUBLIC if network.version == address.version):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return False
        carried = [address.sixtofour]
        if address.teredo:
            carried.extend(address.teredo)
        if address in _NAT64:
            carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(is_public_address(inner) for inner in carried if inner is not None)
    return True


def is_plain_loopback(host: str) -> bool:
    """This machine written plainly (`PLAIN_LOOPBACK_HOSTS`, a plain name under .localhost):
    the only loopback development and tests allow. `host` as the URL gives it (lower case,
    without brackets), not normalised: a spelling that needs normalising is not plain."""
    host = host.lower().strip("[]")
    return host in PLAIN_LOOPBACK_HOSTS or bool(PLAIN_LOCALHOST_NAME.match(host))


def is_loopback_host(host: str) -> bool:
    """This machine, by name or by address, however written."""
    name = _as_resolved(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = ip_literal(host)
    if isinstance(address, ipaddress.IPv6Address):
        address = carried_ipv4(address) or address
    return address is not None and address.is_loopback


def written_another_way(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an IP literal names when it is not written in its usual text form (an
    IPv4 address in dotted decimal, an IPv6 one compressed, carrying no IPv4 address): the
    address, so that a refusal can say what it is; None for a name or a plain literal."""
    address = ip_literal(host)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        carried = carried_ipv4(address)
        if carried is not None:
            return carried
    return None if str(address) == host.lower().strip("[]") else address


def is_refused_host(host: str, *, allow_loopback: bool) -> bool:
    """The one rule on a URL's host as written (a name is checked again when resolved, by
    `fetch`): refused if it is this machine (unless written plainly, and `allow_loopback`:
    development and tests) or an IP literal of anywhere not public, however written."""
    if allow_loopback and is_plain_loopback(host):
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
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number, or too big, raises)
    except ValueError:
        check.add(key, f"Enter a full web address, like {example}.")
        return value
    host = (parts.hostname or "").lower()
    loopback = allow_loopback and is_plain_loopback(host)
    unusual = written_another_way(host) if host else None
    if not host or _numbers_naming_no_address(host):
        check.add(key, f"Enter a full web address, like {example}.")
    elif unusual is not None and is_refused_host(host, allow_loopback=allow_loopback):
        # Before the scheme: however it starts, this address is never accepted.
        check.add(
            key,
            "The address must be reachable on the internet, not a private network "
            f"(it is {unusual} written another way).",
        )
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
    """The one address of `host` the hub connects to: refused if the host as written is
    (`is_refused_host`, the rule `check_url` asks), or if any address it resolves to is not
    public (loopback is allowed in development only, for loopback written plainly only)."""
    if is_refused_host(host, allow_loopback=allow_loopback):
        raise OutboundError(f"{host} is not a public address")
    literal = ip_literal(host)
    addresses = [str(literal)] if literal is not None else addresses_of(host)
    if not addresses:
        raise OutboundError(f"{host} does not resolve")
    loopback = allow_loopback and is_plain_loopback(host)
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


def address_for(url: str, *, allow_loopback: bool) -> str:
    """The one address `url` may be reached at under the rule above (https, or plain http to
    this machine in development; no credentials; a host that is, and resolves to, somewhere
    public), or OutboundError. The caller connects to this very address (`post`, `fetch`)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = allow_loopback and is_plain_loopback(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise OutboundError(f"{parts.scheme}:// is not allowed")
    if parts.username or parts.password:
        raise OutboundError("credentials in the address")
    return _allowed_address(host, allow_loopback=allow_loopback)


def _connection(url: str, address: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    return pinned((parts.hostname or "").lower(), parts.port, address, timeout)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def post(url: str, address: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST `body` once to `url` at `address` (from `address_for`); the answer's HTTP status
    (a redirect is an answer, never followed), or OutboundError whatever went wrong."""
    connection = _connection(url, address, timeout)
    try:
        connection.request("POST", _target(url), body=body, headers=headers)
        response = connection.getresponse()
        response.read(4096)
        return response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise OutboundError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


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
        address = address_for(url, allow_loopback=allow_loopback)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundError("out of time")
        connection = _connection(url, address, remaining)
        try:
            connection.request(
                "GET", _target(url), headers={"Accept": accept, "User-Agent": "prevent-hub/1"}
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
