"""Emails as the hub writes them: a pair of Jinja templates (`mail/<name>.txt` and `.html`)
rendered into a subject, a plain-text part and an HTML part.

Bodies carry a link back into the hub and no personal data beyond what the recipient may see
there themselves: "An event is waiting for your decision" and its link, never a speaker's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"
HUB_NAME = "Prevent Information Sharing Hub"
SUBJECT_MAX = 300


@dataclass(frozen=True)
class Email:
    """A rendered email: what the outbox stores and a backend sends."""

    subject: str
    text: str
    html: str


def _environment(autoescape: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Plain text is not HTML: escaping it would put entities in people's mail.
        autoescape=autoescape,  # noqa: S701
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def hub_url(path: str = "/") -> str:
    """An absolute address in this hub (`HUB_BASE_URL`) for a path such as `/events/<id>`."""
    if path.startswith(("https://", "http://")):
        return path
    base = current_app.config["HUB_SETTINGS"].base_url.rstrip("/")
    return base + (path if path.startswith("/") else "/" + path)


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """A header-safe line: no line breaks (no header injection), at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render(name: str, subject: str, **context: Any) -> Email:
    """Render the template pair `mail/<name>.txt` and `mail/<name>.html` with `context` (plus
    `subject`, `hub_name` and `hub_link`, the hub's home page)."""
    subject = one_line(subject)
    values = {"subject": subject, "hub_name": HUB_NAME, "hub_link": hub_url("/"), **context}
    text = _TEXT.get_template(f"mail/{name}.txt").render(values)
    html = _HTML.get_template(f"mail/{name}.html").render(values)
    return Email(subject=subject, text=text, html=html)


def notice(
    subject: str, paragraphs: list[str], link: str = "", action: str = "Open it in the hub"
) -> Email:
    """The hub's usual email: a heading, a few sentences and one link into the hub."""
    return render(
        "notice",
        subject,
        paragraphs=[p for p in paragraphs if p],
        link=hub_url(link) if link else "",
        action=action,
    )
