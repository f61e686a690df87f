"""Pages: search speakers across this hub and its peer hubs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from agreements.services import PurposeRefused
from audit.refusals import keep_refusal
from core.errors import HubError, ValidationFailed
from core.request import current_actor, signed_in_required
from hub.federation import search
from hub.records.sharing.views import PURPOSE_OPTIONS, name_as_disclosed

blueprint = Blueprint("federation", __name__, url_prefix="/federation", template_folder="templates")


def _keep_refusal(exc: HubError) -> None:
    """Keep the refusal (the page explains it)."""
    keep_refusal(current_actor(), exc)


@blueprint.get("/speakers")
@signed_in_required
def speakers() -> Any:
    """Search speakers here and at peer hubs, for a stated purpose."""
    actor = current_actor()
    search.require_person_reader(actor)
    submitted = "q" in request.args or "purpose" in request.args
    query = (request.args.get("q") or "").strip()
    purpose = (request.args.get("purpose") or "").strip()
    found = None
    errors: dict[str, list[str]] = {}
    status = 200
    if submitted:
        try:
            found = search.federated_search(actor, query, purpose or None)
        except PurposeRefused as exc:
            _keep_refusal(exc)
            errors = {"purpose": ["Choose the purpose of your search from the list."]}
            status = 400
        except ValidationFailed as exc:
            _keep_refusal(exc)
            errors = exc.errors or {"q": [exc.detail]}
            status = 422
    return (
        render_template(
            "federation/speakers.html",
            query=query,
            purpose=purpose,
            found=found,
            errors=errors,
            purpose_options=PURPOSE_OPTIONS,
            name_as_disclosed=name_as_disclosed,
            page_title="Search speakers across hubs",
        ),
        status,
    )
