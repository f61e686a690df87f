"""Security headers on every response: CSP without inline script, no framing, HSTS in production."""

from __future__ import annotations

from flask import Response, current_app, g, request

from core.security import ActorKind

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# Swagger UI sets inline styles on its elements; its page alone relaxes style-src for that.
API_DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def apply_security_headers(response: Response) -> Response:
    """Set the headers every page and API response carries."""
    settings = current_app.config["HUB_SETTINGS"]
    headers = response.headers
    policy = API_DOCS_CSP if request.path == "/api/docs" else CSP
    if g.get("csp_form_action"):  # a page whose form is answered by a redirect elsewhere
        policy = policy.replace("form-action 'self'", f"form-action {g.csp_form_action}")
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if not settings.is_development:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if g.get("request_id"):
        headers.setdefault("X-Request-Id", g.request_id)
    if g.get("actor") is not None and g.actor.kind == ActorKind.PERSON:
        # Pages about people and their access must not linger in shared caches or history.
        headers.setdefault("Cache-Control", "no-store")
    return response
