"""API: advisory requests (ask, route, decline, answer, withdraw) and the annual return."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from core.access import require_scope
from core.api import Blueprint
from core.request import current_actor, signed_in_required
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.advisory.schemas import (
    AdvisoryAnswerSchema,
    AdvisoryDeclineSchema,
    AdvisoryRequestCreateSchema,
    AdvisoryRequestSchema,
    AdvisoryRouteSchema,
    AnnualReturnArgsSchema,
    AnnualReturnSchema,
)
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "advisory-api",
    __name__,
    url_prefix="/api/v1/advisory",
    description="Advisory requests about speakers (institution -> coordinator -> police), "
    "and the annual return.",
)


def _view(item: Any) -> Any:
    return advisory.describe(current_actor(), item)


@blueprint.route("/requests")
class Requests(MethodView):
    """Advisory requests the caller's organisation is a party to."""

    decorators = [signed_in_required]

    @require_scope("events:read", "advisory:respond")
    @blueprint.response(200, AdvisoryRequestSchema(many=True))
    @blueprint.alt_response(403, schema=ProblemSchema, description="No role for requests")
    def get(self) -> Any:
        """List the advisory requests the caller's organisation is a party to."""
        actor = current_actor()
        views = [advisory.describe(actor, item) for item in advisory.list_requests(actor)]
        return views

    @require_scope("events:write")
    @blueprint.arguments(AdvisoryRequestCreateSchema)
    @blueprint.response(201, AdvisoryRequestSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not an institution's writer")
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such speaker or event")
    @blueprint.alt_response(422, schema=ProblemSchema, description="Invalid fields")
    def post(self, data: dict[str, Any]) -> Any:
        """Ask the regional coordinator about one of the organisation's speakers."""
        item = advisory.submit_request(current_actor(), data)
        return _view(item)


@blueprint.route("/requests/<request_id>")
class RequestById(MethodView):
    """One advisory request."""

    decorators = [signed_in_required]

    @require_scope("events:read", "advisory:respond")
    @blueprint.response(200, AdvisoryRequestSchema)
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such request")
    def get(self, request_id: str) -> Any:
        """Read one advisory request, as the caller's side may see it."""
        item = advisory.get_request(current_actor(), request_id)
        view = _view(item)
        return view


def _step(request_id: str, act: Any, data: dict[str, Any] | None = None) -> Any:
    actor = current_actor()
    item = advisory.get_request(actor, request_id, audit_read=False)
    if data is None:
        act(actor, item)
    else:
        act(actor, item, data)
    return advisory.describe(actor, item)


@blueprint.route("/requests/<request_id>/route")
class Route(MethodView):
    """The coordinator's routing step."""

    decorators = [signed_in_required]

    @blueprint.arguments(AdvisoryRouteSchema)
    @blueprint.response(200, AdvisoryRequestSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not its coordinator")
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such request")
    @blueprint.alt_response(409, schema=ProblemSchema, description="Already routed or closed")
    @blueprint.alt_response(422, schema=ProblemSchema, description="Invalid fields")
    def post(self, data: dict[str, Any], request_id: str) -> Any:
        """Route the request to a police Prevent team, with a note for the team."""
        return _step(request_id, advisory.route_request, data)


@blueprint.route("/requests/<request_id>/decline")
class Decline(MethodView):
    """The coordinator's refusal to route."""

    decorators = [signed_in_required]

    @blueprint.arguments(AdvisoryDeclineSchema)
    @blueprint.response(200, AdvisoryRequestSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not its coordinator")
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such request")
    @blueprint.alt_response(409, schema=ProblemSchema, description="Already routed or closed")
    @blueprint.alt_response(422, schema=ProblemSchema, description="Invalid fields")
    def post(self, data: dict[str, Any], request_id: str) -> Any:
        """Decline the request, with the reason the institution will see."""
        return _step(request_id, advisory.decline_request, data)


@blueprint.route("/requests/<request_id>/answer")
class Answer(MethodView):
    """The police answer."""

    decorators = [signed_in_required]

    @require_scope("advisory:respond")
    @blueprint.arguments(AdvisoryAnswerSchema)
    @blueprint.response(200, AdvisoryRequestSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not the routed police team")
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such request")
    @blueprint.alt_response(409, schema=ProblemSchema, description="Not awaiting police")
    @blueprint.alt_response(422, schema=ProblemSchema, description="Invalid fields")
    def post(self, data: dict[str, Any], request_id: str) -> Any:
        """Answer with a red, amber or green rating, a short rationale and an expiry date."""
        return _step(request_id, advisory.answer_request, data)


@blueprint.route("/requests/<request_id>/withdraw")
class Withdraw(MethodView):
    """The requester's withdrawal."""

    decorators = [signed_in_required]

    @require_scope("events:write")
    @blueprint.response(200, AdvisoryRequestSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not the requester's writer")
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such request")
    @blueprint.alt_response(409, schema=ProblemSchema, description="Already answered or closed")
    def post(self, request_id: str) -> Any:
        """Withdraw a request that has not been answered or declined."""
        return _step(request_id, advisory.withdraw_request)


@blueprint.route("/annual-return")
class AnnualReturn(MethodView):
    """The annual return."""

    decorators = [signed_in_required]

    @blueprint.arguments(AnnualReturnArgsSchema, location="query")
    @blueprint.response(200, AnnualReturnSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="No role for returns")
    @blueprint.alt_response(422, schema=ProblemSchema, description="Invalid year or basis")
    def get(self, args: dict[str, Any]) -> Any:
        """Events decided in a year: the caller's institution, or a coordinator's region."""
        actor = current_actor()
        returns.require_view(actor)
        basis, year = returns.read_args(args.get("basis"), args.get("year"), advisory.local_today())
        return returns.annual_return(actor, basis, year)
