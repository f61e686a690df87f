"""A real SMTP server for tests: aiosmtpd's `Controller` on a free loopback port, keeping every
message it receives, parsed, for the test to read (`mailbox` fixture; `SmtpServer` for
servers a test starts and stops itself, or one with STARTTLS). The browser journeys' live
hub sends to one of these too (`tests/e2e/conftest.py`)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message as the server received it."""

    envelope_to: tuple[str, ...]
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        # A long subject is folded onto the next line ("Subject:\r\n Feedback ..."); the
        # unfolded value starts with that space, which mail clients drop too.
        return str(self.message["Subject"]).strip()

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class _Keeper:
    """aiosmtpd's handler: keeps each message (the DATA step)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self.arrived:
            self.received.append(Received(tuple(envelope.rcpt_tos), parsed))
            self.arrived.notify_all()
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class SmtpServer:
    """A real SMTP server on `port`, stopped and started again at will (the same port and the
    same kept messages), optionally offering STARTTLS with `tls_context` (and then requiring
    it)."""

    def __init__(self, port: int | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.tls_context = tls_context
        self.keeper = _Keeper()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        extra: dict[str, Any] = {}
        if self.tls_context is not None:
            extra = {"tls_context": self.tls_context, "require_starttls": True}
        self.controller = Controller(self.keeper, hostname=HOST, port=self.port, **extra)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Received]:
        with self.keeper.arrived:
            return list(self.keeper.received)

    def to(self, address: str) -> list[Received]:
        """The messages addressed to `address`, oldest first."""
        return [m for m in self.messages if address in m.envelope_to]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        """Wait until `count` messages to `address` have arrived (for a hub in another process
        that sends after its commit); fails the test if they do not come in `timeout`."""
        deadline = time.monotonic() + timeout
        with self.keeper.arrived:
            while len(found := [m for m in self.keeper.received if address in m.envelope_to]) < (
                count
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no mail to {address} arrived in {timeout} s", pytrace=False)
                self.keeper.arrived.wait(left)
            return found


@pytest.fixture
def mailbox() -> Iterator[SmtpServer]:
    """A running SMTP server (no TLS) that keeps what it receives."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made now; returns (certificate, key) files.
    The certificate is its own CA: a client that trusts that file can verify the server."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test relay")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "relay.crt", folder / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
