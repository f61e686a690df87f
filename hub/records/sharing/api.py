"""API: partners' records through agreements: speaker search, a partner's speaker, event and
decision, each disclosed for a stated purpose with the agreement it was disclosed under.

The purpose comes as the `purpose` query parameter or the `Hub-Purpose` header (the header
wins). A missing or unknown purpose answers 400; a record no agreement discloses answers 404,
exactly like a missing one. People call it with their session; partner systems with a token
holding the operation's scope, and `Hub-On-Behalf-Of` naming the member of staff (required for
tokens only, by `partners.oauth.resource`).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from agreements.services import check_purpose
from audit.actions import SPEAKER_SEARCH
from core.access import require_scope
from core.api import Blueprint
from core.errors import PermissionDenied
from core.request import current_actor, signed_in_required
from hub.records import permissions
from hub.records.sharing import services as shared
from hub.records.sharing.schemas import (
    DisclosedRecordSchema,
    PurposeArgsSchema,
    PurposeHeaderSchema,
    SharedEventSchema,
    SharedSearchArgsSchema,
    SharedSearchSchema,
    SharedSpeakerSchema,
)
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "shared-api",
    __name__,
    url_prefix="/api/v1/shared",
    description="Partners' records, disclosed under data-sharing agreements.",
)

BAD_PURPOSE = {"schema": ProblemSchema, "description": "Missing or unknown purpose"}
FORBIDDEN = {"schema": ProblemSchema, "description": "The caller's roles do not allow this"}
NOT_FOUND = {
    "schema": ProblemSchema,
    "description": "No such record, or none an agreement discloses to the caller",
}


def _purpose(args: dict[str, Any], header: dict[str, Any]) -> str | None:
    """The stated purpose: the Hub-Purpose header, else the query parameter."""
    given = (header.get("hub_purpose") or "").strip()
    return given or (args.get("purpose") or "").strip() or None


@blueprint.route("/speakers")
class SharedSpeakers(MethodView):
    """Speakers across partners."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.arguments(SharedSearchArgsSchema, location="query")
    @blueprint.response(200, SharedSearchSchema)
    @blueprint.alt_response(400, **BAD_PURPOSE)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.arguments(PurposeHeaderSchema, location="headers")
    def get(self, args: dict[str, Any], header: dict[str, Any]) -> Any:
        """Search own and partners' speakers by name for a purpose (totals: only what is seen)."""
        actor = current_actor()
        if not permissions.can_read_shared(actor):
            raise PermissionDenied(
                "You cannot see speaker records.",
                reason="role_required",
                audit={"action": SPEAKER_SEARCH, "resource_type": "speaker"},
            )
        purpose = check_purpose(actor, _purpose(args, header), "speaker.search")
        page = shared.search_speakers(
            actor, args["q"], purpose, limit=args["limit"], offset=args["offset"]
        )
        return page


@blueprint.route("/speakers/<speaker_id>")
class SharedSpeaker(MethodView):
    """One partner speaker."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.arguments(PurposeArgsSchema, location="query")
    @blueprint.response(200, SharedSpeakerSchema)
    @blueprint.alt_response(400, **BAD_PURPOSE)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.arguments(PurposeHeaderSchema, location="headers")
    def get(self, args: dict[str, Any], header: dict[str, Any], speaker_id: str) -> Any:
        """Read a partner's speaker with its disclosed statements, ratings and appearances."""
        view = shared.shared_speaker(current_actor(), speaker_id, _purpose(args, header))
        return view


@blueprint.route("/events/<event_id>")
class SharedEvent(MethodView):
    """One partner event."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.arguments(PurposeArgsSchema, location="query")
    @blueprint.response(200, SharedEventSchema)
    @blueprint.alt_response(400, **BAD_PURPOSE)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.arguments(PurposeHeaderSchema, location="headers")
    def get(self, args: dict[str, Any], header: dict[str, Any], event_id: str) -> Any:
        """Read a partner's event with its disclosed standing decision."""
        view = shared.shared_event(current_actor(), event_id, _purpose(args, header))
        return view


@blueprint.route("/decisions/<decision_id>")
class SharedDecision(MethodView):
    """One partner decision."""

    decorators = [signed_in_required]

    @require_scope("events:read")
    @blueprint.arguments(PurposeArgsSchema, location="query")
    @blueprint.response(200, DisclosedRecordSchema)
    @blueprint.alt_response(400, **BAD_PURPOSE)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.arguments(PurposeHeaderSchema, location="headers")
    def get(self, args: dict[str, Any], header: dict[str, Any], decision_id: str) -> Any:
        """Read a partner's decision on an event."""
        record = shared.shared_decision(current_actor(), decision_id, _purpose(args, header))
        return record
