"""The acting party of the current request, and guards that views use to require one."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, url_for

from core.errors import NotAuthenticated, PermissionDenied
from core.security import Actor, ActorKind

F = TypeVar("F", bound=Callable[..., Any])


def current_actor() -> Actor:
    """The Actor for this request (anonymous if no one is signed in)."""
    actor = g.get("actor")
    if actor is None:
        actor = Actor.anonymous(request_id=g.get("request_id"), remote_addr=request.remote_addr)
        g.actor = actor
    return actor


def route_template() -> str:
    """The route this request matched, as written in the code (`/api/v1/speakers/<speaker_id>`),
    never the path as sent: a path can carry anything a caller types, and what goes into the
    audit log can never be erased."""
    rule = request.url_rule
    return rule.rule if rule is not None else "(no route)"


def is_api_request() -> bool:
    """API paths answer problem documents rather than pages."""
    return request.path.startswith(("/api/", "/.well-known/", "/oauth/"))


def signed_in_required(view: F) -> F:
    """Pages need a fully signed-in person (password and, where required, second factor);
    others are sent to the sign-in page (`HUB_SIGN_IN_ENDPOINT`)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_actor().kind == ActorKind.ANONYMOUS:
            if is_api_request():
                raise NotAuthenticated("Sign in, or present an access token.")
            sign_in = current_app.config["HUB_SIGN_IN_ENDPOINT"]
            return redirect(url_for(sign_in, next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def roles_required(*roles: str, action: str) -> Callable[[F], F]:
    """Require a signed-in person holding one of `roles`; refusals are audited as `action`."""

    def decorator(view: F) -> F:
        @wraps(view)
        @signed_in_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if not actor.has_role(*roles):
                raise PermissionDenied(
                    "You do not have a role that allows this.",
                    reason="role_required",
                    audit={
                        "action": action,
                        "resource_type": "page",
                        "resource_ids": [route_template()],
                    },
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a same-site path only (no open redirects), else the
    home page (`HUB_HOME_ENDPOINT`)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
        ):
            return target
    return url_for(current_app.config["HUB_HOME_ENDPOINT"])
