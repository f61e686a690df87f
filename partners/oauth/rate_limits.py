"""Rate limits on the API, per partner client, and on the authorization server's endpoints,
per claimed client id and per address (Redis in production).

A request an access token authenticated counts against its OAuth client, whatever address it
comes from; any other API request counts against its remote address. The limit is
`HUB_API_RATE_LIMIT` ("600 per minute" by default), shared by every API endpoint and by every
host and worker. Going over it answers 429 as a problem document with `Retry-After`; every API
answer says the limit, what is left of it and when the window ends (`X-RateLimit-*`).

The API's budgets are `core.budgets`: leased from Redis in chunks, so that a partner's call
does not wait on Redis each time. The authorization server's endpoints use Flask-Limiter (a
refused token request is audited in aggregate, below).

The check must run after `partners.oauth.resource.authenticate_api_request` has set
`g.oauth_client`, so `init_app` is called once the application's request hooks are registered.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import TooManyRequests

from audit.actions import API_ACCESS
from audit.refusals import keep
from core.budgets import Budgets, Decision, first_refusal
from core.extensions import limiter, limits_off
from core.request import current_actor, route_template
from core.security import Actor
from partners.oauth import server

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

EXTENSION = "hub_api_limiter"
_DECISION = "hub_api_rate_limit"


def client_key() -> str:
    """Whose budget a request spends: its OAuth client's, else its address's."""
    client = g.get("oauth_client")
    if client is not None:
        return f"client:{client.client_id}"
    return f"address:{get_remote_address()}"


def api_limit() -> str:
    """The configured limit (read per request, so tests and operators can change it)."""
    return current_app.config["HUB_SETTINGS"].api_rate_limit


class ApiLimiter:
    """Every `/api/` request spends one admission of its caller's budget (`client_key`)."""

    def __init__(self, storage_uri: str) -> None:
        self.budgets = Budgets(storage_uri, prefix="hub-api")

    def check(self) -> None:
        """A before-request hook: refuse the call when its caller's budget is spent. A request
        made again by the edge (`HubFlask.full_dispatch_request`) spends once: its decision is
        kept with the request, not with the attempt."""
        if limits_off() or not request.path.startswith("/api/"):
            return
        key, limit = client_key(), api_limit()
        decision = request.environ.get(_DECISION)
        if decision is None:
            decision = request.environ[_DECISION] = self.budgets.spend(key, limit)
        if not decision.admitted:
            self._keep_refusal(key, limit, decision)
            raise TooManyRequests(
                "This client has made too many API calls; "
                f"the limit is {limit}, shared by every API endpoint.",
                retry_after=_seconds_left(decision),
            )

    def _keep_refusal(self, key: str, limit: str, decision: Decision) -> None:
        """Audit the refusal in aggregate, as the authorization server's are: the first of
        each window of the caller's budget, with how many went unrecorded before it."""
        unrecorded = self.budgets.first_refusal(key, decision, limit)
        if unrecorded is None:
            return
        client = g.get("oauth_client")
        keep(
            current_actor(),
            API_ACCESS,
            "rate_limited",
            resource_type="oauth_client",
            resource_ids=[client.client_id] if client is not None else [],
            path=route_template(),
            keyed_by="client" if client is not None else "address",
            limit=limit,
            refused_unrecorded=unrecorded,
        )

    def add_headers(self, response: Response) -> Response:
        """An after-request hook: tell the caller its budget."""
        decision: Decision | None = request.environ.get(_DECISION)
        if decision is not None:
            response.headers["X-RateLimit-Limit"] = str(decision.limit)
            response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
            response.headers["X-RateLimit-Reset"] = str(decision.reset_at)
        return response

    def reset(self) -> None:
        """Give every caller a fresh budget (tests)."""
        self.budgets.reset()


def _seconds_left(decision: Decision) -> int:
    return max(1, int(decision.reset_at - time.time()))


def init_app(app: Flask) -> ApiLimiter:
    """Limit every `/api/` request of `app` (once; later calls change nothing)."""
    if EXTENSION in app.extensions:
        return app.extensions[EXTENSION]
    api_limiter = ApiLimiter(app.config["HUB_SETTINGS"].ratelimit_storage_uri)
    app.before_request(api_limiter.check)
    app.after_request(api_limiter.add_headers)
    app.extensions[EXTENSION] = api_limiter
    return api_limiter


# --- the authorization server's endpoints ------------------------------------------------------
#
# `/oauth/token`, `/oauth/revoke` and `/oauth/introspect` share two budgets of
# `HUB_OAUTH_RATE_LIMIT` each: one per claimed client id (whatever the address; a
# client_secret_basic guess is refused before argon2 runs), one per address (whatever ids it
# claims). They use the shared limiter, whose check runs before the view.


def oauth_limit() -> str:
    """The configured limit of each budget (read per request)."""
    return current_app.config["HUB_SETTINGS"].oauth_rate_limit


def claimed_client_id() -> str | None:
    """The client id a token, revocation or introspection request claims, before anything is
    verified: the form's client_id, the Basic user name, or the client assertion's subject."""
    claimed = request.form.get("client_id")
    if claimed:
        return claimed
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic" and authorization.username:
        return authorization.username
    assertion = request.form.get("client_assertion", "")
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject if isinstance(subject, str) and subject else None


def _address_key() -> str:
    return f"address:{get_remote_address()}"


def _claimed_client_key() -> str:
    """A claimed id's budget; hashed, so that no caller's free text is stored."""
    claimed = claimed_client_id()
    if claimed is None:
        return _address_key()
    return "client:" + hashlib.sha256(claimed.encode()).hexdigest()[:32]


def audit_throttled(limit: RequestLimit) -> None:
    """Record the authorization server's refusals in aggregate (`core.budgets.first_refusal`)."""
    unrecorded = first_refusal(
        limiter.storage, limit.key, limit.reset_at, int(limit.limit.get_expiry())
    )
    if unrecorded is None:
        return
    keyed_by = "client" if "/client:" in limit.key else "address"
    claimed = claimed_client_id() if keyed_by == "client" else None
    reference = server.claimed_client_reference(claimed)
    keep(
        Actor.anonymous(request_id=g.get("request_id"), remote_addr=request.remote_addr),
        request.endpoint or "oauth",
        "rate_limited",
        resource_type="oauth_client",
        resource_ids=[reference] if reference else [],
        keyed_by=keyed_by,
        limit=str(limit.limit),
        refused_unrecorded=unrecorded,
    )


_ADMITTED = "hub.oauth_admitted"  # a WSGI environ key: both budgets let this request in


def _admitted_before() -> bool:
    """Whether the budgets are not asked: limits are off, or they let this request in already
    (a request the edge makes again spends once)."""
    return limits_off() or request.environ.get(_ADMITTED, False)


def oauth_endpoint(view: F) -> F:
    """Limit a view of the authorization server per claimed client id and per address."""

    @functools.wraps(view)
    def admitted(*args: Any, **kwargs: Any) -> Any:
        request.environ[_ADMITTED] = True
        return view(*args, **kwargs)

    limited: Any = admitted
    for scope, key in (("oauth-address", _address_key), ("oauth-client", _claimed_client_key)):
        limited = limiter.shared_limit(
            oauth_limit,
            scope=scope,
            key_func=key,
            exempt_when=_admitted_before,
            on_breach=audit_throttled,
        )(limited)
    return limited
