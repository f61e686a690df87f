"""API schemas for working groups, their actions and the regional dashboard (the meetings' are
in `hub.groups.meetings.schemas`).

Input schemas load to dicts that the services validate (with field-specific messages); output
schemas read the models.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.groups.actions import is_overdue
from hub.groups.models import ActionStatus, Cadence


class OrganisationRefSchema(Schema):
    """An organisation named in a group."""

    id = fields.UUID()
    name = fields.String()
    slug = fields.String()


class PersonRefSchema(Schema):
    """A member of staff named in a group (name and organisation only)."""

    id = fields.UUID()
    name = fields.String()
    organisation = fields.Function(lambda p: p.organisation.name)


class MembershipSchema(Schema):
    """An organisation's place in a group."""

    organisation = fields.Nested(OrganisationRefSchema)
    status = fields.Function(lambda m: m.status.value)
    invited_at = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)


class CoverageSchema(Schema):
    """Whether the group may hold case items now."""

    covered = fields.Boolean()
    agreement_id = fields.Function(lambda c: str(c.agreement.id) if c.agreement else None)
    reference = fields.Function(lambda c: c.agreement.reference if c.agreement else None)
    version = fields.Function(lambda c: c.agreement.version if c.agreement else None)
    state = fields.Function(lambda c: c.state.value if c.state else None)
    reason = fields.String()


class GroupSchema(Schema):
    """A working group."""

    id = fields.UUID()
    name = fields.String()
    region = fields.String()
    terms_of_reference = fields.String()
    cadence = fields.Function(lambda g: g.cadence.value)
    convenor = fields.Nested(PersonRefSchema)
    convening_org = fields.Nested(OrganisationRefSchema)
    agreement_id = fields.UUID(allow_none=True)


class GroupDetailSchema(GroupSchema):
    """A working group with its members, attendees and agreement coverage."""

    memberships = fields.List(fields.Nested(MembershipSchema))
    attendees = fields.List(fields.Nested(PersonRefSchema))
    coverage = fields.Nested(CoverageSchema)


class GroupCreateSchema(Schema):
    """What a coordinator sends to convene a group (or change one)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    region = fields.String(required=True, validate=validate.Length(min=1, max=100))
    terms_of_reference = fields.String(required=True, validate=validate.Length(min=1))
    cadence = fields.String(required=True, validate=validate.OneOf([c.value for c in Cadence]))
    agreement_id = fields.String(load_default="", validate=validate.Length(max=64))


class InvitationCreateSchema(Schema):
    """An organisation to invite."""

    organisation_id = fields.String(required=True, validate=validate.Length(max=64))


class InvitationAnswerSchema(Schema):
    """The invited organisation's answer."""

    answer = fields.String(required=True, validate=validate.OneOf(["accept", "decline"]))


class AttendeeCreateSchema(Schema):
    """A person to name as an attendee."""

    person_id = fields.String(required=True, validate=validate.Length(max=64))


class ConvenorSchema(Schema):
    """The new convenor."""

    convenor_id = fields.String(required=True, validate=validate.Length(max=64))


class ActionSchema(Schema):
    """An action."""

    id = fields.UUID()
    group_id = fields.UUID()
    meeting_id = fields.UUID(allow_none=True)
    title = fields.String()
    detail = fields.String()
    owner = fields.Nested(PersonRefSchema, attribute="owner_person")
    owner_org_id = fields.UUID()
    due_on = fields.Date()
    status = fields.Function(lambda a: a.status.value)
    overdue = fields.Function(lambda a: is_overdue(a))


class ActionCreateSchema(Schema):
    """An action agreed at a meeting."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    detail = fields.String(load_default="", validate=validate.Length(max=5000))
    owner_person_id = fields.String(required=True, validate=validate.Length(max=64))
    due_on = fields.String(required=True, validate=validate.Length(max=20))


class ActionUpdateSchema(Schema):
    """Progress on an action."""

    status = fields.String(required=True, validate=validate.OneOf([s.value for s in ActionStatus]))
    note = fields.String(load_default="", validate=validate.Length(max=5000))


class DashboardArgsSchema(Schema):
    """The dashboard's purpose and reporting year."""

    purpose = fields.String(load_default="")
    basis = fields.String(load_default="")
    year = fields.String(load_default="")


class DashboardSchema(Schema):
    """The regional dashboard's figures (only what the coordinator may see)."""

    region = fields.String()
    purpose = fields.String(
        allow_none=True,
        metadata={"description": "null until a purpose is chosen; then events and speakers show"},
    )
    agreements = fields.List(fields.Dict())
    designated_events = fields.List(fields.Dict(), allow_none=True)
    touring_speakers = fields.List(fields.Dict(), allow_none=True)
    advisory = fields.Dict()
    annual_return = fields.Dict()
