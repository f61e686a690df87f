"""One error path: problem details (RFC 9457) for the API, GOV.UK error pages for people."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Response,
    current_app,
    g,
    has_request_context,
    jsonify,
    render_template,
    session,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, InternalServerError

from audit.refusals import keep_refusal
from core.db import db, is_unavailable
from core.errors import PROBLEM_BASE, HubError
from core.request import current_actor, is_api_request

log = logging.getLogger(__name__)

PAGE_MESSAGES = {
    400: ("There is a problem with your request", "The request could not be understood."),
    403: ("You do not have permission to see this page", "Your roles do not allow this."),
    404: ("Page not found", "If you typed the web address, check it is correct."),
    405: ("This action is not allowed here", "Go back and try again from the page you were on."),
    409: ("This change could not be made", "It clashes with the current state of the record."),
    413: ("The file or form is too large", "Files and forms must be 5 MB or smaller."),
    422: ("There is a problem", "Some of the information is not valid."),
    429: ("Too many requests", "Wait a moment and try again."),
    500: ("Sorry, there is a problem with the service", "Try again later. Nothing was changed."),
    503: (
        "Sorry, the service is unavailable",
        "The hub cannot reach its database just now. Try again in a few minutes. "
        "Nothing was changed.",
    ),
}
#: What an error says about the request's changes, by how far its commit got.
NOTHING_CHANGED = "Nothing was changed."
SAVED = (
    "Your change was saved, but the hub could not finish its answer: look at the record "
    "before trying again (or retry with the same Idempotency-Key)."
)
UNCONFIRMED = (
    "The hub could not confirm whether your change was saved: look at the record before "
    "trying again (or retry with the same Idempotency-Key)."
)


@event.listens_for(Session, "before_commit")
def _commit_started(session: Session) -> None:
    if has_request_context() and not session.info.get("hub_refusal"):
        g.hub_commit = "started"


@event.listens_for(Session, "after_commit")
def _commit_done(session: Session) -> None:
    if has_request_context() and g.get("hub_commit") == "started":
        g.hub_commit = "done"


def _what_changed() -> str:
    """Whether the request's change was committed, as an error must honestly say."""
    state = g.get("hub_commit") if has_request_context() else None
    return {"done": SAVED, "started": UNCONFIRMED}.get(state or "", NOTHING_CHANGED)


def _rollback_quietly() -> None:
    """Undo the request's changes; with the database away, the rollback itself may fail."""
    try:
        db.session.rollback()
    except Exception:
        db.session.remove()


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A problem document with the `application/problem+json` media type."""
    response = jsonify(problem)
    response.status_code = problem["status"]
    response.mimetype = "application/problem+json"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def record_refusal(action: str, reason: str, **details: Any) -> None:
    """Audit a refusal the hub itself makes at the edge (a failed CSRF check), as any other."""
    keep_refusal(
        current_actor(), HubError(reason, reason=reason, audit={"action": action, **details})
    )


def render_error_page(
    status: int,
    detail: str | None = None,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> tuple[str, int]:
    """The styled page for an error status."""
    default_title, default_detail = PAGE_MESSAGES.get(status, PAGE_MESSAGES[400])
    return (
        render_template(
            "errors/error.html",
            status=status,
            title=title or default_title,
            detail=detail or default_detail,
            errors=errors or {},
        ),
        status,
    )


def handle_hub_error(exc: HubError) -> Any:
    """Refusals and rule breaks raised by services: every one is audited, the same way."""
    keep_refusal(current_actor(), exc)
    if is_api_request():
        return problem_response(exc.to_problem(), exc.headers)
    body, status = render_error_page(exc.status, exc.detail, errors=exc.errors)
    return body, status, exc.headers


def handle_http_exception(exc: HTTPException) -> Any:
    """Werkzeug's errors (unknown routes, CSRF failures, oversize bodies, schema errors)."""
    if isinstance(exc, InternalServerError) and exc.original_exception is not None:
        # Flask wraps what an after-request hook raises (the API's commit, say) in a 500 of
        # its own: answer it as the error it is.
        return handle_exception(exc.original_exception)
    status = exc.code or 500
    if isinstance(exc, CSRFError):
        record_refusal("request.csrf", "csrf_token_invalid")
        detail = (
            "The form could not be sent because its security token was missing or has expired. "
            "Go back, reload the page and try again."
        )
        if is_api_request():
            return problem_response(_problem(status, "csrf-failed", "CSRF check failed", detail))
        return render_error_page(400, detail, "Your form could not be sent")
    if is_api_request():
        detail = exc.description or ""
        problem = _problem(status, _slug(status), exc.name, detail)
        messages = (getattr(exc, "data", None) or {}).get("messages")
        if messages:
            problem["errors"] = _flatten_messages(messages)
            problem["detail"] = "The request has invalid fields: " + ", ".join(problem["errors"])
        return problem_response(problem, dict(_retry_after(exc)))
    return render_error_page(status)


def handle_exception(exc: Exception) -> Any:
    """Anything else is a bug: log it, undo the request's changes, never show a trace."""
    if isinstance(exc, HubError):
        return handle_hub_error(exc)
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    changed = _what_changed()
    _rollback_quietly()
    if changed != SAVED and has_request_context():
        session.pop("_flashes", None)  # a page's "saved" message would not be true
    if is_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        wait = str(current_app.config["HUB_SETTINGS"].retry_after_seconds)
        detail = "The hub cannot reach its database just now. " + changed
        if is_api_request():
            problem = _problem(503, "service-unavailable", "Service unavailable", detail)
            return problem_response(problem, {"Retry-After": wait})
        body, status = render_error_page(503, detail)
        return body, status, {"Retry-After": wait}
    log.exception("unhandled error")
    if is_api_request():
        return problem_response(
            _problem(
                500,
                "internal-error",
                "Internal error",
                "Something went wrong on our side. " + changed,
            )
        )
    return render_error_page(500, "Try again later. " + changed)


def _problem(status: int, slug: str, title: str, detail: str) -> dict[str, Any]:
    return {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}


def _slug(status: int) -> str:
    return {
        400: "bad-request",
        401: "not-authenticated",
        403: "permission-denied",
        404: "not-found",
        405: "method-not-allowed",
        409: "conflict",
        413: "too-large",
        415: "unsupported-media-type",
        422: "validation-failed",
        429: "too-many-requests",
    }.get(status, f"http-{status}")


def _flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """flask-smorest nests errors by location and field; problem `errors` is flat."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            # Drop the location level ("json", "query") but keep field paths.
            name = (
                key
                if prefix
                or key not in {"json", "query", "form", "headers", "files", "path", "view_args"}
                else ""
            )
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            for field_name, items in _flatten_messages(value, path).items():
                flat.setdefault(field_name, []).extend(items)
    elif isinstance(messages, list):
        if all(isinstance(item, str) for item in messages):
            flat[prefix or "_schema"] = list(messages)
        else:
            for item in messages:
                for field_name, items in _flatten_messages(item, prefix).items():
                    flat.setdefault(field_name, []).extend(items)
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def _retry_after(exc: HTTPException) -> list[tuple[str, str]]:
    response = exc.get_response()
    value = response.headers.get("Retry-After")
    return [("Retry-After", value)] if value else []
