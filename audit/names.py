"""Names and words for the review pages: people and organisations by name (read from their
tables by name, as `audit` imports no domain package), the actor of an entry in words, purposes
in words (the application's `HUB_PURPOSES`) and agreements by reference (`audit.links`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from flask import current_app

from audit import links, permissions
from core.db import db
from core.security import Actor

# `audit` is the sink and imports no domain package (ARCHITECTURE.md, layering). Review pages
# still need the names of people and organisations, so they read those two tables by name, as
# relationships name other domains' models by string; only ids, organisation and name are read.
PEOPLE = sa.table(
    "people",
    sa.column("id", sa.Uuid()),
    sa.column("organisation_id", sa.Uuid()),
    sa.column("name", sa.String()),
)
ORGANISATIONS = sa.table(
    "organisations", sa.column("id", sa.Uuid()), sa.column("name", sa.String())
)


def nameable_people(actor: Actor) -> sa.ColumnElement[bool]:
    """People whose names the reviewer may see: everyone for the hub's reviewers, otherwise
    their own organisation's people (others appear by their log reference only)."""
    if permissions.sees_whole_log(actor):
        return sa.true()
    org = as_uuid(actor.org_id)
    return sa.false() if org is None else PEOPLE.c.organisation_id == org


def as_uuid(value: str | None) -> uuid.UUID | None:
    """`value` as a UUID, or None if it is not one."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def names_of_people(references: Iterable[str]) -> dict[str, str]:
    """Names for `person:<id>` references, for entries the reviewer may already see: whoever
    acted in an entry a DPO may see is named to them (who touched their organisation's data is
    what they review), while the person filter offers only `nameable_people`."""
    return _person_names(references)


def actor_names_for(actor: Actor, references: Iterable[str]) -> dict[str, str]:
    """Names for the `person:<id>` references the reviewer may see a name for."""
    return _person_names(references, nameable_people(actor))


def _person_names(references: Iterable[str], *conditions: sa.ColumnElement[bool]) -> dict[str, str]:
    """Names for `person:<id>` references (other references are left out), of the people
    meeting `conditions`."""
    ids = {}
    for reference in set(references):
        kind, _, ident = reference.partition(":")
        parsed = as_uuid(ident) if kind == "person" else None
        if parsed is not None:
            ids[parsed] = reference
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(PEOPLE.c.id, PEOPLE.c.name).where(PEOPLE.c.id.in_(list(ids)), *conditions)
    )
    return {ids[row.id]: row.name for row in rows}


def organisation_names(ids: Iterable[str | None]) -> dict[str, str]:
    """Organisation names by id (the partner directory shows them to everyone signed in)."""
    wanted = {parsed: value for value in set(ids) if (parsed := as_uuid(value)) is not None}
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(ORGANISATIONS.c.id, ORGANISATIONS.c.name).where(
            ORGANISATIONS.c.id.in_(list(wanted))
        )
    )
    return {wanted[row.id]: row.name for row in rows}


def who_acted(reference: str, name: str | None, organisation_name: str | None) -> str:
    """The actor of an entry in words: a person's name, else what kind of actor it was (a log
    reference such as `person:<uuid>` is for the entry's own page, not the list)."""
    kind, _, ident = reference.partition(":")
    if name:
        return name
    if kind == "person":
        return "A person no longer in the hub"
    if kind == "client":
        return "A partner system" + (f" of {organisation_name}" if organisation_name else "")
    if kind == "system":
        return f"The hub itself ({ident.replace('-', ' ')})" if ident else "The hub itself"
    if kind == "anonymous":
        return "Someone not signed in"
    return kind.replace("_", " ").capitalize()


def agreement_text(label: links.AgreementLabel | None) -> str:
    """An agreement as a choice or cell reads: its reference and version (and title)."""
    if label is None:
        return "An agreement no longer in the hub"
    return f"{label.reference} v{label.version}: {label.title}"


def purposes_in_words() -> dict[str, str]:
    """The purposes the hub knows, code to words (given by the application: `HUB_PURPOSES`)."""
    known = current_app.config.get("HUB_PURPOSES", {})
    return dict(known) if isinstance(known, Mapping) else {code: code for code in known}


def purpose_words(code: str | None) -> str | None:
    """A recorded purpose in words (the code itself when the hub has no words for it)."""
    if code is None:
        return None
    return purposes_in_words().get(code, code)
