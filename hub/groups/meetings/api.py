"""Working group meetings over the JSON API: scheduling, the agenda, attendance, minutes,
decisions, the actions agreed and feedback, over the same services as the pages. Case items
come through `disclose()` for the caller, like the meeting page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.views import MethodView

from core.api import Blueprint
from core.request import current_actor
from hub.groups import actions, services
from hub.groups.api_common import CONFLICT, DECORATORS, FORBIDDEN, INVALID, NOT_FOUND
from hub.groups.meetings import agenda, feedback
from hub.groups.meetings import services as meetings
from hub.groups.meetings.schemas import (
    AgendaItemCreateSchema,
    AmendmentCreateSchema,
    AmendmentSchema,
    AttendanceSchema,
    DigestSchema,
    MeetingCreateSchema,
    MeetingDecisionCreateSchema,
    MeetingDecisionSchema,
    MeetingDetailSchema,
    MeetingSchema,
    MinutesSchema,
    MinutesStepSchema,
)
from hub.groups.models import Meeting, MeetingAttendance
from hub.groups.schemas import ActionCreateSchema, ActionSchema

blueprint = Blueprint(
    "meetings-api",
    __name__,
    url_prefix="/api/v1",
    description="Working group meetings: agenda and case items, attendance, minutes, decisions, "
    "actions and feedback.",
)


@dataclass
class MeetingDetail:
    """A meeting as the API shows it: the meeting's own fields, with its agenda's case items as
    disclosed to the caller and the attendance rows of every expected person."""

    meeting: Meeting
    agenda: list[dict[str, Any]]
    attendance: list[dict[str, Any]]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.meeting, name)


def _case(view: agenda.CaseView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    body: dict[str, Any] = {"type": view.item.case_type, "state": view.state}
    if view.record is not None:
        body["record"] = view.record.as_dict()
    return body


def _meeting_detail(meeting: Meeting) -> MeetingDetail:
    cases = agenda.case_views(current_actor(), meeting)
    items = [
        {
            "id": item.id,
            "position": item.position,
            "title": item.title,
            "notes": item.notes,
            "case": _case(cases.get(item.id)),
        }
        for item in meeting.agenda_items
    ]
    rows: list[MeetingAttendance] = meetings.attendance_rows(meeting)
    attendance = [
        {
            "person_id": str(row.person_id),
            "name": row.person.name,
            "organisation": row.person.organisation.name,
            "status": row.status.value,
        }
        for row in rows
    ]
    return MeetingDetail(meeting, items, attendance)


def _meeting(meeting_id: str) -> Meeting:
    """A meeting of a group the caller sees (any other: 404)."""
    return meetings.get_meeting(current_actor(), meeting_id)


# --- meetings -----------------------------------------------------------------------------


@blueprint.route("/groups/<group_id>/meetings")
class GroupMeetings(MethodView):
    """A group's meetings."""

    decorators = DECORATORS

    @blueprint.response(200, MeetingSchema(many=True))
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, group_id: str) -> Any:
        """List a group's meetings, earliest first."""
        return services.get_group(current_actor(), group_id).meetings

    @blueprint.arguments(MeetingCreateSchema)
    @blueprint.response(201, MeetingSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], group_id: str) -> Any:
        """Schedule a meeting (or record one already held)."""
        actor = current_actor()
        meeting = meetings.schedule_meeting(actor, services.get_group(actor, group_id), data)
        return meeting


@blueprint.route("/meetings/<meeting_id>")
class MeetingById(MethodView):
    """One meeting."""

    decorators = DECORATORS

    @blueprint.response(200, MeetingDetailSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, meeting_id: str) -> Any:
        """Read a meeting; case items are disclosed to the caller at their organisation's
        level for working group case review (each disclosure audited)."""
        detail = _meeting_detail(_meeting(meeting_id))
        return detail

    @blueprint.arguments(MeetingCreateSchema)
    @blueprint.response(200, MeetingSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Change when or where a meeting is."""
        meeting = meetings.update_meeting(current_actor(), _meeting(meeting_id), data)
        return meeting


@blueprint.route("/meetings/<meeting_id>/agenda")
class MeetingAgenda(MethodView):
    """A meeting's agenda."""

    decorators = DECORATORS

    @blueprint.arguments(AgendaItemCreateSchema)
    @blueprint.response(201, MeetingDetailSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Add an agenda item, optionally about a case ("speaker:<id>" or "event:<id>")."""
        meeting = _meeting(meeting_id)
        agenda.add_agenda_item(current_actor(), meeting, data)
        detail = _meeting_detail(meeting)
        return detail


@blueprint.route("/meetings/<meeting_id>/attendance")
class MeetingAttendanceRecord(MethodView):
    """Who attended."""

    decorators = DECORATORS

    @blueprint.arguments(AttendanceSchema)
    @blueprint.response(200, MeetingSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Record attendance by person id (attended, apologies or absent)."""
        meeting = meetings.record_attendance(
            current_actor(), _meeting(meeting_id), data["attendance"]
        )
        return meeting


@blueprint.route("/meetings/<meeting_id>/minutes")
class MeetingMinutes(MethodView):
    """A meeting's minutes."""

    decorators = DECORATORS

    @blueprint.arguments(MinutesSchema)
    @blueprint.response(200, MeetingSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Draft the minutes (approved minutes answer 409: record an amendment)."""
        meeting = meetings.save_minutes(current_actor(), _meeting(meeting_id), data)
        return meeting

    @blueprint.arguments(MinutesStepSchema)
    @blueprint.response(200, MeetingSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    def post(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Circulate draft minutes, or approve circulated ones."""
        step = (
            meetings.circulate_minutes if data["step"] == "circulate" else meetings.approve_minutes
        )
        meeting = step(current_actor(), _meeting(meeting_id))
        return meeting


@blueprint.route("/meetings/<meeting_id>/minutes/amendments")
class MeetingAmendments(MethodView):
    """Amendments to approved minutes."""

    decorators = DECORATORS

    @blueprint.arguments(AmendmentCreateSchema)
    @blueprint.response(201, AmendmentSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Record an amendment to approved minutes."""
        amendment = meetings.amend_minutes(current_actor(), _meeting(meeting_id), data)
        return amendment


@blueprint.route("/meetings/<meeting_id>/decisions")
class MeetingDecisions(MethodView):
    """A meeting's decisions."""

    decorators = DECORATORS

    @blueprint.arguments(MeetingDecisionCreateSchema)
    @blueprint.response(201, MeetingDecisionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Record a decision, for one member organisation or all."""
        decision = meetings.record_decision(current_actor(), _meeting(meeting_id), data)
        return decision


@blueprint.route("/meetings/<meeting_id>/actions")
class MeetingActions(MethodView):
    """Actions agreed at a meeting."""

    decorators = DECORATORS

    @blueprint.arguments(ActionCreateSchema)
    @blueprint.response(201, ActionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], meeting_id: str) -> Any:
        """Record an action: what, who (a named attendee) and by when."""
        action = actions.create_action(current_actor(), _meeting(meeting_id), data)
        return action


@blueprint.route("/meetings/<meeting_id>/feedback")
class MeetingFeedback(MethodView):
    """Feedback to member organisations."""

    decorators = DECORATORS

    @blueprint.response(200, DigestSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, meeting_id: str) -> Any:
        """The decisions and actions of the meeting that concern the caller's organisation."""
        return feedback.my_digest(current_actor(), _meeting(meeting_id))

    @blueprint.response(202)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(409, **CONFLICT)
    def post(self, meeting_id: str) -> Any:
        """Send each member organisation its feedback (once, after the meeting)."""
        feedback.send_digest(current_actor(), _meeting(meeting_id))
        return None
