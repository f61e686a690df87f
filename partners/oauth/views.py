"""The authorization server's endpoints: token, revocation, introspection, metadata, keys."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from audit.refusals import keep
from core.security import Actor
from partners import signing_keys as keys
from partners.oauth import dpop, rate_limits, server
from partners.oauth.resource import external_url

blueprint = Blueprint("oauth", __name__)


def _audit_failure(action: str, response: Any) -> None:
    """Every refused token, revocation or introspection request is recorded."""
    try:
        error = (response.get_json(silent=True) or {}).get("error", "error")
    except Exception:  # a non-JSON body still gets its status recorded
        error = "error"
    # A registered client by its id; an id nobody registered by a pseudonym only (a caller can
    # write anything there, and the log is never erased).
    claimed = server.claimed_client_reference(
        g.get("oauth_client_id") or rate_limits.claimed_client_id()
    )
    # An assertion or proof spent on the refused request stays spent (`oauth.replay`).
    keep(
        Actor.anonymous(request_id=g.get("request_id"), remote_addr=request.remote_addr),
        action,
        error[:80],
        resource_type="oauth_client",
        resource_ids=[claimed] if claimed else [],
        detail=g.get("oauth_refusal_reason", ""),
    )


@blueprint.post("/oauth/token")
@rate_limits.oauth_endpoint
def token() -> Any:
    """The token endpoint (client credentials; private_key_jwt; DPoP when bound)."""
    proof = request.headers.get("DPoP")
    if proof:
        try:
            g.dpop_jkt = dpop.verify(proof, "POST", external_url()).jkt
        except dpop.DPoPError as exc:
            response = jsonify(error=exc.error, error_description=exc.description)
            response.status_code = 400
            if exc.error == "use_dpop_nonce":
                response.headers["DPoP-Nonce"] = dpop.new_nonce()
            _audit_failure("oauth.token", response)
            return response
    response = server.authorization_server().create_token_response()
    if response.status_code >= 400:
        _audit_failure("oauth.token", response)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/oauth/revoke")
@rate_limits.oauth_endpoint
def revoke() -> Any:
    """RFC 7009 token revocation."""
    response = server.authorization_server().create_endpoint_response("revocation")
    if response.status_code >= 400:
        _audit_failure("oauth.revoke", response)
    return response


@blueprint.post("/oauth/introspect")
@rate_limits.oauth_endpoint
def introspect() -> Any:
    """RFC 7662 token introspection."""
    response = server.authorization_server().create_endpoint_response("introspection")
    if response.status_code >= 400:
        _audit_failure("oauth.introspect", response)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/.well-known/oauth-authorization-server")
def well_known_metadata() -> Any:
    """RFC 8414 metadata."""
    return jsonify(server.metadata())


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Any:
    """The keys that verify the hub's access tokens (old keys stay until their tokens expire)."""
    keys.signing_key()  # make sure there is one to publish
    body = jsonify(keys=keys.published_keys())
    return body
