"""Who is signed in: resolve the session cookie to a person on every request."""

from __future__ import annotations

from flask import current_app, g, request, session

from core.db import db
from core.extensions import csrf
from core.request import is_api_request
from core.security import Actor
from partners import signin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_csrf() -> None:
    """Every form post carries a CSRF token; so does an API write made with a session cookie.

    API calls without a session cookie authenticate by token (or not at all) and are judged
    by the API's own authentication instead.
    """
    if request.method in SAFE_METHODS or request.endpoint == "static":
        return
    if request.blueprint == "oauth":
        return  # the authorization server authenticates clients itself (no cookies there)
    if is_api_request() and "sid" not in session:
        return
    csrf.protect()


def load_signed_in_person() -> None:
    """Set `g.person` and `g.actor` (or `g.pending_person` mid sign-in) from the session."""
    g.person = None
    g.pending_person = None
    g.web_session = None
    g.actor = Actor.anonymous(request_id=g.get("request_id"), remote_addr=request.remote_addr)
    if request.endpoint == "static":
        return
    token = session.get("sid")
    if not token:
        return
    resolved = signin.resolve_session(token)
    if db.session.dirty:
        db.session.commit()  # session bookkeeping (last seen, ended) stands on its own
    if resolved is None:
        session.pop("sid", None)
        return
    web_session, person = resolved
    g.web_session = web_session
    settings = current_app.config["HUB_SETTINGS"]
    second_factor_done = web_session.mfa_at is not None or (
        not settings.require_mfa and not person.has_mfa
    )
    if second_factor_done:
        g.person = person
        g.actor = signin.actor_for(
            person, request_id=g.get("request_id"), remote_addr=request.remote_addr
        )
    else:
        g.pending_person = person
