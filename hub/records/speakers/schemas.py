"""API schemas for speakers, their assertions, advisory ratings, appearances and search.

Input schemas check only the shape (types, no unknown fields) and load to dicts: the services
validate the values with specific messages, the same ones the pages show.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from hub.records.models import (
    AliasKind,
    AssertionKind,
    AssertionStatus,
    Confidence,
    Distribution,
    EventStatus,
    Outcome,
    Rating,
    RecordStatus,
    SpeakerRole,
)


def _enum(enum_cls: Any, **kwargs: Any) -> fields.Enum:
    return fields.Enum(enum_cls, by_value=True, **kwargs)


def _choice(enum_cls: Any, description: str, **kwargs: Any) -> fields.String:
    # Documented as an enum, validated by the service (for its specific message).
    return fields.String(
        metadata={"enum": [m.value for m in enum_cls], "description": description}, **kwargs
    )


def _day(description: str, **kwargs: Any) -> fields.String:
    # A calendar date as text (YYYY-MM-DD), read by the service for its specific message.
    return fields.String(metadata={"format": "date", "description": description}, **kwargs)


# --- output -----------------------------------------------------------------------------


class AliasSchema(Schema):
    """Another name the speaker is known by."""

    name = fields.String()
    kind = _enum(AliasKind)


class AffiliationSchema(Schema):
    """A public affiliation or role."""

    organisation_name = fields.String()
    role = fields.String()


class SourceSchema(Schema):
    """A public source, with the date it was read."""

    url = fields.String()
    title = fields.String()
    retrieved_on = fields.Date()


class SpeakerSummarySchema(Schema):
    """A speaker in a list."""

    id = fields.UUID()
    display_name = fields.String()
    status = _enum(RecordStatus)
    distribution = _enum(Distribution)
    retention_until = fields.Date()


class SpeakerSchema(SpeakerSummarySchema):
    """A speaker record of the caller's organisation, with provenance."""

    owner_org_id = fields.UUID()
    aliases = fields.List(fields.Nested(AliasSchema))
    affiliations = fields.List(fields.Nested(AffiliationSchema))
    sources = fields.List(fields.Nested(SourceSchema))
    topics = fields.Function(lambda speaker: [t.topic for t in speaker.topics])
    merged_into_id = fields.UUID(allow_none=True)
    created_by_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SpeakerUpdatedSchema(SpeakerSchema):
    """A speaker record as a change leaves it, with what changed and whom the correction
    reached."""

    changed = fields.List(
        fields.String(),
        metadata={
            "description": "The fields this change altered (names only).",
            "example": ["display_name", "aliases"],
        },
    )
    organisations_told = fields.Integer(
        metadata={
            "description": "How many partner organisations that had received a changed field "
            "were told which fields changed (never the values): in their inbox, and by the "
            "`speaker.corrected` webhook."
        }
    )


class SpeakerMatchSchema(Schema):
    """A search result: the speaker, the name that matched, and how well (1 = identical)."""

    speaker_id = fields.UUID()
    display_name = fields.String()
    matched_name = fields.String()
    score = fields.Float()
    source = fields.String(metadata={"description": "`own`: the caller's organisation."})


class DuplicateMatchSchema(SpeakerMatchSchema):
    """An existing record a new speaker is probably the same person as."""

    for_name = fields.String(metadata={"description": "The new name this record is like."})


class DuplicatesProblemSchema(Schema):
    """409: likely existing records of the same person; nothing was created."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    duplicates = fields.List(fields.Nested(DuplicateMatchSchema))


class RevisionSchema(Schema):
    """One version of a statement: what it said, its status, who changed it and why."""

    version = fields.Integer()
    status = _enum(AssertionStatus)
    text = fields.String()
    reason = fields.String()
    changed_by_id = fields.UUID(allow_none=True)
    changed_at = fields.DateTime()


class AssertionSchema(Schema):
    """A statement about a speaker, with its provenance and history."""

    id = fields.UUID()
    speaker_id = fields.UUID()
    owner_org_id = fields.UUID()
    distribution = _enum(Distribution)
    kind = _enum(AssertionKind, metadata={"description": "Fact or opinion."})
    text = fields.String()
    source = fields.String()
    source_url = fields.String(allow_none=True)
    stated_on = fields.Date()
    confidence = _enum(Confidence)
    special_category = fields.Boolean()
    criminal_offence = fields.Boolean()
    review_by = fields.Date()
    status = _enum(AssertionStatus)
    version = fields.Integer()
    created_by_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    revisions = fields.List(fields.Nested(RevisionSchema))


class RatingSchema(Schema):
    """An advisory rating on the speaker, with its issuer and whether it has expired."""

    id = fields.UUID()
    issuer_org_id = fields.UUID()
    issuer_name = fields.String()
    rating = _enum(Rating)
    rationale = fields.String(
        allow_none=True,
        metadata={
            "description": "the issuer's reasons: null on a police answer to your request, "
            "whose reasons stay with the police"
        },
    )
    issued_on = fields.Date()
    expires_on = fields.Date()
    expired = fields.Boolean()
    basis = fields.String(metadata={"description": "'own' or 'advisory_answer'"})


class AppearanceSchema(Schema):
    """An appearance at one of the organisation's events, with the event's outcome."""

    event_id = fields.UUID()
    title = fields.String()
    starts_at = fields.DateTime()
    role = _enum(SpeakerRole)
    status = _enum(EventStatus)
    outcome = _enum(Outcome, allow_none=True)


class MergeResultSchema(Schema):
    """What a merge did."""

    kept_id = fields.UUID()
    merged_id = fields.UUID()
    moved = fields.Dict(keys=fields.String(), values=fields.Integer())
    combined = fields.Dict(keys=fields.String(), values=fields.Integer())


# --- input ------------------------------------------------------------------------------


class SpeakerQueryArgsSchema(Schema):
    """List the organisation's speakers, or search them by name when `q` is given."""

    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "A name or alias; misspelt, transliterated or reordered."},
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class DuplicateArgsSchema(Schema):
    """A would-be new speaker's names, to look for existing records of the same person."""

    display_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    aliases = fields.List(fields.String(validate=validate.Length(max=200)), load_default=list)


class SpeakerInputSchema(Schema):
    """A speaker's fields (on update, only those given change)."""

    display_name = fields.String(metadata={"description": "The name the speaker uses."})
    aliases = fields.List(
        fields.Raw(),
        metadata={
            "description": "Other names: strings, or {name, kind} with kind one of "
            + ", ".join(k.value for k in AliasKind)
        },
    )
    affiliations = fields.List(
        fields.Dict(), metadata={"description": "{organisation_name, role}: public roles."}
    )
    sources = fields.List(
        fields.Dict(),
        metadata={"description": "{url, title, retrieved_on}: retrieved_on not in the future."},
    )
    topics = fields.List(fields.String())
    distribution = _choice(Distribution, "Internal, or shareable under agreements.")
    retention_until = _day("Keep the record until this date (default: six years).")


class SpeakerCreateSchema(SpeakerInputSchema):
    """What a new speaker record needs (the name; everything else is optional)."""

    display_name = fields.String(required=True, metadata={"description": "The speaker's name."})
    confirm_new = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The caller has seen the likely existing records (the 409 answer) "
            "and this is a new person: create the record anyway."
        },
    )


class MergeInputSchema(Schema):
    """Merge another record of the same person into this one."""

    merge_id = fields.String(
        required=True, metadata={"description": "The record to merge into this one."}
    )
    reason = fields.String(
        required=True, metadata={"description": "Why the two records are the same person."}
    )


class AssertionInputSchema(Schema):
    """A statement about the speaker."""

    kind = _choice(AssertionKind, "Fact or opinion.", required=True)
    text = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "Where it comes from."})
    source_url = fields.String(allow_none=True)
    stated_on = _day("When the statement was made (not in the future).", required=True)
    confidence = _choice(Confidence, "How confident the recorder is.", required=True)
    special_category = fields.Boolean(load_default=False)
    criminal_offence = fields.Boolean(load_default=False)
    review_by = _day("After stated_on, in the future, at most 3 years from today.", required=True)
    distribution = _choice(Distribution, "Default: internal if flagged, else the speaker's.")


class AssertionUpdateSchema(Schema):
    """A statement's confidence, flags, review date or distribution (not its text)."""

    confidence = _choice(Confidence, "How confident the recorder is.")
    special_category = fields.Boolean()
    criminal_offence = fields.Boolean()
    review_by = _day("After stated_on, in the future, at most 3 years from today.")
    distribution = _choice(Distribution, "Internal, or shareable under agreements.")


class AssertionStatusSchema(Schema):
    """Dispute, reinstate or withdraw a statement, with a reason."""

    status = _choice(AssertionStatus, "disputed, active or withdrawn.", required=True)
    reason = fields.String(required=True)


class AssertionCorrectionSchema(Schema):
    """The corrected text of a statement, with a reason."""

    text = fields.String(required=True)
    reason = fields.String(required=True)
