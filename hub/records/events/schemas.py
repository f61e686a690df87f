"""API schemas for events, risk assessments, decisions and appeals.

Input schemas check only the shape (types, no unknown fields) and load to dicts: the services
validate the values with specific messages, the same ones the pages show.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from hub.records.events import services as events
from hub.records.models import (
    AppealOutcome,
    Audience,
    ConditionsHeld,
    Distribution,
    EventStatus,
    MitigationStatus,
    MitigationType,
    OrganiserType,
    Outcome,
    ReasonCategory,
    RiskRating,
    SpeakerRole,
    StageStatus,
    TriageQuestion,
    TriageResponse,
    VenueKind,
)


def _enum(enum_cls: Any, **kwargs: Any) -> fields.Enum:
    return fields.Enum(enum_cls, by_value=True, **kwargs)


def _choice(enum_cls: Any, description: str) -> fields.String:
    # Documented as an enum, validated by the service (for its specific message).
    return fields.String(metadata={"enum": [m.value for m in enum_cls], "description": description})


# --- output -----------------------------------------------------------------------------


class EventSpeakerSchema(Schema):
    """A speaker appearing at an event."""

    speaker_id = fields.UUID()
    display_name = fields.Function(lambda link: link.speaker.display_name)
    role = _enum(SpeakerRole)


class StatusChangeSchema(Schema):
    """One step of an event's status, with who took it and when."""

    from_status = _enum(EventStatus, allow_none=True)
    to_status = _enum(EventStatus)
    changed_by_id = fields.UUID(allow_none=True)
    changed_at = fields.DateTime()
    note = fields.String()


class EventSchema(Schema):
    """An event hosted by the caller's organisation."""

    id = fields.UUID()
    owner_org_id = fields.UUID(metadata={"description": "The host organisation."})
    distribution = _enum(Distribution)
    organiser_type = _enum(OrganiserType)
    organiser_name = fields.String()
    title = fields.String()
    synopsis = fields.String()
    tags = fields.List(fields.String())
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    venue_kind = _enum(VenueKind)
    venue_place = fields.String()
    branded_or_funded = fields.Boolean()
    audience = _enum(Audience)
    expected_size = fields.Integer()
    chair_name = fields.String()
    recorded = fields.Boolean()
    streamed = fields.Boolean()
    status = _enum(EventStatus)
    outcome = _enum(Outcome, allow_none=True)
    designated = fields.Boolean()
    senior_officer_id = fields.UUID(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    lead_time_days = fields.Function(
        lambda e: events.lead_time(e).days,
        metadata={"description": "Days from submission (or from now, before it) to the start."},
    )
    short_lead_time = fields.Function(
        lambda e: events.lead_time(e).short,
        metadata={"description": f"Fewer than {events.SHORT_LEAD_TIME_DAYS} days."},
    )
    retention_until = fields.Date()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    speakers = fields.List(fields.Nested(EventSpeakerSchema))


class TriageAnswerSchema(Schema):
    """One triage question's answer."""

    question = _enum(TriageQuestion)
    answer = _enum(TriageResponse)
    detail = fields.String()


class MitigationSchema(Schema):
    """A mitigation of a given type, with an owner and a status."""

    id = fields.Integer()
    type = _enum(MitigationType)
    description = fields.String()
    owner_name = fields.String()
    status = _enum(MitigationStatus)


class AssessmentSchema(Schema):
    """An event's risk assessment, stage by stage."""

    self_assessment = _enum(StageStatus)
    self_assessed_by_id = fields.UUID(allow_none=True)
    self_assessed_at = fields.DateTime(allow_none=True)
    answers = fields.List(fields.Nested(TriageAnswerSchema))
    local_review = _enum(StageStatus)
    likelihood = fields.Integer(allow_none=True)
    impact = fields.Integer(allow_none=True)
    rating = _enum(RiskRating, allow_none=True)
    review_notes = fields.String()
    reviewed_by_id = fields.UUID(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)
    escalation = _enum(StageStatus)
    escalation_reason = fields.String()
    escalated_by_id = fields.UUID(allow_none=True)
    escalated_at = fields.DateTime(allow_none=True)
    mitigations = fields.List(fields.Nested(MitigationSchema))


class AppealSchema(Schema):
    """An appeal against a decision, with its deadline and outcome."""

    id = fields.Integer()
    decision_id = fields.UUID()
    grounds = fields.String()
    lodged_by_id = fields.UUID(allow_none=True)
    lodged_at = fields.DateTime()
    deadline = fields.Date()
    outcome = _enum(AppealOutcome)
    rationale = fields.String()
    decided_by_id = fields.UUID(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class ConsideredSchema(Schema):
    """For a rejection: a mitigation considered and why it was not enough."""

    type = _choice(MitigationType, "The kind of mitigation.")
    why_insufficient = fields.String()


class DecisionSchema(Schema):
    """A decision on an event (a rejection carries the freedom-of-speech guardrail)."""

    id = fields.UUID()
    event_id = fields.UUID()
    outcome = _enum(Outcome)
    rationale = fields.String()
    conditions = fields.String()
    reason_category = _enum(ReasonCategory, allow_none=True)
    lawful_speech_finding = fields.String()
    mitigations_considered = fields.List(fields.Nested(ConsideredSchema), attribute="considered")
    decided_by_id = fields.UUID(allow_none=True)
    decided_on = fields.Date()
    decided_at = fields.DateTime()
    superseded_by_appeal = fields.Boolean()
    appeals = fields.List(fields.Nested(AppealSchema))


class ReportSchema(Schema):
    """The post-event report."""

    conditions_held = _enum(ConditionsHeld)
    incidents = fields.String()
    reported_by_id = fields.UUID(allow_none=True)
    reported_at = fields.DateTime()


class EventDetailSchema(EventSchema):
    """An event with its history, assessment, decisions and report."""

    history = fields.Function(
        lambda e: StatusChangeSchema(many=True).dump(events.history(e)),
        metadata={"description": "Status changes, oldest first."},
    )
    assessment = fields.Nested(AssessmentSchema, allow_none=True)
    decisions = fields.List(fields.Nested(DecisionSchema))
    report = fields.Nested(ReportSchema, allow_none=True)


class PersonChoiceSchema(Schema):
    """A person who can be named senior officer."""

    id = fields.UUID()
    name = fields.String()


# --- input ------------------------------------------------------------------------------


class EventArgsSchema(Schema):
    """Filters for the list of events."""

    status = _choice(EventStatus, "Only events with this status.")


class EventInputSchema(Schema):
    """An event's fields as an organiser sends them (all are checked by the service)."""

    organiser_type = _choice(OrganiserType, "Who organises the event.")
    organiser_name = fields.String(metadata={"description": "The society, department or hirer."})
    title = fields.String()
    synopsis = fields.String()
    tags = fields.List(fields.String())
    starts_at = fields.String(
        metadata={
            "format": "date-time",
            "description": "ISO 8601; without an offset it is UK local time.",
        }
    )
    ends_at = fields.String(metadata={"format": "date-time", "description": "After the start."})
    venue_kind = _choice(VenueKind, "Where it happens.")
    venue_place = fields.String()
    branded_or_funded = fields.Boolean()
    audience = _choice(Audience, "Who may attend.")
    expected_size = fields.Integer(metadata={"minimum": 0, "maximum": events.MAX_EXPECTED_SIZE})
    chair_name = fields.String()
    recorded = fields.Boolean()
    streamed = fields.Boolean()
    distribution = _choice(Distribution, "Whether it may be shared under agreements.")
    retention_until = fields.String(metadata={"format": "date"})
    speaker_ids = fields.List(
        fields.String(), metadata={"description": "Speakers of the organisation's records."}
    )
    new_speakers = fields.List(
        fields.String(), metadata={"description": "Names of speakers to add to the records."}
    )
    confirm_new_speakers = fields.List(
        fields.String(),
        metadata={
            "description": "Names among new_speakers that the caller confirms are new people, "
            "having seen the likely existing records (the 409 answer): created anyway."
        },
    )


class StatusInputSchema(Schema):
    """A status change: submitted, under_review or withdrawn (escalation and decisions have
    their own endpoints)."""

    status = _choice(EventStatus, "The new status.")
    note = fields.String()


def _self_assessment_fields() -> dict[str, fields.Field]:
    declared: dict[str, fields.Field] = {}
    for question in TriageQuestion:
        declared[question.value] = _choice(TriageResponse, f"Triage: {question.value}.")
        declared[f"{question.value}_detail"] = fields.String(
            metadata={"description": "Required when the answer is yes or unsure."}
        )
    return declared


SelfAssessmentInputSchema = Schema.from_dict(
    _self_assessment_fields(), name="SelfAssessmentInputSchema"
)
SelfAssessmentInputSchema.__doc__ = "Every triage question answered yes, no or unsure."


class LocalReviewInputSchema(Schema):
    """The Prevent lead's review: likelihood and impact 1-5, and notes."""

    likelihood = fields.Integer(metadata={"minimum": 1, "maximum": 5})
    impact = fields.Integer(metadata={"minimum": 1, "maximum": 5})
    review_notes = fields.String()


class EscalationInputSchema(Schema):
    """Escalation to a named senior officer of the organisation."""

    senior_officer_id = fields.String(metadata={"format": "uuid"})
    escalation_reason = fields.String()


class MitigationInputSchema(Schema):
    """A mitigation's fields."""

    type = _choice(MitigationType, "The kind of mitigation.")
    description = fields.String()
    owner_name = fields.String()
    status = _choice(MitigationStatus, "Where it stands (default proposed).")


class DecisionInputSchema(Schema):
    """A decision; a rejection must carry the lawful-speech finding, the mitigations
    considered (each with why it was not enough) and a reason category."""

    outcome = _choice(Outcome, "The outcome.")
    rationale = fields.String()
    conditions = fields.String(metadata={"description": "Required for approved_with_conditions."})
    decided_on = fields.String(metadata={"format": "date"})
    lawful_speech_finding = fields.String()
    reason_category = _choice(ReasonCategory, "Why it was rejected.")
    mitigations_considered = fields.List(fields.Nested(ConsideredSchema))


class AppealInputSchema(Schema):
    """An appeal: grounds, and a deadline (default 10 working days)."""

    grounds = fields.String()
    deadline = fields.String(metadata={"format": "date"})


class AppealDecisionInputSchema(Schema):
    """An appeal's outcome; overturned or varied records a new decision (new_outcome etc.)."""

    appeal_outcome = _choice(AppealOutcome, "upheld, overturned or varied.")
    rationale = fields.String()
    new_outcome = _choice(Outcome, "The new outcome (overturned or varied).")
    conditions = fields.String()
    lawful_speech_finding = fields.String()
    reason_category = _choice(ReasonCategory, "For a new rejection.")
    mitigations_considered = fields.List(fields.Nested(ConsideredSchema))


class ReportInputSchema(Schema):
    """The post-event report."""

    conditions_held = _choice(ConditionsHeld, "Did the conditions hold.")
    had_incidents = fields.Boolean()
    incidents = fields.String()
