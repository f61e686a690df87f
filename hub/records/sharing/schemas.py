"""API schemas for partners' records as disclosed under agreements, and the search over them.

A disclosed record's fields depend on the agreement's data schedule, so they travel in `data`
(only the fields the schedule gives, each at its level); `disclosed_under` names the agreement.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from agreements.purposes import PURPOSES

PURPOSE_DESCRIPTION = (
    "Why the caller needs the data: one of the purposes the hub knows ("
    + ", ".join(sorted(PURPOSES))
    + "). Every disclosure is audited against it. The `Hub-Purpose` header, when sent, wins."
)


class DisclosedUnderSchema(Schema):
    """The agreement a record was disclosed under."""

    agreement_id = fields.String()
    reference = fields.String()
    version = fields.Integer()


class DisclosedRecordSchema(Schema):
    """A partner's record, minimised by its agreement's data schedule (or, for the caller's
    own records, complete, with `disclosed_under` null)."""

    record_type = fields.String(
        metadata={"enum": ["speaker", "assertion", "event", "decision", "advisory_rating"]}
    )
    id = fields.String()
    owner_org_id = fields.String()
    existence_only = fields.Boolean(
        metadata={"description": "Only that the record exists: `data` holds owner and contact"}
    )
    data = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        metadata={
            "description": "The fields the schedule gives, at their levels: masked text keeps "
            "initials followed by '•••' and a masked web address is '•••' alone (nothing of it, "
            "not even its host); pseudonymised values start with 'psn:' (equal values, equal "
            "pseudonyms, within one agreement); generalised dates are YYYY-MM and sizes are "
            "bands. A field the schedule withholds is absent."
        },
    )
    disclosed_under = fields.Nested(DisclosedUnderSchema, allow_none=True)


class SharedSearchArgsSchema(Schema):
    """Search query: a name, the purpose, and a page."""

    q = fields.String(load_default="", validate=validate.Length(max=200))
    purpose = fields.String(
        load_default=None, allow_none=True, metadata={"description": PURPOSE_DESCRIPTION}
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))


class PurposeArgsSchema(Schema):
    """The purpose of reading one partner record."""

    purpose = fields.String(
        load_default=None, allow_none=True, metadata={"description": PURPOSE_DESCRIPTION}
    )


class PurposeHeaderSchema(Schema):
    """The purpose as a request header (wins over the query parameter)."""

    hub_purpose = fields.String(
        data_key="Hub-Purpose", load_default=None, metadata={"description": PURPOSE_DESCRIPTION}
    )


class SharedSearchResultSchema(Schema):
    """One speaker found: the caller's own, or a partner's as its agreement discloses it."""

    id = fields.String(attribute="speaker_id")
    owner_org_id = fields.String()
    owner = fields.String(attribute="owner_name")
    rank = fields.Integer(metadata={"description": "place in the whole result list, best first"})
    score = fields.Float(
        allow_none=True,
        metadata={
            "description": "name similarity, for your own records only (null on a partner's: "
            "it would be computed against names you may not see)"
        },
    )
    own = fields.Boolean()
    existence_only = fields.Boolean()
    data = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    disclosed_under = fields.Nested(DisclosedUnderSchema, allow_none=True)


class SharedSearchSchema(Schema):
    """A page of results; `total` counts only what the caller may see."""

    total = fields.Integer()
    purpose = fields.String()
    results = fields.List(fields.Nested(SharedSearchResultSchema))


class ContactSchema(Schema):
    """Whom to ask about a partner's record at the organisation that holds it."""

    organisation = fields.String()
    agreement_reference = fields.String(
        metadata={"description": "The agreement the record was shared under"}
    )
    designated_person = fields.String(
        metadata={"description": "The holder's designated person, as that agreement names them"}
    )
    dp_contact_name = fields.String(
        metadata={"description": "The holder's data protection contact"}
    )
    dp_contact_email = fields.String()


class SharedSpeakerSchema(Schema):
    """A partner's speaker with the statements, ratings and appearances disclosed with it."""

    speaker = fields.Nested(DisclosedRecordSchema)
    owner = fields.String(attribute="owner_name")
    statements = fields.List(fields.Nested(DisclosedRecordSchema), attribute="assertions")
    ratings = fields.List(fields.Nested(DisclosedRecordSchema))
    appearances = fields.List(fields.Nested(DisclosedRecordSchema))
    contact = fields.Nested(ContactSchema, allow_none=True)


class SharedEventSchema(Schema):
    """A partner's event with its disclosed standing decision."""

    event = fields.Nested(DisclosedRecordSchema)
    owner = fields.String(attribute="owner_name")
    decisions = fields.List(fields.Nested(DisclosedRecordSchema))
    contact = fields.Nested(ContactSchema, allow_none=True)
