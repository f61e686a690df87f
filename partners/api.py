"""The partners directory over the JSON API (`/api/v1/organisations`, `/api/v1/me`)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from core.access import any_token
from core.api import Blueprint
from core.request import current_actor, signed_in_required
from partners import services
from partners.schemas import MeSchema, OrganisationCreateSchema, OrganisationSchema, ProblemSchema

blueprint = Blueprint(
    "partners-api",
    __name__,
    url_prefix="/api/v1",
    description="The partner directory and the caller's own identity.",
)


@blueprint.route("/organisations")
class Organisations(MethodView):
    """The partner directory."""

    decorators = [signed_in_required]

    @any_token
    @blueprint.response(200, OrganisationSchema(many=True))
    @blueprint.alt_response(401, schema=ProblemSchema, description="Not signed in")
    def get(self) -> Any:
        """List partner organisations."""
        return services.list_organisations(current_actor())

    @blueprint.arguments(OrganisationCreateSchema)
    @blueprint.response(201, OrganisationSchema)
    @blueprint.alt_response(403, schema=ProblemSchema, description="Not a hub administrator")
    @blueprint.alt_response(422, schema=ProblemSchema, description="Invalid or duplicate fields")
    def post(self, data: dict[str, Any]) -> Any:
        """Add an organisation (hub administrators)."""
        organisation = services.create_organisation(current_actor(), data)
        return organisation


@blueprint.route("/organisations/<slug>")
class OrganisationBySlug(MethodView):
    """One partner organisation."""

    decorators = [signed_in_required]

    @any_token
    @blueprint.response(200, OrganisationSchema)
    @blueprint.alt_response(404, schema=ProblemSchema, description="No such organisation")
    def get(self, slug: str) -> Any:
        """Read one organisation by its slug."""
        return services.get_organisation(slug)


@blueprint.route("/me")
class Me(MethodView):
    """The caller."""

    decorators = [signed_in_required]

    @any_token
    @blueprint.response(200, MeSchema)
    def get(self) -> Any:
        """Who the caller is, for which organisation, with which roles."""
        actor = current_actor()
        return {
            "kind": actor.kind,
            "id": actor.id,
            "org_slug": actor.org_slug,
            "roles": sorted(actor.roles),
            "scopes": sorted(actor.scopes),
        }
