"""API schemas for advisory requests and the annual return."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from hub.records.advisory import returns
from hub.records.models import AdvisoryStatus, Rating


def _day(value: Any) -> str | None:
    """A disclosed date: ISO where given in full, the month where generalised."""
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


class AdvisoryRatingSchema(Schema):
    """The police team's answer, as the caller's side may see it: police in full; the
    institution that asked gets the rating and its dates, never the rationale; the
    coordinator what the police-to-coordinator agreement's schedule gives."""

    rating = fields.String(validate=validate.OneOf([r.value for r in Rating]))
    rationale = fields.String(
        allow_none=True,
        metadata={"description": "the police's reasons; null where they are not given to you"},
    )
    issued_on = fields.Function(
        lambda rating: _day(rating.issued_on), metadata={"type": "string", "nullable": True}
    )
    expires_on = fields.Function(
        lambda rating: _day(rating.expires_on), metadata={"type": "string", "nullable": True}
    )
    issuer_name = fields.String()
    basis = fields.String(
        metadata={
            "description": "why you see it: 'own', 'advisory_answer' or the agreement reference"
        }
    )


class AdvisoryRequestSchema(Schema):
    """An advisory request as the caller's side may see it.

    The coordinator and police see the speaker's name and aliases, the question and the
    event's title and start; `speaker_id`, `event_id` are given to the requester only, and
    `routing_note` to the coordinator and police only (null otherwise).
    """

    id = fields.String()
    side = fields.String(
        validate=validate.OneOf(["requester", "coordinator", "police"]),
        metadata={"description": "which party the caller is to this request"},
    )
    status = fields.String(validate=validate.OneOf([s.value for s in AdvisoryStatus]))
    overdue = fields.Boolean()
    due_on = fields.Date()
    submitted_at = fields.DateTime()
    requesting_org = fields.String()
    coordinator_org = fields.String()
    police_org = fields.String(allow_none=True)
    speaker_name = fields.String()
    speaker_aliases = fields.List(fields.String())
    question = fields.String()
    event_title = fields.String(allow_none=True)
    event_starts_at = fields.DateTime(allow_none=True)
    routing_note = fields.String(allow_none=True)
    routed_at = fields.DateTime(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    rating = fields.Nested(AdvisoryRatingSchema, allow_none=True)
    rating_withheld = fields.Boolean(
        metadata={"description": "answered, but no agreement in force gives you the rating"}
    )
    speaker_id = fields.String(allow_none=True)
    event_id = fields.String(allow_none=True)


class AdvisoryRequestCreateSchema(Schema):
    """What an institution sends to ask about one of its speakers."""

    speaker_id = fields.String(required=True, validate=validate.Length(max=64))
    event_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    question = fields.String(required=True, validate=validate.Length(max=2000))


class AdvisoryRouteSchema(Schema):
    """The coordinator's routing: which police Prevent team, and a note for it."""

    police_org_id = fields.String(required=True, validate=validate.Length(max=64))
    routing_note = fields.String(required=True, validate=validate.Length(max=2000))


class AdvisoryDeclineSchema(Schema):
    """The coordinator's reason for declining."""

    decline_reason = fields.String(required=True, validate=validate.Length(max=2000))


class AdvisoryAnswerSchema(Schema):
    """The police answer: a rating, a short rationale and an expiry date."""

    rating = fields.String(required=True, validate=validate.OneOf([r.value for r in Rating]))
    rationale = fields.String(required=True, validate=validate.Length(max=1000))
    expires_on = fields.Date(required=True, metadata={"example": "2027-03-31"})


class AnnualReturnArgsSchema(Schema):
    """Which year: `basis` academic (1 August to 31 July, the default) or calendar."""

    basis = fields.String(load_default=None, validate=validate.OneOf(list(returns.BASES)))
    year = fields.Integer(
        load_default=None,
        metadata={"description": "the year the period starts in (2025 = 2025/26 academic)"},
    )


class AnnualReturnSchema(Schema):
    """Events decided in the period: for an institution, or summed over a coordinator's region
    (counts are null when the region has too few institutions to show them)."""

    scope = fields.String(validate=validate.OneOf(["institution", "region"]))
    name = fields.String()
    basis = fields.String(attribute="period.basis")
    period = fields.String(attribute="period.label")
    period_start = fields.Date(attribute="period.start")
    period_end = fields.Function(lambda r: r.period.description)
    institutions = fields.Integer()
    suppressed = fields.Boolean()
    approved = fields.Function(lambda r: None if r.suppressed else r.approved)
    approved_with_conditions = fields.Function(
        lambda r: None if r.suppressed else r.approved_with_conditions
    )
    rejected = fields.Function(lambda r: None if r.suppressed else dict(r.rejected))
    rejected_no_reason_recorded = fields.Function(
        lambda r: None if r.suppressed else r.rejected_unrecorded
    )
    rejected_total = fields.Function(lambda r: None if r.suppressed else r.rejected_total)
    postponed = fields.Function(lambda r: None if r.suppressed else r.postponed)
