"""How each API operation may be called, declared once beside it by one decorator that both
enforces the declaration and writes the operation's OpenAPI security requirement.

- `require_scope("speakers:read")`: a partner system's access token must hold that scope (or
  any one of several named). People signed in with a browser session hold roles, not scopes:
  their roles are judged by the services, as for the pages.
- `any_token`: any valid access token (the caller's own identity, the partner directory).
- `public`: no credentials at all (what the log's witnesses need).
- No declaration: people only. `partners.oauth.resource` refuses an access token on any
  resource (flask-smorest `MethodView`) operation that declares nothing, so an operation
  that forgets its decorator fails closed.

Put the decorator first (outermost), so that a token without the scope is refused before its
body is parsed. It lives in `core`, not the web edge, because the API modules of every layer
(audit, partners, agreements, records) declare their operations, and a lower layer may not
import a higher one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import request
from flask_smorest import Blueprint

from core.errors import PermissionDenied
from core.request import current_actor, route_template
from core.security import ActorKind

F = TypeVar("F", bound=Callable[..., Any])

#: The OpenAPI security schemes (`hub.web.openapi` describes them).
OAUTH2 = "oauth2"
DPOP = "DPoP"
SESSION = "session"
#: The attribute of a view method that holds its declared `Access`.
ATTRIBUTE = "hub_access"


@dataclass(frozen=True)
class Access:
    """How an operation may be called: `scopes` a token needs (any one of them; none: any
    token), or `public` (no credentials)."""

    scopes: tuple[str, ...] = ()
    public: bool = False

    def security(self) -> list[dict[str, list[str]]]:
        """The operation's OpenAPI security requirement (alternatives: any one suffices)."""
        if self.public:
            return []
        scopes = [[scope] for scope in self.scopes] or [[]]
        return [
            *({OAUTH2: needed} for needed in scopes),
            *({DPOP: needed} for needed in scopes),
            {SESSION: []},
        ]

    def refuses(self, scopes: frozenset[str]) -> bool:
        """Whether a token holding `scopes` lacks what this operation needs."""
        return bool(self.scopes) and not scopes.intersection(self.scopes)


def _declare(access: Access) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor.kind == ActorKind.CLIENT and access.refuses(actor.scopes):
                raise insufficient_scope(actor.id, access.scopes)
            return view(*args, **kwargs)

        setattr(wrapper, ATTRIBUTE, access)
        return Blueprint.doc(security=access.security())(wrapper)

    return decorator


def require_scope(scope: str, *alternatives: str) -> Callable[[F], F]:
    """A partner token must hold `scope` (or one of `alternatives`) to make this call."""
    return _declare(Access(scopes=(scope, *alternatives)))


def any_token(view: F) -> F:
    """Any valid access token may make this call (nothing about anyone is read)."""
    return _declare(Access())(view)


def public(view: F) -> F:
    """Anyone may make this call, without credentials."""
    return _declare(Access(public=True))(view)


def declared_access(view_function: Any, method: str) -> Access | None:
    """What `method` of a routed view declares; None if nothing (people only, for a resource)."""
    view_class = getattr(view_function, "view_class", None)
    handler = getattr(view_class or view_function, method.lower(), None)
    if handler is None and method.upper() == "HEAD":
        handler = getattr(view_class, "get", None)
    return getattr(handler, ATTRIBUTE, None)


def insufficient_scope(client_id: str | None, needed: tuple[str, ...]) -> PermissionDenied:
    """The refusal of a token that lacks the scope a call needs (RFC 6750 section 3.1)."""
    scheme = "DPoP" if request.headers.get("Authorization", "")[:5].lower() == "dpop " else "Bearer"
    if needed:
        detail = f"This call needs the scope {' or '.join(needed)}."
        challenge = f'{scheme} error="insufficient_scope", scope="{" ".join(needed)}"'
    else:
        detail = (
            "This call is for people signed in to the hub: no token scope covers it, so partner "
            "systems cannot make it."
        )
        challenge = f'{scheme} error="insufficient_scope"'
    return PermissionDenied(
        detail,
        reason="insufficient_scope",
        headers={"WWW-Authenticate": challenge},
        audit={
            "action": "api.access",
            "resource_type": "oauth_client",
            "resource_ids": [client_id] if client_id else [],
            "method": request.method,
            "path": route_template(),
            "scopes_needed": list(needed),
        },
    )
