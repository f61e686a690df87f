"""API: speaker search across this hub and its peer hubs, for a stated purpose."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from core.api import Blueprint
from core.request import current_actor, signed_in_required
from hub.federation import search
from hub.federation.schemas import FederatedSearchArgsSchema, FederatedSearchSchema
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "federation-api",
    __name__,
    url_prefix="/api/v1/federation",
    description="Speaker search across peer hubs, each applying its own agreements.",
)


@blueprint.route("/speakers")
class FederatedSpeakers(MethodView):
    """Speakers across hubs."""

    decorators = [signed_in_required]

    @blueprint.arguments(FederatedSearchArgsSchema, location="query")
    @blueprint.response(200, FederatedSearchSchema)
    @blueprint.alt_response(400, schema=ProblemSchema, description="Missing or unknown purpose")
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not a person who may search")
    @blueprint.alt_response(422, schema=ProblemSchema, description="No name to search for")
    def get(self, args: dict[str, Any]) -> Any:
        """Search speakers here and at peer hubs (slow or unreachable peers are noted)."""
        page = search.federated_search(
            current_actor(), args["q"], args["purpose"], limit=args["limit"]
        )
        return page
