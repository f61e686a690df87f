"""Protecting the API: access tokens (Bearer or DPoP-bound), the client behind them, and the
purpose and end user every partner call states."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from audit.actions import API_ACCESS
from core import access
from core.errors import BadRequest, NotAuthenticated
from core.request import route_template
from partners.oauth import dpop, standing
from partners.oauth.server import client_actor, decode_access_token

PURPOSE_HEADER = "Hub-Purpose"
ON_BEHALF_HEADER = "Hub-On-Behalf-Of"
#: Reads of partners' data name the member of staff the call is made for.
ON_BEHALF_REQUIRED_PREFIXES = ("/api/v1/shared/",)
#: Paths a token reaches without stating a purpose (nothing about anyone is read there).
PURPOSE_FREE_PREFIXES = (
    "/api/v1/audit/",
    "/api/v1/me",
    "/api/v1/notifications",
    "/api/v1/webhooks",
    "/api/v1/agreements",
    "/api/openapi.json",
)


def _refuse(
    description: str,
    reason: str,
    scheme: str = "Bearer",
    error: str = "invalid_token",
    client_id: str | None = None,
    **headers: str,
) -> NotAuthenticated:
    challenge = f'{scheme} error="{error}", error_description="{description}"'
    if scheme == "DPoP":
        challenge += ', algs="ES256 EdDSA"'
    return NotAuthenticated(
        description,
        reason=reason,
        headers={"WWW-Authenticate": challenge, **headers},
        audit={
            "action": API_ACCESS,
            "resource_type": "oauth_client",
            "resource_ids": [client_id] if client_id else [],
            "path": route_template(),
        },
    )


def external_url() -> str:
    """This request's URL as the client sees it (behind a proxy the hub's base URL)."""
    base = current_app.config["HUB_SETTINGS"].base_url.rstrip("/")
    return base + request.path


def authenticate_api_request() -> None:
    """Set `g.actor` from an access token on API requests that carry one."""
    if not request.path.startswith("/api/"):
        return
    header = request.headers.get("Authorization", "")
    if not header:
        return
    scheme, _, token = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in {"bearer", "dpop"} or not token.strip():
        raise _refuse("Send an access token as Bearer or DPoP.", "bad_authorization_header")
    token = token.strip()
    claims = decode_access_token(token)
    if claims is None:
        raise _refuse("The access token is not valid or has expired.", "invalid_token")
    client_id = claims["client_id"]
    if standing.is_revoked(claims["jti"]):
        raise _refuse("The access token was revoked.", "token_revoked", client_id=client_id)
    client = standing.client(client_id)
    if client is None or not client.is_active or not client.organisation.is_active:
        raise _refuse(
            "The client or its organisation is suspended.", "client_suspended", client_id=client_id
        )
    if client.issued_before_revocation(claims["iat"]):
        raise _refuse("The access token was revoked.", "token_revoked", client_id=client_id)
    bound = (claims.get("cnf") or {}).get("jkt")
    if bound:
        if scheme != "dpop":
            raise _refuse(
                "This token is DPoP-bound: present it with the DPoP scheme and a proof.",
                "dpop_token_as_bearer",
                scheme="DPoP",
                client_id=client_id,
            )
        try:
            proof = dpop.verify(
                request.headers.get("DPoP"), request.method, external_url(), access_token=token
            )
        except dpop.DPoPError as exc:
            extra = {"DPoP-Nonce": dpop.new_nonce()} if exc.error == "use_dpop_nonce" else {}
            raise _refuse(
                exc.description,
                f"dpop_{exc.error}",
                scheme="DPoP",
                error=exc.error,
                client_id=client_id,
                **extra,
            ) from exc
        if proof.jkt != bound:
            raise _refuse(
                "The DPoP proof is signed by another key than the token's.",
                "dpop_key_mismatch",
                scheme="DPoP",
                client_id=client_id,
            )
    elif scheme == "dpop":
        raise _refuse(
            "This token is not DPoP-bound: use the Bearer scheme.",
            "not_dpop_bound",
            client_id=client_id,
        )
    purpose = request.headers.get(PURPOSE_HEADER) or None
    on_behalf_of = (request.headers.get(ON_BEHALF_HEADER) or "").strip()[:200] or None
    g.actor = client_actor(
        client,
        scopes=frozenset(claims.get("scope", "").split()),
        purpose=purpose,
        on_behalf_of=on_behalf_of,
        request_id=g.get("request_id"),
        remote_addr=request.remote_addr,
    )
    g.oauth_client = client
    _refuse_undeclared(client_id)
    if request.path.startswith(ON_BEHALF_REQUIRED_PREFIXES) and on_behalf_of is None:
        raise BadRequest(
            f"Name the member of staff this call is made for in the {ON_BEHALF_HEADER} header.",
            reason="on_behalf_of_missing",
            audit={
                "action": API_ACCESS,
                "resource_type": "oauth_client",
                "resource_ids": [client_id],
                "path": route_template(),
            },
        )
    if not request.path.startswith(PURPOSE_FREE_PREFIXES):
        if purpose is None:
            raise BadRequest(
                f"State the purpose of this call in the {PURPOSE_HEADER} header.",
                reason="purpose_missing",
                audit=_purpose_refusal(),
            )
        known = current_app.config["HUB_PURPOSES"]
        if purpose not in known:
            raise BadRequest(
                f"'{purpose}' is not a purpose the hub knows: use one of "
                f"{', '.join(sorted(known))}.",
                reason="purpose_unknown",
                audit=_purpose_refusal(),
            )


def _purpose_refusal() -> dict[str, str]:
    return {"action": API_ACCESS, "resource_type": "purpose", "path": route_template()}


def _refuse_undeclared(client_id: str) -> None:
    """A resource operation that declares no access (`core.access`) is for people only:
    a token never reaches it, whatever its scopes."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "view_class", None) is None:  # not a resource (the OpenAPI document)
        return
    if access.declared_access(view, request.method) is None:
        raise access.insufficient_scope(client_id, ())


def add_dpop_nonce(response: Any) -> Any:
    """Give clients a fresh nonce when the hub asks for them."""
    if dpop.nonce_required() and (
        request.path.startswith("/api/") or request.path.startswith("/oauth/")
    ):
        response.headers.setdefault("DPoP-Nonce", dpop.new_nonce())
    return response
