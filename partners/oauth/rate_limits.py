"""Rate limits on the API, per partner client (Flask-Limiter; Redis in production).

A request an access token authenticated counts against its OAuth client, whatever address it
comes from; any other API request counts against its remote address. The limit is
`HUB_API_RATE_LIMIT` ("600 per minute" by default), shared by every API endpoint. Going over it
answers 429 as a problem document with `Retry-After`.

The check must run after `partners.oauth.resource.authenticate_api_request` has set
`g.oauth_client`, so `init_app` is called once the application's request hooks are registered.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

EXTENSION = "hub_api_limiter"


def client_key() -> str:
    """Whose budget a request spends: its OAuth client's, else its address's."""
    client = g.get("oauth_client")
    if client is not None:
        return f"client:{client.client_id}"
    return f"address:{get_remote_address()}"


def api_limit() -> str:
    """The configured limit (read per request, so tests and operators can change it)."""
    return current_app.config["HUB_SETTINGS"].api_rate_limit


def _not_api() -> bool:
    return not request.path.startswith("/api/")


def init_app(app: Flask) -> Limiter | None:
    """Limit every `/api/` request of `app` (once; later calls change nothing)."""
    if EXTENSION in app.extensions:
        return app.extensions[EXTENSION]
    settings = app.config["HUB_SETTINGS"]
    # A limiter of its own, not the shared `hub.core.extensions.limiter`: its check has to run
    # after token authentication, and the shared one is bound before the request hooks exist.
    limiter = Limiter(
        key_func=client_key,
        application_limits=[api_limit],
        application_limits_exempt_when=_not_api,
        storage_uri=settings.ratelimit_storage_uri,
        # If Redis is unreachable, count in this process rather than fail every API call.
        in_memory_fallback_enabled=True,
        headers_enabled=True,
        key_prefix="hub-api",
    )
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    return limiter
