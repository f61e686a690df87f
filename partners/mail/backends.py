"""Where email goes (`HUB_MAIL_BACKEND`): an SMTP relay over TLS, GOV.UK Notify, or, in
development, a folder shown at `/dev/mail` or the console.

A backend sends one message or raises `DeliveryFailed` with a reason that names the error's
class and the server's code only: reasons are stored and logged, so they never carry a message
body or an address.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol, TextIO

from core.config import Settings

#: How many delivered messages the development folder keeps (the newest).
DEV_KEEP = 200
DEV_FOLDER = "dev-mail"


class DeliveryFailed(Exception):
    """A message was not delivered. `permanent`: retrying cannot help (the address or the
    message was refused for good); otherwise the sender tries again later."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:200]
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    """One claimed outbox row, as a backend sends it."""

    id: int
    to_address: str
    subject: str
    text: str
    html: str
    kind: str


class Backend(Protocol):
    """Sends one message (raising `DeliveryFailed`), and says where mail goes."""

    def send(self, message: Outgoing) -> None: ...

    def describe(self) -> str: ...


def mime_message(message: Outgoing, sender: str) -> EmailMessage:
    """The message as MIME: multipart/alternative, plain text first, then HTML."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to_address
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "hub.invalid"
    mime["Message-ID"] = make_msgid(idstring=f"outbox{message.id}", domain=domain)
    mime["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    mime["X-Hub-Kind"] = message.kind
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    return mime


# --- SMTP --------------------------------------------------------------------------------


class SmtpBackend:
    """A mail relay, over STARTTLS, implicit TLS (`ssl`) or, on this machine only, none.
    A relay that does not offer STARTTLS when it is required is a failure, never a reason
    to send in clear."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        tls: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
        ca_file: str = "",
    ) -> None:
        self.host, self.port, self.sender, self.tls = host, port, sender, tls
        self.username, self.password = username, password
        self.timeout, self.ca_file = timeout, ca_file

    def describe(self) -> str:
        return f"SMTP relay {self.host}:{self.port} ({self.tls})"

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Outgoing) -> None:
        mime = mime_message(message, self.sender)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryFailed(
                f"SMTPRecipientsRefused {codes[0] if codes else ''}".strip(),
                permanent=bool(codes) and all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            # A message refused for good (5xx after DATA) is permanent; a refused sender or
            # login is the hub's configuration, mended by an operator, so it is retried.
            raise DeliveryFailed(
                f"{type(exc).__name__} {exc.smtp_code}",
                permanent=isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(type(exc).__name__) from None


# --- GOV.UK Notify -----------------------------------------------------------------------


class NotifyBackend:
    """GOV.UK Notify through its official client: one email template whose personalisation
    fields `subject` and `body` carry the message (Notify sends the plain-text part and makes
    its own HTML)."""

    def __init__(
        self, api_key: str, template_id: str, *, base_url: str, timeout: float = 10.0
    ) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        self.client = NotificationsAPIClient(api_key, base_url=base_url, timeout=timeout)
        self.template_id = template_id
        self.base_url = base_url

    def describe(self) -> str:
        return f"GOV.UK Notify ({self.base_url})"

    def send(self, message: Outgoing) -> None:
        from notifications_python_client.errors import APIError, HTTPError

        try:
            self.client.send_email_notification(
                email_address=message.to_address,
                template_id=self.template_id,
                personalisation={"subject": message.subject, "body": message.text},
                reference=f"hub-outbox-{message.id}",
            )
        except HTTPError as exc:
            # 400: Notify refuses this message or address for good. 403 (the key), 429
            # (the rate limit) and 5xx are retried.
            raise DeliveryFailed(
                f"Notify{type(exc).__name__} {exc.status_code}", permanent=exc.status_code == 400
            ) from None
        except (APIError, OSError) as exc:
            raise DeliveryFailed(f"Notify{type(exc).__name__}") from None


# --- development -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeptMail:
    """A message the development backend kept, as the `/dev/mail` page shows it."""

    name: str
    received: datetime
    to_address: str
    subject: str
    text: str
    html: str


class DevBackend:
    """Keeps each message as an `.eml` file in the instance folder (the newest `DEV_KEEP`), for
    the `/dev/mail` page; nothing leaves the machine."""

    def __init__(self, folder: Path, *, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def describe(self) -> str:
        return f"kept in {self.folder} and shown at /dev/mail"

    def send(self, message: Outgoing) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{message.id}.eml"
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(bytes(mime_message(message, self.sender)))
        partial.replace(self.folder / name)
        for old in sorted(self.folder.glob("*.eml"))[:-DEV_KEEP]:
            old.unlink(missing_ok=True)


def kept_mail(folder: Path) -> list[KeptMail]:
    """The messages the development backend kept, newest first."""
    found = []
    for path in sorted(folder.glob("*.eml"), reverse=True) if folder.exists() else []:
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        text = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        stamp = path.name.split("-", 1)[0] + "+0000"
        received = datetime.strptime(stamp, "%Y%m%dT%H%M%S%f%z")
        found.append(
            KeptMail(
                name=path.stem,
                received=received,
                to_address=str(parsed["To"]),
                subject=str(parsed["Subject"]).strip(),  # a folded subject starts with a space
                text=text.get_content() if text is not None else "",
                html=html.get_content() if html is not None else "",
            )
        )
    return found


class ConsoleBackend:
    """Prints each message's headers and plain text (development only)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def describe(self) -> str:
        return "printed on the console"

    def send(self, message: Outgoing) -> None:
        stream = self.stream or sys.stdout
        stream.write(
            f"--- email {message.id} to {message.to_address}: {message.subject}\n"
            f"{message.text.rstrip()}\n--- end of email {message.id}\n"
        )
        stream.flush()


def for_settings(settings: Settings) -> Backend:
    """The backend `HUB_MAIL_BACKEND` names, configured from the other mail settings."""
    kind = settings.mail_backend
    if kind == "smtp":
        return SmtpBackend(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.mail_from,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
            ca_file=settings.smtp_ca_file,
        )
    if kind == "notify":
        return NotifyBackend(
            settings.notify_api_key,
            settings.notify_template_id,
            base_url=settings.notify_base_url,
            timeout=settings.smtp_timeout,
        )
    if kind == "console":
        return ConsoleBackend()
    return DevBackend(dev_folder(settings), sender=settings.mail_from)


def dev_folder(settings: Settings) -> Path:
    """Where the development backend keeps what it delivered."""
    return Path(settings.instance_path) / DEV_FOLDER
