"""Pages: advisory requests (ask, route, decline, answer, withdraw) and the annual return."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from audit.refusals import keep_refusal
from core.errors import Conflict, ValidationFailed
from core.request import current_actor, signed_in_required
from core.validation import LOCAL_ZONE
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.models import AdvisoryRequest, Rating

blueprint = Blueprint("advisory", __name__, url_prefix="/advisory", template_folder="templates")
returns_blueprint = Blueprint(
    "returns", __name__, url_prefix="/returns", template_folder="templates"
)


@blueprint.record_once
def _register_returns(state: Any) -> None:
    # The annual return has pages of its own (/returns) but belongs with these records pages;
    # registering it here keeps the application factory's blueprint list unchanged.
    state.app.register_blueprint(returns_blueprint)


RATING_OPTIONS = [
    (Rating.RED.value, "Red: do not proceed without strong mitigation"),
    (Rating.AMBER.value, "Amber: proceed with mitigations"),
    (Rating.GREEN.value, "Green: no concerns known"),
]
STATUS_COLOURS = {
    "submitted": "blue",
    "routed": "purple",
    "answered": "green",
    "declined": "orange",
    "withdrawn": "grey",
}
RATING_COLOURS = {"red": "red", "amber": "yellow", "green": "green"}


def day(value: date | datetime | None) -> str:
    """A date as GOV.UK writes it: 14 March 2026 (a UTC time shown on its UK date)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_ZONE)
    return f"{value.day} {value:%B %Y}"


def moment(value: datetime | None) -> str:
    """A UTC time as UK local time: 14 March 2026 at 6:30pm."""
    if value is None:
        return ""
    local = value.astimezone(LOCAL_ZONE)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    minutes = f":{local.minute:02d}" if local.minute else ""
    return f"{day(local)} at {hour}{minutes}{suffix}"


def _render(template: str, **context: Any) -> str:
    return render_template(
        template,
        day=day,
        moment=moment,
        status_colours=STATUS_COLOURS,
        rating_colours=RATING_COLOURS,
        **context,
    )


# --- advisory requests --------------------------------------------------------------------


@blueprint.get("/")
@signed_in_required
def index() -> Any:
    """The advisory requests the person's organisation is a party to."""
    actor = current_actor()
    requests = advisory.list_requests(actor)
    views = [advisory.describe(actor, item) for item in requests]
    page = _render(
        "records/advisory/index.html",
        views=views,
        can_submit=advisory.can_submit(actor),
        page_title="Advisory requests",
    )
    return page


@blueprint.route("/new", methods=["GET", "POST"])
@signed_in_required
def new() -> Any:
    """Ask the regional coordinator about one of your organisation's speakers."""
    actor = current_actor()
    if not advisory.can_submit(actor):
        advisory.submit_request(actor, {})  # refused and audited by the service
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {
        "speaker_id": request.args.get("speaker_id", ""),
        "event_id": request.args.get("event_id", ""),
    }
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in ("speaker_id", "event_id", "question")}
        try:
            created = advisory.submit_request(actor, values)
        except ValidationFailed as exc:
            keep_refusal(actor, exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            flash(
                f"Your question has been sent to the regional coordinator. "
                f"An answer is due by {day(created.due_on)}.",
                "success",
            )
            return redirect(url_for("advisory.detail", request_id=created.id))
    speaker_options = [("", "Choose a speaker")] + [
        (str(s.id), s.display_name) for s in advisory.speaker_choices(actor)
    ]
    event_options = [("", "No event")] + [
        (str(e.id), f"{e.title} ({day(e.starts_at)})") for e in advisory.event_choices(actor)
    ]
    return _render(
        "records/advisory/new.html",
        errors=errors,
        values=values,
        speaker_options=speaker_options,
        event_options=event_options,
        page_title="Ask the regional coordinator about a speaker",
    )


@blueprint.get("/<request_id>")
@signed_in_required
def detail(request_id: str) -> Any:
    """One request, as the person's side may see it, with the steps they can take."""
    actor = current_actor()
    item = advisory.get_request(actor, request_id)
    view = advisory.describe(actor, item)
    page = _render("records/advisory/detail.html", view=view, page_title="Advisory request")
    return page


def _step_page(
    request_id: str,
    step: str,
    template: str,
    fields: tuple[str, ...],
    act: Callable[[Any, AdvisoryRequest, dict[str, Any]], Any],
    done: str,
    extra: Callable[[Any, AdvisoryRequest], dict[str, Any]] | None = None,
    **context: Any,
) -> Any:
    """GET shows the step's form; POST takes the step (refusals are audited by the service)."""
    actor = current_actor()
    item = advisory.get_request(actor, request_id, audit_read=False)
    try:
        advisory.require_step(actor, item, step)
    except Conflict as exc:
        keep_refusal(actor, exc)
        flash(exc.detail, "error")
        return redirect(url_for("advisory.detail", request_id=request_id))
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {key: request.form.get(key, "") for key in fields}
        # A date input's parts, to show again (the edge joins them into the field itself).
        values.update(
            {
                name: request.form.get(name, "")
                for key in fields
                for name in (f"{key}-day", f"{key}-month", f"{key}-year")
                if name in request.form
            }
        )
        try:
            act(actor, item, values)
        except ValidationFailed as exc:
            keep_refusal(actor, exc)
            errors = exc.errors or {"_form": [exc.detail]}
        else:
            flash(done, "success")
            return redirect(url_for("advisory.detail", request_id=request_id))
    view = advisory.describe(actor, item)
    advisory.record_read(actor, item)  # the form shows the request: a read like any other
    page = _render(
        template,
        view=view,
        errors=errors,
        values=values,
        **(extra(actor, item) if extra else {}),
        **context,
    )
    return page, (422 if errors else 200)


@blueprint.route("/<request_id>/route", methods=["GET", "POST"])
@signed_in_required
def route(request_id: str) -> Any:
    """The coordinator sends the request to a police Prevent team."""
    return _step_page(
        request_id,
        "route",
        "records/advisory/route.html",
        ("police_org_id", "routing_note"),
        advisory.route_request,
        "The request has been sent to the police Prevent team.",
        extra=lambda _actor, item: {
            "team_options": [
                (str(org.id), f"{org.name} ({org.region})") for org in advisory.police_options(item)
            ]
        },
        page_title="Route the request to police",
    )


@blueprint.route("/<request_id>/decline", methods=["GET", "POST"])
@signed_in_required
def decline(request_id: str) -> Any:
    """The coordinator declines the request, saying why."""
    return _step_page(
        request_id,
        "decline",
        "records/advisory/decline.html",
        ("decline_reason",),
        advisory.decline_request,
        "The request has been declined. The institution can see your reason.",
        page_title="Decline the request",
    )


@blueprint.route("/<request_id>/answer", methods=["GET", "POST"])
@signed_in_required
def answer(request_id: str) -> Any:
    """Police answer with a rating, a short rationale and an expiry date."""
    return _step_page(
        request_id,
        "answer",
        "records/advisory/answer.html",
        ("rating", "rationale", "expires_on"),
        advisory.answer_request,
        "Your rating has been recorded and the institution can see it.",
        rating_options=RATING_OPTIONS,
        page_title="Answer with an advisory rating",
    )


@blueprint.route("/<request_id>/withdraw", methods=["GET", "POST"])
@signed_in_required
def withdraw(request_id: str) -> Any:
    """The requesting institution withdraws its request."""
    return _step_page(
        request_id,
        "withdraw",
        "records/advisory/withdraw.html",
        (),
        lambda actor, item, _values: advisory.withdraw_request(actor, item),
        "The request has been withdrawn.",
        page_title="Withdraw the request",
    )


# --- the annual return --------------------------------------------------------------------


def _return_from_args() -> tuple[returns.AnnualReturn | None, dict[str, list[str]], dict]:
    actor = current_actor()
    returns.require_view(actor)
    values = {"basis": request.args.get("basis", ""), "year": request.args.get("year", "")}
    try:
        basis, year = returns.read_args(values["basis"], values["year"], advisory.local_today())
    except ValidationFailed as exc:
        return None, exc.errors, values
    return returns.annual_return(actor, basis, year), {}, {"basis": basis, "year": year}


@returns_blueprint.get("")
@signed_in_required
def annual_return() -> Any:
    """Events decided in a year: approved, approved with conditions, rejected by reason."""
    result, errors, values = _return_from_args()
    return _render(
        "records/returns/annual.html",
        result=result,
        errors=errors,
        values=values,
        reasons=REASON_LABELS,
        min_institutions=returns.MIN_INSTITUTIONS,
        page_title="Annual return",
    ), (422 if errors else 200)


@returns_blueprint.get("/annual.csv")
@signed_in_required
def annual_return_csv() -> Any:
    """The annual return as CSV (one header row and one row of counts)."""
    result, errors, _values = _return_from_args()
    if result is None:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    name = "region" if result.scope == "region" else current_actor().org_slug or "return"
    filename = f"annual-return-{name}-{result.period.basis}-{result.period.year}.csv"
    return Response(
        returns.to_csv(result),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


REASON_LABELS = {
    "health_and_safety": "Health and safety",
    "procedural": "Procedural",
    "prevent": "Prevent",
    "other": "Other",
}
