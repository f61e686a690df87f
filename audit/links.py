"""What the review pages need to know of higher layers, handed down at start-up: where a record
of each kind is shown, and an agreement's reference and page.

`audit` is the lowest domain layer and may not name a higher one, not even by URL or endpoint
(ARCHITECTURE.md, layering). People's and organisations' names it reads from their tables by
name (`audit.review`), as those are plain columns. An agreement's reference, title and page
belong to the agreements domain (lineages, versions, who may open which), and a record's page
to the records domain, so those are not guessed here from table and URL shapes: the
application factory registers a resolver for each (`hub.app`), and a page shows a link only
where one was registered. Nothing registered means plain text, never a broken link.

The registry lives in `app.extensions`, one per application, so that tests' apps never share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Flask, current_app

EXTENSION = "audit_links"


@dataclass(frozen=True)
class AgreementLabel:
    """How a page names one agreement version: its reference (NSH-DSA-...), version, title and
    the page that shows it (None where there is none)."""

    reference: str
    version: int
    title: str
    url: str | None = None


#: Given agreement ids (as the log holds them), their labels; ids it does not know are left out.
AgreementResolver = Callable[[Iterable[str]], dict[str, AgreementLabel]]
#: Given a record's id and its owner organisation's id, the URL of its page for the reviewer
#: (None where there is none).
RecordLink = Callable[[str, str | None], str | None]
#: Given a record kind and a field name, the field's label.
FieldLabel = Callable[[str, str], str | None]


@dataclass
class Registry:
    """The resolvers one application registered."""

    records: dict[str, RecordLink] = field(default_factory=dict)
    record_words: dict[str, str] = field(default_factory=dict)
    agreements: AgreementResolver | None = None
    field_label: FieldLabel | None = None


def registry(app: Flask | None = None) -> Registry:
    """The application's registry (made empty on first use)."""
    target = app if app is not None else current_app
    return target.extensions.setdefault(EXTENSION, Registry())


def register_record(app: Flask, kind: str, words: str, link: RecordLink | None = None) -> None:
    """Name a record kind in words ("Speaker") and, optionally, how to link to one."""
    found = registry(app)
    found.record_words[kind] = words
    if link is not None:
        found.records[kind] = link


def register_agreements(app: Flask, resolver: AgreementResolver) -> None:
    """Register how agreement ids become references, titles and links."""
    registry(app).agreements = resolver


def register_field_labels(app: Flask, labeller: FieldLabel) -> None:
    """Register how a record kind's field names become labels."""
    registry(app).field_label = labeller


def record_words(kind: str | None) -> str:
    """A record kind in words: the registered words, else the kind made readable."""
    if not kind:
        return ""
    return registry().record_words.get(kind) or kind.replace("_", " ").capitalize()


def record_url(kind: str | None, record_id: str, owner_org: str | None = None) -> str | None:
    """The page of one record, where the kind has a registered link."""
    link = registry().records.get(kind or "")
    return link(record_id, owner_org) if link is not None else None


def agreement_labels(ids: Iterable[str | None]) -> dict[str, AgreementLabel]:
    """Labels for the agreement ids the resolver knows (empty when none is registered)."""
    wanted = {value for value in ids if value}
    resolver = registry().agreements
    if resolver is None or not wanted:
        return {}
    return resolver(wanted)


def field_label(kind: str | None, name: str) -> str:
    """A field's label where one is registered, else its name made readable."""
    labeller = registry().field_label
    label = labeller(kind or "", name) if labeller is not None else None
    return label or name.replace("_", " ").capitalize()
