"""API schemas for working group meetings: scheduling, the agenda, attendance, minutes and
amendments, decisions and the feedback digest.

Input schemas load to dicts that the services validate (with field-specific messages); output
schemas read the models, and case items as `disclose()` gave them to the caller.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.groups.models import AttendanceStatus
from hub.groups.schemas import ActionSchema


class MeetingCreateSchema(Schema):
    """When and where a meeting is (times with an offset, or UK local times without one)."""

    starts_at = fields.String(required=True, validate=validate.Length(max=40))
    ends_at = fields.String(required=True, validate=validate.Length(max=40))
    location = fields.String(load_default="", validate=validate.Length(max=300))
    online_link = fields.String(load_default="", validate=validate.Length(max=2000))


class MeetingDecisionSchema(Schema):
    """A decision of a meeting."""

    id = fields.Integer()
    text = fields.String()
    concerns_org_id = fields.UUID(allow_none=True)
    agenda_item_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class AmendmentSchema(Schema):
    """A recorded amendment to approved minutes."""

    id = fields.Integer()
    text = fields.String()
    reason = fields.String()
    amended_at = fields.DateTime()


class MeetingSchema(Schema):
    """A meeting."""

    id = fields.UUID()
    group_id = fields.UUID()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    location = fields.String()
    online_link = fields.String()
    cancelled = fields.Function(lambda m: m.cancelled_at is not None)
    minutes_status = fields.Function(lambda m: m.minutes_status.value)


class MeetingDetailSchema(MeetingSchema):
    """A meeting with its agenda (case items as disclosed to the caller), attendance, minutes,
    amendments and decisions."""

    agenda = fields.List(
        fields.Dict(),
        metadata={
            "description": "Items with their case as disclosed to the caller: `case.state` is "
            "own, shared, existence_only, withheld or gone; `case.record` is absent unless "
            "disclosed."
        },
    )
    attendance = fields.List(
        fields.Dict(),
        metadata={"description": "Each expected person: person_id, name, organisation, status."},
    )
    minutes = fields.String()
    amendments = fields.List(fields.Nested(AmendmentSchema))
    decisions = fields.List(fields.Nested(MeetingDecisionSchema))


class AgendaItemCreateSchema(Schema):
    """An agenda item: a title, notes, and optionally a case ("speaker:<id>" or "event:<id>")."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    notes = fields.String(load_default="", validate=validate.Length(max=5000))
    case = fields.String(load_default="", validate=validate.Length(max=80))


class AttendanceSchema(Schema):
    """Attendance by person id."""

    attendance = fields.Dict(
        keys=fields.String(),
        values=fields.String(
            validate=validate.OneOf([s.value for s in AttendanceStatus if s.value != "invited"])
        ),
        required=True,
    )


class MinutesSchema(Schema):
    """The minutes' text."""

    minutes = fields.String(required=True, validate=validate.Length(min=1, max=50_000))


class MinutesStepSchema(Schema):
    """A step of the minutes: circulate or approve."""

    step = fields.String(required=True, validate=validate.OneOf(["circulate", "approve"]))


class AmendmentCreateSchema(Schema):
    """An amendment to approved minutes, and why."""

    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class MeetingDecisionCreateSchema(Schema):
    """A decision: its text, and whom it concerns (all members if no organisation)."""

    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    concerns_org_id = fields.String(load_default="", validate=validate.Length(max=64))
    agenda_item_id = fields.String(load_default="", validate=validate.Length(max=20))


class DigestSchema(Schema):
    """What a meeting decided and asked of the caller's organisation."""

    organisation = fields.Function(lambda d: d.organisation.name)
    decisions = fields.List(fields.Nested(MeetingDecisionSchema))
    actions = fields.List(fields.Nested(ActionSchema))
