"""The hub's error family: RFC 9457 problem details on the API, GOV.UK errors on pages."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://prevent-hub.example/problems/"


class HubError(Exception):
    """A refusal or failure the hub explains to the person or system that caused it."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        audit: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}
        self.reason = reason or self.slug.replace("-", "_")
        self.headers = headers or {}
        # When set, the edge records this refusal in the audit log after rolling back the
        # request's own changes: keys are `audit.services.record` arguments (action, ...).
        self.audit = audit
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            problem["instance"] = instance
        if self.errors:
            problem["errors"] = self.errors
        problem.update(self.extra)
        return problem


class ValidationFailed(HubError):
    """Input that breaks a rule: missing, malformed or contradictory fields."""

    status = 422
    slug = "validation-failed"
    title = "The request has invalid fields"


class BadRequest(HubError):
    """A request the hub cannot read at all (malformed body, wrong content type)."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


class NotAuthenticated(HubError):
    """No valid credentials were presented."""

    status = 401
    slug = "not-authenticated"
    title = "Sign in required"


class PermissionDenied(HubError):
    """The actor is known but may not do this."""

    status = 403
    slug = "permission-denied"
    title = "Permission denied"


class NotFound(HubError):
    """No such resource, or none the actor may know exists."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(HubError):
    """The change clashes with the current state (a duplicate, a stale version)."""

    status = 409
    slug = "conflict"
    title = "Conflict"
