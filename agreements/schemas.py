"""API schemas for data-sharing agreements, their data schedules, statistics and the Article 30
record of processing.

Input schemas check only the shape (types, no unknown fields) and load to dicts: the lifecycle
services validate the values with specific messages, the same ones the pages show (keys such as
`parties.1.signatory_id` or `data_schedule.0`).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from agreements.content import SECTIONS
from agreements.fields import EXISTENCE_ONLY, RECORD_TYPES, Level
from agreements.models import AgreementStatus, AgreementType, EffectiveState, PartyRole
from agreements.purposes import PURPOSES

SCHEDULE_DESCRIPTION = (
    "The data schedule, by provider then recipient: "
    '`{provider_org_id: {recipient_org_id: {record_type: {field: level} | "existence_only"}}}`. '
    "For each recipient, each record type the provider gives it maps either to the string "
    f'"{EXISTENCE_ONLY}" (a hit says only that the provider holds a record, and whom to contact) '
    "or to an object of field name -> level, one of "
    f"{', '.join(level.value for level in Level if level != Level.WITHHELD)}. A field that is "
    "not listed is withheld; a record type that is not listed is not shared in that direction. "
    f"Record types: {', '.join(RECORD_TYPES)}. The fields of each are in the hub's registry of "
    "shareable fields."
)

SCHEDULE_EXAMPLE = {
    "3f1c0a52-6d0e-4c1e-9a51-0c8f7b6a1e01": {
        "a7d3e9b4-2c55-4f0b-8b8e-5e2d9c4f7a10": {
            "speaker": {"display_name": "full", "aliases": "masked", "topics": "pseudonymised"},
            "assessment": EXISTENCE_ONLY,
        }
    }
}


def _choice(values: Any, description: str, **kwargs: Any) -> fields.String:
    # Documented as an enum, validated by the service (for its specific message).
    return fields.String(
        metadata={"enum": [getattr(v, "value", v) for v in values], "description": description},
        **kwargs,
    )


# --- output -----------------------------------------------------------------------------


class PartySummarySchema(Schema):
    """An organisation party to an agreement and its role."""

    organisation_id = fields.UUID()
    organisation = fields.String(metadata={"description": "The organisation's name"})
    role = fields.Enum(PartyRole, by_value=True)


class PartySchema(PartySummarySchema):
    """A party with its designated person, signatory and approval of the current content."""

    designated_person = fields.String()
    signatory_id = fields.UUID()
    signatory = fields.String(metadata={"description": "The named signatory's name"})
    approved = fields.Boolean(
        metadata={"description": "Whether this party approved the current content hash"}
    )
    approved_at = fields.DateTime(allow_none=True)
    approved_by_id = fields.UUID(allow_none=True)


class AgreementSummarySchema(Schema):
    """An agreement version in the register."""

    id = fields.UUID()
    lineage_id = fields.UUID(
        metadata={"description": "Shared by every version (amendment) of one agreement"}
    )
    reference = fields.String()
    version = fields.Integer()
    title = fields.String()
    type = fields.Enum(AgreementType, by_value=True)
    status = fields.Enum(
        AgreementStatus, by_value=True, metadata={"description": "The stored lifecycle state"}
    )
    state = fields.Enum(
        EffectiveState,
        by_value=True,
        metadata={
            "description": "What the agreement means now: an approved agreement is active only "
            "between its start and end (no job is needed for it to expire)"
        },
    )
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    review_on = fields.Date()
    review_due = fields.Boolean(
        metadata={"description": "In force, with its review or end date within 30 days"}
    )
    purposes = fields.List(_choice(PURPOSES, "A purpose the agreement allows"))
    parties = fields.List(fields.Nested(PartySummarySchema))
    content_hash = fields.String(
        allow_none=True,
        metadata={"description": "SHA-256 (hex) of the canonical content, fixed when proposed"},
    )


class ChangeSchema(Schema):
    """An entry of the agreement's change log."""

    changed_at = fields.DateTime()
    changed_by_id = fields.UUID(allow_none=True)
    summary = fields.String()


class LawfulBasisSchema(Schema):
    """UK GDPR Article 6 (always, unless police rely on Part 3 alone); Article 9 with a DPA 2018
    Schedule 1 condition for special-category data; Article 10 for criminal-offence data; DPA
    2018 Part 3 where police provide data."""

    article_6 = fields.String()
    article_9 = fields.String()
    schedule_1 = fields.String()
    article_10 = fields.String()
    dpa_part_3 = fields.String()


class LinksSchema(Schema):
    """Where to fetch the agreement's page and signed copies."""

    page = fields.String()
    signed = fields.String(allow_none=True)
    document_html = fields.String(allow_none=True)
    document_pdf = fields.String(allow_none=True)


_SECTION_FIELDS = {
    key: fields.String(metadata={"description": f"The ICO section: {label}"})
    for key, label in SECTIONS.items()
}

AgreementSchema = AgreementSummarySchema.from_dict(
    {
        "parties": fields.List(fields.Nested(PartySchema)),
        "lawful_basis": fields.Nested(LawfulBasisSchema),
        **_SECTION_FIELDS,
        "data_schedule": fields.Dict(
            keys=fields.String(),
            values=fields.Dict(
                keys=fields.String(),
                values=fields.Dict(keys=fields.String(), values=fields.Raw()),
            ),
            metadata={"description": SCHEDULE_DESCRIPTION, "example": SCHEDULE_EXAMPLE},
        ),
        "proposed_at": fields.DateTime(allow_none=True),
        "approved_at": fields.DateTime(allow_none=True),
        "signed": fields.Boolean(
            metadata={"description": "Whether the hub has signed it (every party approved)"}
        ),
        "suspended_at": fields.DateTime(allow_none=True),
        "suspension_reason": fields.String(),
        "terminated_at": fields.DateTime(allow_none=True),
        "termination_reason": fields.String(),
        "changes": fields.List(fields.Nested(ChangeSchema)),
        "links": fields.Nested(LinksSchema),
    },
    name="Agreement",
)
AgreementSchema.__doc__ = (
    "Everything an agreement version records (the ICO code's list), its parties' approvals, "
    "its data schedule and change log."
)


class SignedAgreementSchema(Schema):
    """The signed agreement: content, its hash and the hub's Ed25519 signed note. Check it
    offline with `flask --app wsgi agreements verify FILE` against /api/v1/audit/verifier-key."""

    format = fields.String()
    reference = fields.String()
    version = fields.Integer()
    content = fields.Dict()
    content_hash = fields.String()
    signed_note = fields.String()


class CountSchema(Schema):
    """A label and a count."""

    label = fields.String()
    count = fields.Integer()


class StatisticsSchema(Schema):
    """Disclosures under one agreement version, from the audit log (counts only), and refusals
    between its providers and recipients since its approval."""

    total = fields.Integer()
    existence_only = fields.Integer()
    by_recipient = fields.List(fields.Nested(CountSchema))
    by_record_type = fields.List(fields.Nested(CountSchema))
    by_month = fields.List(fields.Nested(CountSchema), metadata={"description": "UTC months"})
    refusals = fields.Integer()
    refusals_by_reason = fields.List(fields.Nested(CountSchema))


class ProcessingPartySchema(Schema):
    """A party, as the record of processing names it."""

    organisation = fields.String()
    organisation_id = fields.UUID()
    role = fields.String()


class ProcessingPurposeSchema(Schema):
    """A purpose code and what it means."""

    code = fields.String()
    description = fields.String()


class ProcessingRecordSchema(Schema):
    """One agreement in the organisation's record of processing (UK GDPR Article 30)."""

    agreement_id = fields.UUID()
    reference = fields.String()
    version = fields.Integer()
    title = fields.String()
    state = fields.String()
    our_role = fields.String()
    parties = fields.List(fields.Nested(ProcessingPartySchema))
    purposes = fields.List(fields.Nested(ProcessingPurposeSchema))
    categories_of_individuals = fields.String()
    categories_of_data = fields.List(fields.String())
    record_types_disclosed = fields.List(fields.String())
    recipients = fields.List(fields.String())
    record_types_received = fields.List(fields.String())
    received_from = fields.List(fields.String())
    retention = fields.String()
    security_measures = fields.String()
    lawful_basis = fields.Dict(keys=fields.String(), values=fields.String())
    statutory_power = fields.String()
    dpia_reference = fields.String()
    starts_at = fields.String()
    ends_at = fields.String()
    review_on = fields.String()


# --- input ------------------------------------------------------------------------------


class PartyInputSchema(Schema):
    """A party to name in a draft."""

    organisation_id = fields.String(metadata={"format": "uuid"})
    role = _choice(PartyRole, "The party's role under data protection law")
    designated_person = fields.String(metadata={"description": "The named contact"})
    signatory_id = fields.String(
        metadata={"format": "uuid", "description": "A person with the signatory role there"}
    )


class ScheduleEntryInputSchema(Schema):
    """What one party gives another of one record type: `level: existence_only`, or `fields`
    mapping field names to levels (fields not named are withheld)."""

    provider = fields.String(metadata={"format": "uuid"})
    recipient = fields.String(metadata={"format": "uuid"})
    record_type = _choice(RECORD_TYPES, "The record type")
    level = _choice([EXISTENCE_ONLY], "Give the whole record type at existence level only")
    fields = fields.Dict(
        keys=fields.String(),
        values=_choice([level for level in Level], "The field's level"),
    )


class LawfulBasisInputSchema(Schema):
    """The lawful basis texts (see the Agreement schema for which are needed when)."""

    article_6 = fields.String()
    article_9 = fields.String()
    schedule_1 = fields.String()
    article_10 = fields.String()
    dpa_part_3 = fields.String()


AgreementInputSchema = Schema.from_dict(
    {
        "reference": fields.String(metadata={"description": "Unique; cannot change later"}),
        "title": fields.String(),
        "type": _choice(AgreementType, "The type of agreement"),
        "parties": fields.List(fields.Nested(PartyInputSchema)),
        "purposes": fields.List(_choice(PURPOSES, "A purpose")),
        "lawful_basis": fields.Nested(LawfulBasisInputSchema),
        **{
            key: fields.String(metadata={"description": f"The ICO section: {label}"})
            for key, label in SECTIONS.items()
        },
        "starts_at": fields.String(
            metadata={"format": "date-time", "description": "With an offset, or UK local time"}
        ),
        "ends_at": fields.String(
            metadata={"format": "date-time", "description": "With an offset, or UK local time"}
        ),
        "review_on": fields.String(metadata={"format": "date"}),
        "data_schedule": fields.List(fields.Nested(ScheduleEntryInputSchema)),
    },
    name="AgreementInput",
)
AgreementInputSchema.__doc__ = "A draft agreement: everything the ICO code asks it to record."

AgreementUpdateSchema = Schema.from_dict(
    {k: v for k, v in AgreementInputSchema._declared_fields.items() if k != "reference"},
    name="AgreementUpdate",
)
AgreementUpdateSchema.__doc__ = "A draft's new content (the reference stays as it is)."


class ReasonSchema(Schema):
    """Why the agreement is suspended or terminated (no personal details)."""

    reason = fields.String(required=True)
