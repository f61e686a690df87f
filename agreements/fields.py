"""The registry of shareable fields: every field a data schedule can name, and what it is.

Each field is labelled with the kinds of data it can carry (personal, special-category,
criminal-offence, opinion), so that an agreement's schedule shows what is at stake, and with
its shape (text, date, number, list...), which decides how it is masked or generalised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.StrEnum):
    """How much of a field a recipient gets."""

    FULL = "full"
    MASKED = "masked"
    PSEUDONYMISED = "pseudonymised"
    GENERALISED = "generalised"
    WITHHELD = "withheld"


#: The whole record type at this level: a hit says only that the owner holds a record and whom
#: to contact.
EXISTENCE_ONLY = "existence_only"

#: What each level is called and what it does, written once here beside the levels: the
#: agreement's pages and signed document show them to the parties, and a partner's record shows
#: them as the key to what the recipient sees. Lower case, no names and plain ASCII apart from
#: the words themselves: templates capitalise the first letter (and lower the rest) and the
#: PDF's font has no bullet.
LEVEL_LABELS = {
    Level.FULL.value: "Full",
    Level.MASKED.value: "Masked",
    Level.PSEUDONYMISED.value: "Pseudonymised",
    Level.GENERALISED.value: "Generalised",
    Level.WITHHELD.value: "Withheld",
    EXISTENCE_ONLY: "Existence only",
}
LEVEL_MEANINGS = {
    Level.FULL.value: "the value as recorded",
    Level.MASKED.value: (
        "initials only, each word cut to its first letter; a web address is not shown at all, "
        "not even its site"
    ),
    Level.PSEUDONYMISED.value: (
        "a code in place of the value: the same value gets the same code in every record "
        "shared under this agreement, so records can be matched without seeing it, and no "
        "other agreement gets the same code"
    ),
    Level.GENERALISED.value: "dates to their month, numbers to size bands (such as 101-250)",
    Level.WITHHELD.value: "never disclosed",
    EXISTENCE_ONLY: "a hit says only that the owner holds a record, and whom to contact",
}


class Shape(enum.StrEnum):
    """What kind of value a field holds (decides masking and generalising)."""

    TEXT = "text"  # free text or a name
    TEXT_LIST = "text_list"
    CODE = "code"  # a value from a fixed list (status, outcome...)
    DATE = "date"
    DATETIME = "datetime"
    NUMBER = "number"
    FLAG = "flag"
    URL_LIST = "url_list"
    REFERENCE_LIST = "reference_list"  # ids of other records


class Category(enum.StrEnum):
    """The kinds of data a field can carry."""

    PERSONAL = "personal"
    SPECIAL_CATEGORY = "special_category"
    CRIMINAL_OFFENCE = "criminal_offence"
    OPINION = "opinion"


P, S, C, OP = (
    Category.PERSONAL,
    Category.SPECIAL_CATEGORY,
    Category.CRIMINAL_OFFENCE,
    Category.OPINION,
)


@dataclass(frozen=True)
class FieldSpec:
    """One shareable field of one record type."""

    name: str
    label: str
    shape: Shape
    categories: frozenset[Category]
    # Which levels make sense for this shape (generalising free text means nothing).
    levels: frozenset[Level]


def _levels(shape: Shape) -> frozenset[Level]:
    always = {Level.FULL, Level.WITHHELD}
    if shape in {Shape.TEXT, Shape.TEXT_LIST, Shape.URL_LIST}:
        return frozenset(always | {Level.MASKED, Level.PSEUDONYMISED})
    if shape in {Shape.DATE, Shape.DATETIME, Shape.NUMBER}:
        return frozenset(always | {Level.GENERALISED})
    if shape == Shape.REFERENCE_LIST:
        return frozenset(always | {Level.PSEUDONYMISED})
    return frozenset(always)


def _f(name: str, label: str, shape: Shape, *categories: Category) -> FieldSpec:
    return FieldSpec(name, label, shape, frozenset(categories), _levels(shape))


RECORD_TYPES: dict[str, tuple[str, tuple[FieldSpec, ...]]] = {
    "speaker": (
        "Speaker",
        (
            _f("display_name", "Name", Shape.TEXT, P),
            _f("aliases", "Aliases and transliterations", Shape.TEXT_LIST, P),
            _f("affiliations", "Public affiliations and roles", Shape.TEXT_LIST, P, S, OP),
            _f("topics", "Topics", Shape.TEXT_LIST, P, S),
            _f("sources", "Public sources", Shape.URL_LIST, P),
            _f("appearances", "Past appearances (events)", Shape.REFERENCE_LIST, P),
        ),
    ),
    "assertion": (
        "Statement about a speaker",
        (
            _f("speaker", "Speaker", Shape.REFERENCE_LIST, P),
            _f("kind", "Fact or opinion", Shape.CODE),
            _f("text", "Statement", Shape.TEXT, P, S, C, OP),
            _f("source", "Source or evidence", Shape.TEXT, P),
            _f("source_url", "Source address", Shape.URL_LIST, P),
            _f("stated_on", "Date of the statement", Shape.DATE),
            _f("confidence", "Confidence", Shape.CODE, OP),
            _f("status", "Status", Shape.CODE),
            _f("special_category", "Special-category data flag", Shape.FLAG, S),
            _f("criminal_offence", "Criminal-offence data flag", Shape.FLAG, C),
            _f("review_by", "Review-by date", Shape.DATE),
        ),
    ),
    "event": (
        "Event",
        (
            _f("title", "Title", Shape.TEXT, P),
            _f("synopsis", "Synopsis", Shape.TEXT, P, OP),
            _f("organiser_type", "Organiser type", Shape.CODE),
            _f("organiser_name", "Organiser", Shape.TEXT, P),
            _f("tags", "Tags", Shape.TEXT_LIST),
            _f("starts_at", "Start", Shape.DATETIME),
            _f("ends_at", "End", Shape.DATETIME),
            _f("venue_kind", "Venue kind", Shape.CODE),
            _f("venue_place", "Venue", Shape.TEXT),
            _f("audience", "Audience", Shape.CODE),
            _f("expected_size", "Expected size", Shape.NUMBER),
            _f("branded_or_funded", "Branded or funded by the host", Shape.FLAG),
            _f("speakers", "Speakers", Shape.REFERENCE_LIST, P),
            _f("status", "Status", Shape.CODE),
            _f("outcome", "Outcome", Shape.CODE),
        ),
    ),
    "assessment": (
        "Risk assessment",
        (
            _f("event", "Event", Shape.REFERENCE_LIST),
            _f("rating", "Risk rating", Shape.CODE, OP),
            _f("likelihood", "Likelihood", Shape.NUMBER, OP),
            _f("impact", "Impact", Shape.NUMBER, OP),
            _f("triage", "Triage answers", Shape.TEXT_LIST, P, S, C, OP),
            _f("mitigations", "Mitigations", Shape.TEXT_LIST),
        ),
    ),
    "decision": (
        "Decision",
        (
            _f("event", "Event", Shape.REFERENCE_LIST),
            _f("outcome", "Outcome", Shape.CODE),
            _f("rationale", "Rationale", Shape.TEXT, P, OP),
            _f("conditions", "Conditions", Shape.TEXT),
            _f("reason_category", "Reason category", Shape.CODE),
            _f("lawful_speech_finding", "Finding on lawful speech", Shape.TEXT, P, OP),
            _f("decided_on", "Date of decision", Shape.DATE),
        ),
    ),
    "advisory_rating": (
        "Advisory rating",
        (
            _f("speaker", "Speaker", Shape.REFERENCE_LIST, P),
            _f("rating", "Rating", Shape.CODE, OP, C),
            _f("rationale", "Rationale", Shape.TEXT, P, OP, C),
            _f("issued_on", "Issued on", Shape.DATE),
            _f("expires_on", "Expires on", Shape.DATE),
        ),
    ),
}

FIELDS: dict[str, dict[str, FieldSpec]] = {
    record_type: {spec.name: spec for spec in specs}
    for record_type, (_label, specs) in RECORD_TYPES.items()
}

#: Fields that identify which record a search hit is about; a record found by name is only
#: returned if the schedule discloses the name field that matched (otherwise the hit itself
#: would reveal a withheld name).
NAME_FIELDS = {"speaker": ("display_name", "aliases")}


def record_type_label(record_type: str) -> str:
    """The human label of a record type."""
    return RECORD_TYPES[record_type][0]


def field_spec(record_type: str, field: str) -> FieldSpec:
    """The registry entry for a field, or KeyError."""
    return FIELDS[record_type][field]
