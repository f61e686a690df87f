"""The acting party that every service receives in place of the request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person, an OAuth client, or the hub itself, with its organisation."""

    kind: str  # "person" | "client" | "system" | "anonymous"
    id: str | None = None  # person or client id; None for system/anonymous
    label: str = ""  # a non-personal display label used in the audit log (never an email)
    org_id: str | None = None
    org_slug: str | None = None
    org_kind: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    purpose: str | None = None
    on_behalf_of: str | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remote_addr: str | None = None

    def has_role(self, *roles: str) -> bool:
        """True if the actor holds any of `roles` in its organisation."""
        return bool(self.roles.intersection(roles))

    @property
    def is_hub_admin(self) -> bool:
        """The operator (CLI, scheduled jobs) and hub-organisation people with `org_admin`."""
        if self.kind == "system":
            return True
        return self.kind == "person" and self.org_kind == "hub" and "org_admin" in self.roles

    def for_purpose(self, purpose: str | None) -> Actor:
        """The same actor, stating `purpose` for what follows."""
        return replace(self, purpose=purpose)

    @classmethod
    def system(cls, label: str = "hub", request_id: str | None = None) -> Actor:
        """The hub acting on its own account (CLI commands, scheduled work)."""
        return cls(kind="system", label=label, request_id=request_id or str(uuid.uuid4()))

    @classmethod
    def anonymous(cls, request_id: str | None = None, remote_addr: str | None = None) -> Actor:
        """Someone not yet signed in (sign-in attempts are audited as this)."""
        return cls(
            kind="anonymous",
            label="anonymous",
            request_id=request_id or str(uuid.uuid4()),
            remote_addr=remote_addr,
        )
