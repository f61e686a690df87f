"""The acting party that every service receives in place of the request."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


class ActorKind(enum.StrEnum):
    """What kind of party acts."""

    PERSON = "person"  # someone signed in to the hub's pages
    CLIENT = "client"  # a partner system with an access token
    SYSTEM = "system"  # the hub itself: CLI commands, scheduled work
    ANONYMOUS = "anonymous"  # someone not (yet) signed in


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person, an OAuth client, or the hub itself, with its organisation."""

    kind: ActorKind
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
    def person_id(self) -> uuid.UUID | None:
        """The id of the person acting (None for a partner system, the hub or anyone else)."""
        return uuid.UUID(self.id) if self.kind == ActorKind.PERSON and self.id else None

    @property
    def is_hub_admin(self) -> bool:
        """The operator (CLI, scheduled jobs) and hub-organisation people with `org_admin`."""
        if self.kind == ActorKind.SYSTEM:
            return True
        return (
            self.kind == ActorKind.PERSON and self.org_kind == "hub" and "org_admin" in self.roles
        )

    @classmethod
    def system(cls, label: str = "hub", request_id: str | None = None) -> Actor:
        """The hub acting on its own account (CLI commands, scheduled work)."""
        return cls(kind=ActorKind.SYSTEM, label=label, request_id=request_id or str(uuid.uuid4()))

    @classmethod
    def anonymous(cls, request_id: str | None = None, remote_addr: str | None = None) -> Actor:
        """Someone not yet signed in (sign-in attempts are audited as this)."""
        return cls(
            kind=ActorKind.ANONYMOUS,
            label="anonymous",
            request_id=request_id or str(uuid.uuid4()),
            remote_addr=remote_addr,
        )
