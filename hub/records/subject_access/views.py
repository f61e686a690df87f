"""Pages: the register of subject access requests (record one, find the speaker it concerns,
prepare the pack, close it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from audit.refusals import keep_refusal
from core.documents import long_date
from core.errors import Conflict, ValidationFailed
from core.request import current_actor, signed_in_required
from hub.records.models import SUBJECT_ACCESS_STATUS_LABELS
from hub.records.subject_access import requests as register
from hub.records.subject_access import services as subject_access

blueprint = Blueprint(
    "subject_access",
    __name__,
    url_prefix="/subject-access/requests",
    template_folder="templates",
)

NEW_FIELDS = ("reference", "received_on")


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "status_labels": SUBJECT_ACCESS_STATUS_LABELS,
        "is_overdue": register.is_overdue,
    }


@blueprint.get("")
@signed_in_required
def index() -> Any:
    """The organisation's subject access requests, open ones first, soonest due first."""
    requests = register.list_requests(current_actor())
    return render_template(
        "records/subject_access/index.html",
        requests=requests,
        page_title="Subject access requests received",
    )


@blueprint.route("/new", methods=["GET", "POST"])
@signed_in_required
def new() -> Any:
    """Record a request that has arrived; the page says when its answer is due."""
    actor = current_actor()
    subject_access.require_dpo(actor, "subject_access.request.record")
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in request.form if key != "csrf_token"}
        try:
            item = register.record_request(actor, {key: values.get(key, "") for key in NEW_FIELDS})
        except ValidationFailed as exc:
            keep_refusal(actor, exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            flash(f"Request recorded. Its answer is due by {long_date(item.due_on)}.", "success")
            return redirect(url_for("subject_access.show", request_id=item.id))
    page = render_template(
        "records/subject_access/new.html",
        values=values,
        errors=errors,
        page_title="Record a subject access request",
    )
    return page, (422 if errors else 200)


@blueprint.get("/<request_id>")
@signed_in_required
def show(request_id: str) -> Any:
    """One request: its dates, the speaker it concerns (or a name search to find them), the
    pack, and closing it."""
    actor = current_actor()
    item = register.get_request(actor, request_id, "subject_access.request.read")
    query = (request.args.get("q") or "").strip()[:200]
    matches = (
        subject_access.find_speakers(actor, query)
        if query and item.speaker_id is None and item.status == "open"
        else None
    )
    return _request_page(item, query, matches)


def _request_page(
    item: Any, query: str = "", matches: Any = None, errors: dict[str, list[str]] | None = None
) -> Any:
    """A request's page: its dates, the speaker (or the search for them), closing it."""
    page = render_template(
        "records/subject_access/show.html",
        item=item,
        query=query,
        matches=matches,
        closings=register.CLOSINGS,
        errors=errors or {},
        page_title=f"Subject access request {item.reference}",
    )
    return page, (422 if errors else 200)


@blueprint.post("/<request_id>/speaker")
@signed_in_required
def link(request_id: str) -> Any:
    """Say which speaker record the request concerns."""
    actor = current_actor()
    item = register.get_request(actor, request_id, "subject_access.request.link")
    try:
        register.link_speaker(actor, item, request.form.get("speaker_id", ""))
    except Conflict as exc:
        keep_refusal(actor, exc)
        flash(exc.detail, "error")
    else:
        flash("The request is linked to the speaker's record.", "success")
    return redirect(url_for("subject_access.show", request_id=item.id))


@blueprint.post("/<request_id>/close")
@signed_in_required
def close(request_id: str) -> Any:
    """Close the request as answered or withdrawn."""
    actor = current_actor()
    item = register.get_request(actor, request_id, "subject_access.request.close")
    try:
        register.close_request(actor, item, {"outcome": request.form.get("outcome", "")})
    except ValidationFailed as exc:
        keep_refusal(actor, exc)
        return _request_page(item, errors=exc.errors)
    except Conflict as exc:
        keep_refusal(actor, exc)
        flash(exc.detail, "error")
    else:
        flash("The request is closed.", "success")
    return redirect(url_for("subject_access.show", request_id=item.id))
