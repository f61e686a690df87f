"""API: speakers with provenance, search and duplicate checks, merges, assertions, advisory
ratings and appearances.

The same services as the pages: another organisation's speaker answers 404 (the refusal is
audited); a merged record's address redirects (308) to the record it was merged into.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import redirect, request, url_for
from flask.views import MethodView

from audit.actions import SPEAKER_MERGE, SPEAKER_READ
from core.access import require_scope
from core.api import Blueprint
from core.errors import Conflict
from core.request import current_actor, signed_in_required
from hub.records.models import Speaker
from hub.records.speakers import assertions, ratings, search
from hub.records.speakers import services as speakers
from hub.records.speakers.schemas import (
    AppearanceSchema,
    AssertionCorrectionSchema,
    AssertionInputSchema,
    AssertionSchema,
    AssertionStatusSchema,
    AssertionUpdateSchema,
    DuplicateArgsSchema,
    DuplicatesProblemSchema,
    MergeInputSchema,
    MergeResultSchema,
    RatingSchema,
    SpeakerCreateSchema,
    SpeakerInputSchema,
    SpeakerMatchSchema,
    SpeakerQueryArgsSchema,
    SpeakerSchema,
    SpeakerSummarySchema,
    SpeakerUpdatedSchema,
)
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "speakers-api",
    __name__,
    url_prefix="/api/v1/speakers",
    description="External speakers as the caller's organisation knows them: names and aliases "
    "(with transliterations), public affiliations and sources, topics, statements (fact or "
    "opinion, with their history), advisory ratings and past appearances.",
)

NOT_FOUND = {"schema": ProblemSchema, "description": "No such speaker (or another organisation's)"}
FORBIDDEN = {"schema": ProblemSchema, "description": "The caller's roles do not allow this"}
CONFLICT = {"schema": ProblemSchema, "description": "Not allowed in the record's current state"}
INVALID = {"schema": ProblemSchema, "description": "Invalid fields"}
MOVED = {"description": "The record was merged: see Location for the one it now lives in"}


def _speaker(speaker_id: str, action: str = SPEAKER_READ) -> Speaker:
    return speakers.get_speaker(current_actor(), speaker_id, action=action)


def _is_merged_address(speaker: Speaker, speaker_id: str) -> bool:
    # `get_speaker` answered with the record a merged one now lives in.
    return speaker.id != uuid.UUID(str(speaker_id))


def _moved(speaker: Speaker, speaker_id: str) -> Any:
    """A redirect to the kept record if `speaker_id` names a merged one, else None."""
    if not _is_merged_address(speaker, speaker_id):
        return None
    rest = request.path.split(str(speaker_id), 1)[-1]
    target = url_for("speakers-api.SpeakerById", speaker_id=speaker.id) + rest
    return redirect(target, code=308)


@blueprint.route("")
class Speakers(MethodView):
    """The organisation's speakers."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.arguments(SpeakerQueryArgsSchema, location="query")
    @blueprint.response(200, SpeakerSummarySchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, args: dict[str, Any]) -> Any:
        """List the organisation's speakers by name (use /search to find one by name)."""
        return speakers.list_speakers(current_actor(), args["limit"], args["offset"])

    @require_scope("speakers:write")
    @blueprint.arguments(SpeakerCreateSchema)
    @blueprint.response(201, SpeakerSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(
        409,
        schema=DuplicatesProblemSchema,
        description="Likely existing records of the same person; nothing was created "
        "(send again with confirm_new: true if this is a new person)",
    )
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a speaker, unless they are likely someone already recorded (409 lists them;
        `confirm_new: true` creates the record anyway)."""
        return speakers.add_speaker(current_actor(), data), 201


@blueprint.route("/search")
class Search(MethodView):
    """Find a speaker by name."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.arguments(SpeakerQueryArgsSchema, location="query")
    @blueprint.response(200, SpeakerMatchSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, args: dict[str, Any]) -> Any:
        """Search names and aliases, tolerating misspelling, transliteration and word order."""
        return search.search_speakers(
            current_actor(), args.get("q", ""), args["limit"], args["offset"]
        )


@blueprint.route("/duplicates")
class Duplicates(MethodView):
    """Existing records a new speaker would probably repeat."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.arguments(DuplicateArgsSchema, location="query")
    @blueprint.response(200, SpeakerMatchSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self, args: dict[str, Any]) -> Any:
        """Likely existing records of a would-be new speaker (by name and aliases)."""
        actor = current_actor()
        speakers.require_reader(actor, "speaker.search")
        return speakers.likely_duplicates(actor, args["display_name"], args["aliases"])


class _Updated:
    """A changed speaker as `SpeakerUpdatedSchema` reads it: the record's own attributes, and
    what changed and whom it reached (kept beside the record rather than set on the model)."""

    def __init__(self, speaker: Speaker, changed: speakers.Changed) -> None:
        self._speaker = speaker
        self.changed = list(changed.fields)
        self.organisations_told = changed.told

    def __getattr__(self, name: str) -> Any:
        return getattr(self._speaker, name)


@blueprint.route("/<speaker_id>")
class SpeakerById(MethodView):
    """One speaker record."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.response(200, SpeakerSchema)
    @blueprint.alt_response(308, **MOVED)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, speaker_id: str) -> Any:
        """Read a speaker record with its names, affiliations, sources and topics."""
        speaker = _speaker(speaker_id)
        return _moved(speaker, speaker_id) or speaker

    @require_scope("speakers:write")
    @blueprint.arguments(SpeakerInputSchema)
    @blueprint.response(200, SpeakerUpdatedSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def patch(self, data: dict[str, Any], speaker_id: str) -> Any:
        """Change a speaker record (fields left out keep theirs); partners holding one are told."""
        speaker = _speaker(speaker_id, "speaker.update")
        if _is_merged_address(speaker, speaker_id):
            raise Conflict("This record was merged into another: change that one.", reason="merged")
        return _Updated(speaker, speakers.update_speaker(current_actor(), speaker, data))


@blueprint.route("/<speaker_id>/merge")
class Merge(MethodView):
    """Merging another record of the same person into this one."""

    decorators = [signed_in_required]

    @require_scope("speakers:write")
    @blueprint.arguments(MergeInputSchema)
    @blueprint.response(200, MergeResultSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], speaker_id: str) -> Any:
        """Merge the record `merge_id` into this one (history kept; the merged one redirects)."""
        actor = current_actor()
        keep = _speaker(speaker_id, "speaker.merge")
        other_id = speakers.parse_speaker_id(data["merge_id"])
        merge = speakers.get_speaker(actor, other_id, follow_merged=False, action=SPEAKER_MERGE)
        summary = speakers.merge_speakers(actor, keep, merge, data["reason"])
        return {
            "kept_id": keep.id,
            "merged_id": merge.id,
            "moved": summary.moved,
            "combined": summary.combined,
        }


@blueprint.route("/<speaker_id>/appearances")
class Appearances(MethodView):
    """Where the speaker has appeared."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.response(200, AppearanceSchema(many=True))
    @blueprint.alt_response(308, **MOVED)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, speaker_id: str) -> Any:
        """The speaker's appearances at the organisation's events, with their outcomes."""
        speaker = _speaker(speaker_id)
        return _moved(speaker, speaker_id) or speakers.appearances(speaker)


@blueprint.route("/<speaker_id>/ratings")
class Ratings(MethodView):
    """Advisory ratings on the speaker."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.response(200, RatingSchema(many=True))
    @blueprint.alt_response(308, **MOVED)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, speaker_id: str) -> Any:
        """Advisory ratings issued on the speaker, newest first, with their issuer."""
        speaker = _speaker(speaker_id)
        return _moved(speaker, speaker_id) or ratings.ratings_for(current_actor(), speaker)


@blueprint.route("/<speaker_id>/assertions")
class Assertions(MethodView):
    """Statements about the speaker."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.response(200, AssertionSchema(many=True))
    @blueprint.alt_response(308, **MOVED)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, speaker_id: str) -> Any:
        """The organisation's statements about the speaker, with their history."""
        speaker = _speaker(speaker_id)
        return _moved(speaker, speaker_id) or assertions.assertions_about(current_actor(), speaker)

    @require_scope("speakers:write")
    @blueprint.arguments(AssertionInputSchema)
    @blueprint.response(201, AssertionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], speaker_id: str) -> Any:
        """Record a statement (fact or opinion) about the speaker."""
        speaker = _speaker(speaker_id, "assertion.create")
        return assertions.create_assertion(current_actor(), speaker, data), 201


def _assertion(speaker_id: str, assertion_id: str, action: str) -> Any:
    speaker = _speaker(speaker_id, action)
    return assertions.get_assertion(current_actor(), speaker, assertion_id, action)


@blueprint.route("/<speaker_id>/assertions/<assertion_id>")
class AssertionById(MethodView):
    """One statement."""

    decorators = [signed_in_required]

    @require_scope("speakers:read")
    @blueprint.response(200, AssertionSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, speaker_id: str, assertion_id: str) -> Any:
        """Read a statement with its history."""
        return _assertion(speaker_id, assertion_id, "assertion.read")

    @require_scope("speakers:write")
    @blueprint.arguments(AssertionUpdateSchema)
    @blueprint.response(200, AssertionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def patch(self, data: dict[str, Any], speaker_id: str, assertion_id: str) -> Any:
        """Change a statement's confidence, flags, review date or distribution."""
        assertion = _assertion(speaker_id, assertion_id, "assertion.update")
        assertions.update_assertion(current_actor(), assertion, data)
        return assertion


@blueprint.route("/<speaker_id>/assertions/<assertion_id>/status")
class AssertionStatus(MethodView):
    """A statement's status."""

    decorators = [signed_in_required]

    @require_scope("speakers:write")
    @blueprint.arguments(AssertionStatusSchema)
    @blueprint.response(200, AssertionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], speaker_id: str, assertion_id: str) -> Any:
        """Dispute, reinstate or withdraw a statement, with a reason (kept in its history)."""
        assertion = _assertion(speaker_id, assertion_id, "assertion.status")
        return assertions.change_assertion_status(current_actor(), assertion, data)


@blueprint.route("/<speaker_id>/assertions/<assertion_id>/correction")
class AssertionCorrection(MethodView):
    """Correcting a statement."""

    decorators = [signed_in_required]

    @require_scope("speakers:write")
    @blueprint.arguments(AssertionCorrectionSchema)
    @blueprint.response(200, AssertionSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], speaker_id: str, assertion_id: str) -> Any:
        """Correct a statement's text, with a reason (the earlier text stays in its history)."""
        assertion = _assertion(speaker_id, assertion_id, "assertion.correct")
        return assertions.correct_assertion(current_actor(), assertion, data)
