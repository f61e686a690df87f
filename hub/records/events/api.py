"""API: events, their status, risk assessment, mitigations, decision, appeals and report.

The same services as the pages: another organisation's event answers 404 (the refusal is
audited), a step the status machine does not allow answers 409 with a specific `detail`.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from core.access import require_scope
from core.api import Blueprint
from core.request import current_actor, signed_in_required
from core.validation import Checker
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.events.schemas import (
    AppealDecisionInputSchema,
    AppealInputSchema,
    AppealSchema,
    AssessmentSchema,
    DecisionInputSchema,
    DecisionSchema,
    EscalationInputSchema,
    EventArgsSchema,
    EventDetailSchema,
    EventInputSchema,
    EventSchema,
    LocalReviewInputSchema,
    MitigationInputSchema,
    MitigationSchema,
    PersonChoiceSchema,
    ReportInputSchema,
    ReportSchema,
    SelfAssessmentInputSchema,
    StatusChangeSchema,
    StatusInputSchema,
)
from hub.records.models import EventStatus
from hub.records.speakers.schemas import DuplicatesProblemSchema
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "events-api",
    __name__,
    url_prefix="/api/v1/events",
    description="Events with external speakers: the draft, the status machine, the risk "
    "assessment, mitigations, the decision (with the freedom-of-speech guardrail), appeals "
    "and the post-event report.",
)


def _event(event_id: str) -> Any:
    return events.get_event(current_actor(), event_id)


NOT_FOUND = {"schema": ProblemSchema, "description": "No such event (or another organisation's)"}
FORBIDDEN = {"schema": ProblemSchema, "description": "The caller's roles do not allow this"}
CONFLICT = {"schema": ProblemSchema, "description": "Not allowed in the event's current status"}
INVALID = {"schema": ProblemSchema, "description": "Invalid fields"}
LIKELY_DUPLICATES = {
    "schema": DuplicatesProblemSchema,
    "description": "A speaker in new_speakers is likely someone already recorded; nothing was "
    "created (name them in confirm_new_speakers if they are new people)",
}


@blueprint.route("")
class Events(MethodView):
    """The organisation's events."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.arguments(EventArgsSchema, location="query")
    @blueprint.response(200, EventSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, args: dict[str, Any]) -> Any:
        """List the organisation's events, latest start first."""
        check = Checker(args)
        status = check.choice("status", EventStatus, "the status", required=False)
        check.raise_if_any()
        return events.list_events(current_actor(), status=status)

    @require_scope("events:write")
    @blueprint.arguments(EventInputSchema)
    @blueprint.response(201, EventDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **LIKELY_DUPLICATES)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a draft event (speakers by id, or new ones by name)."""
        return events.create_event(current_actor(), data)


@blueprint.route("/<event_id>")
class EventById(MethodView):
    """One event."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.response(200, EventDetailSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, event_id: str) -> Any:
        """Read an event with its history, assessment, decisions and report."""
        return _event(event_id)

    @require_scope("events:write")
    @blueprint.arguments(EventInputSchema)
    @blueprint.response(200, EventDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def patch(self, data: dict[str, Any], event_id: str) -> Any:
        """Change a draft event (fields left out keep their values)."""
        event = _event(event_id)
        return events.update_event(current_actor(), event, data)


@blueprint.route("/<event_id>/status")
class Status(MethodView):
    """The event's status."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.response(200, StatusChangeSchema(many=True))
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, event_id: str) -> Any:
        """The event's status changes, oldest first."""
        return events.history(_event(event_id))

    @require_scope("events:write")
    @blueprint.arguments(StatusInputSchema)
    @blueprint.response(200, EventDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str) -> Any:
        """Submit, start reviewing or withdraw the event."""
        event = _event(event_id)
        return events.change_status(current_actor(), event, data)


@blueprint.route("/<event_id>/assessment")
class Assessment(MethodView):
    """The event's risk assessment."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.response(200, AssessmentSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, event_id: str) -> Any:
        """Read the risk assessment."""
        event = _event(event_id)
        return event.assessment or {}


def _stage(event_id: str, save: Any, data: dict[str, Any]) -> Any:
    event = _event(event_id)
    return save(current_actor(), event, data)


@blueprint.route("/<event_id>/assessment/self-assessment")
class SelfAssessment(MethodView):
    """The organiser's self-assessment."""

    decorators = [signed_in_required]

    @require_scope("events:write")
    @blueprint.arguments(SelfAssessmentInputSchema)
    @blueprint.response(200, AssessmentSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], event_id: str) -> Any:
        """Answer the triage questions (while the event is a draft)."""
        return _stage(event_id, assessments.save_self_assessment, data)


@blueprint.route("/<event_id>/assessment/local-review")
class LocalReview(MethodView):
    """The Prevent lead's local review."""

    decorators = [signed_in_required]

    @require_scope("assessments:write")
    @blueprint.arguments(LocalReviewInputSchema)
    @blueprint.response(200, AssessmentSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], event_id: str) -> Any:
        """Rate likelihood and impact with notes (a submitted event goes under review)."""
        return _stage(event_id, assessments.save_local_review, data)


@blueprint.route("/<event_id>/assessment/escalation")
class Escalation(MethodView):
    """Escalation of a designated event to a named senior officer."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.response(200, PersonChoiceSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def get(self, event_id: str) -> Any:
        """List the people who can be named senior officer for this event."""
        event = _event(event_id)
        actor = current_actor()
        assessments.guard_escalation(actor, event)
        return assessments.senior_officer_choices(actor, event)

    @require_scope("assessments:write")
    @blueprint.arguments(EscalationInputSchema)
    @blueprint.response(200, AssessmentSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str) -> Any:
        """Escalate the event to a named senior officer, with the reason."""
        return _stage(event_id, assessments.escalate, data)


@blueprint.route("/<event_id>/assessment/mitigations")
class Mitigations(MethodView):
    """The event's mitigations."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.response(200, MitigationSchema(many=True))
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, event_id: str) -> Any:
        """List the mitigations."""
        event = _event(event_id)
        return event.assessment.mitigations if event.assessment else []

    @require_scope("assessments:write")
    @blueprint.arguments(MitigationInputSchema)
    @blueprint.response(201, MitigationSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str) -> Any:
        """Add a mitigation with its owner and status."""
        return _stage(event_id, assessments.add_mitigation, data)


@blueprint.route("/<event_id>/assessment/mitigations/<int:mitigation_id>")
class MitigationById(MethodView):
    """One mitigation."""

    decorators = [signed_in_required]

    @require_scope("assessments:write")
    @blueprint.arguments(MitigationInputSchema)
    @blueprint.response(200, MitigationSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def patch(self, data: dict[str, Any], event_id: str, mitigation_id: int) -> Any:
        """Change a mitigation (fields left out keep their values)."""
        event = _event(event_id)
        actor = current_actor()
        assessments.guard_mitigations(actor, event)
        item = assessments.get_mitigation(event, mitigation_id)
        return assessments.update_mitigation(actor, event, item, data)

    @require_scope("assessments:write")
    @blueprint.response(204)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def delete(self, event_id: str, mitigation_id: int) -> Any:
        """Remove a mitigation."""
        event = _event(event_id)
        actor = current_actor()
        assessments.guard_mitigations(actor, event)
        assessments.remove_mitigation(
            actor, event, assessments.get_mitigation(event, mitigation_id)
        )
        return None


@blueprint.route("/<event_id>/decisions")
class Decisions(MethodView):
    """Decisions on the event."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.response(200, DecisionSchema(many=True))
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, event_id: str) -> Any:
        """List the decisions, oldest first (superseded ones are marked)."""
        return _event(event_id).decisions

    @blueprint.arguments(DecisionInputSchema)
    @blueprint.response(201, DecisionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str) -> Any:
        """Decide the event (a rejection needs the freedom-of-speech guardrail)."""
        return _stage(event_id, decisions.record_decision, data)


@blueprint.route("/<event_id>/appeals")
class Appeals(MethodView):
    """Appeals against the event's decision."""

    decorators = [signed_in_required]

    @blueprint.arguments(AppealInputSchema)
    @blueprint.response(201, AppealSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str) -> Any:
        """Lodge an appeal against the standing decision."""
        return _stage(event_id, decisions.lodge_appeal, data)


@blueprint.route("/<event_id>/appeals/<int:appeal_id>/decision")
class AppealDecision(MethodView):
    """The outcome of an appeal."""

    decorators = [signed_in_required]

    @blueprint.arguments(AppealDecisionInputSchema)
    @blueprint.response(200, AppealSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str, appeal_id: int) -> Any:
        """Uphold, overturn or vary the decision (overturn and vary record a new one)."""
        event = _event(event_id)
        appeal = decisions.get_appeal(event, appeal_id)
        return decisions.decide_appeal(current_actor(), event, appeal, data)


@blueprint.route("/<event_id>/report")
class Report(MethodView):
    """The post-event report."""

    decorators = [signed_in_required]

    @require_scope("events:write")
    @blueprint.arguments(ReportInputSchema)
    @blueprint.response(201, ReportSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], event_id: str) -> Any:
        """Record whether the conditions held and any incidents (after an approved event)."""
        return _stage(event_id, events.record_report, data)
