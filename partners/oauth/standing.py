"""What every token request and API call asks of policy, cheaply and exactly: a client's
standing (active, its organisation active, when its tokens were last revoked) and the revoked
token ids, served from `core.policy`'s cache (a suspension, reinstatement or revocation is
seen by the next request on every worker)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from core import policy
from core.db import db, utcnow
from partners.models import ClientAuthMethod, OAuthClient, Organisation, RevokedToken, Status


@dataclass(frozen=True)
class OrganisationStanding:
    """A client's organisation, as policy needs it."""

    id: Any
    slug: str
    kind: Any
    status: Status

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE


@dataclass(frozen=True)
class ClientStanding:
    """A registered client as the authorization server and the API read it: the fields of
    `OAuthClient` they use, frozen (it is shared by every request of a policy generation)."""

    id: Any
    client_id: str
    organisation_id: Any
    organisation: OrganisationStanding
    name: str
    auth_method: ClientAuthMethod
    jwks: Any
    jwks_uri: str | None
    secret_hash: str | None
    scopes: str
    dpop_bound: bool
    status: Status
    revoked_at: datetime | None

    scope_set = OAuthClient.scope_set
    issued_before_revocation = OAuthClient.issued_before_revocation
    is_active = OAuthClient.is_active

    @classmethod
    def of(cls, model: OAuthClient) -> ClientStanding:
        organisation: Organisation = model.organisation
        return cls(
            id=model.id,
            client_id=model.client_id,
            organisation_id=model.organisation_id,
            organisation=OrganisationStanding(
                organisation.id, organisation.slug, organisation.kind, organisation.status
            ),
            name=model.name,
            auth_method=model.auth_method,
            jwks=copy.deepcopy(model.jwks),
            jwks_uri=model.jwks_uri,
            secret_hash=model.secret_hash,
            scopes=model.scopes,
            dpop_bound=model.dpop_bound,
            status=model.status,
            revoked_at=model.revoked_at,
        )


def client(client_id: str) -> ClientStanding | None:
    """The registered client `client_id` (active or not), or None. Every client is loaded at
    once, per generation: a hub has tens or hundreds, and an id a caller makes up must not
    grow the cache."""

    def load() -> dict[str, ClientStanding]:
        models = db.session.scalars(
            sa.select(OAuthClient).options(joinedload(OAuthClient.organisation))
        )
        return {model.client_id: ClientStanding.of(model) for model in models}

    return policy.cached("oauth_clients", None, load).get(client_id)


def is_revoked(jti: str) -> bool:
    """Whether the access token `jti` was revoked (RFC 7009) and has not yet expired."""

    def load() -> frozenset[str]:
        return frozenset(
            db.session.scalars(
                sa.select(RevokedToken.jti).where(RevokedToken.expires_at > utcnow())
            )
        )

    return jti in policy.cached("revoked_tokens", None, load)
