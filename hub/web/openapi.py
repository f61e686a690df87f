"""What the generated OpenAPI says beyond the blueprints' schemas: how to authenticate (OAuth 2.0
client credentials with private_key_jwt, DPoP-bound tokens, the browser session), which scopes
each operation needs, the purpose and end-user headers, and RFC 9457 problem responses.

flask-smorest builds the document from the blueprints as they are registered; `init_app` adds
an apispec plugin that completes every operation as it is added, so it must run after
`api.init_app(app)` and before the API blueprints are registered.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Flask
from flask_smorest import Api

from agreements.purposes import PURPOSES
from core.access import DPOP, OAUTH2, SESSION, Access
from core.errors import PROBLEM_BASE
from hub.web.openapi_examples import add_examples
from partners.oauth.resource import ON_BEHALF_REQUIRED_PREFIXES, PURPOSE_FREE_PREFIXES
from partners.oauth.scopes import SCOPES

PURPOSE_HEADER = "Hub-Purpose"
ON_BEHALF_HEADER = "Hub-On-Behalf-Of"
PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"

#: The generic error schemas flask-smorest and the blueprints use, replaced by ProblemDetails.
GENERIC_ERROR_SCHEMAS = {"#/components/schemas/Error", "#/components/schemas/Problem"}
#: flask-smorest's response components by status name (lazy, `application/json`, its own
#: error schema); each becomes a problem response of ours.
PROBLEM_RESPONSES = {
    400: "BadRequestProblem",
    401: "NotAuthenticatedProblem",
    403: "PermissionDeniedProblem",
    404: "NotFoundProblem",
    409: "ConflictProblem",
    422: "ValidationProblem",
    429: "TooManyRequestsProblem",
}
DEFAULT_PROBLEM = "Problem"


def access_of(operation: dict[str, Any]) -> Access | None:
    """What an operation's decorator (`core.access`) declared, read back from the security
    requirement it wrote; None when it declared nothing (people only)."""
    security = operation.get("security")
    if security is None:
        return None
    if not security:
        return Access(public=True)
    scopes = [s for requirement in security for s in requirement.get(OAUTH2, [])]
    return Access(scopes=tuple(dict.fromkeys(scopes)))


def purpose_required(path: str) -> bool:
    """Token calls to this path must state a purpose (see `partners.oauth.resource`)."""
    return not path.startswith(PURPOSE_FREE_PREFIXES)


def on_behalf_required(path: str) -> bool:
    """Token reads of partners' data name the member of staff they are made for."""
    return path.startswith(ON_BEHALF_REQUIRED_PREFIXES)


# --- components ------------------------------------------------------------------------------


PROBLEM_DETAILS = {
    "type": "object",
    "description": "An RFC 9457 problem document (`application/problem+json`). Refusals are "
    "recorded in the audit log with a reason code; the document never names people.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri",
            "description": "What kind of problem, e.g. "
            f"{PROBLEM_BASE}not-authenticated, {PROBLEM_BASE}purpose-refused",
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong, in plain words"},
        "instance": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Field name -> messages, for invalid fields (422)",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "additionalProperties": True,
    "example": {
        "type": f"{PROBLEM_BASE}not-authenticated",
        "title": "Sign in required",
        "status": 401,
        "detail": "The access token is not valid or has expired.",
    },
}


def _security_schemes(base_url: str) -> dict[str, dict[str, Any]]:

    return {
        OAUTH2: {
            # Not an OpenAPI "oauth2" flow: that object can only say "client credentials", which
            # tools (Swagger UI's Authorize among them) take to mean a client secret. The hub's
            # clients hold a key, not a secret; what they send here is a bearer token.
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT (RFC 9068 access token)",
            "description": (
                "An access token from the hub's authorization server, sent as "
                "`Authorization: Bearer <token>`. Partner systems get one with the OAuth 2.0 "
                "client credentials grant at "
                f"`{base_url}/oauth/token`, authenticating with `private_key_jwt` (RFC 7523): a "
                "JWT signed with the client's registered EdDSA or ES256 key, `iss` and `sub` the "
                f"client_id, `aud` exactly the issuer (`{base_url}`), a single-use `jti`, at most "
                "five minutes from `iat` to `exp`. There is no client secret. Tokens live five "
                "minutes; there are no refresh tokens. The scopes an operation needs are listed "
                "with it; every scope: "
                + ", ".join(f"`{scope}` ({text})" for scope, text in sorted(SCOPES.items()))
                + ". Metadata: `/.well-known/oauth-authorization-server` (RFC 8414); keys: "
                "`/.well-known/jwks.json`; revocation `/oauth/revoke` (RFC 7009); introspection "
                "`/oauth/introspect` (RFC 7662). A client registered as DPoP-bound sends its "
                "token with the DPoP scheme instead."
            ),
        },
        DPOP: {
            "type": "http",
            "scheme": "DPoP",
            "description": (
                "A client registered as DPoP-bound (RFC 9449) sends a `DPoP` proof with its token "
                "request and gets a token bound to the proof's key (`cnf.jkt`, `token_type` DPoP). "
                "Each API call then sends `Authorization: DPoP <token>` and a fresh `DPoP` header: "
                "a `dpop+jwt` signed with the same key, with `htm` (the method), `htu` (the URL "
                "without query), `iat` (within a minute), a single-use `jti` and `ath` (base64url "
                "SHA-256 of the token). A bound token sent as Bearer is refused. When the hub "
                "answers `use_dpop_nonce` with a `DPoP-Nonce` header, put that nonce in the "
                "proof's `nonce` claim and retry. Scopes are those of the oauth2 scheme."
            ),
        },
        SESSION: {
            "type": "apiKey",
            "in": "cookie",
            "name": "hub_session",
            "description": (
                "People signed in to the hub's pages may call the API from the browser with "
                "their session; writes then need the `X-CSRFToken` header. Roles, not scopes, "
                "decide what they may do."
            ),
        },
    }


def _purpose_parameter() -> dict[str, Any]:
    return {
        "name": PURPOSE_HEADER,
        "in": "header",
        "required": True,
        "description": (
            "Why the caller needs the data: a purpose the covering data-sharing agreement "
            "allows. Required with an access token on every call except the caller's own "
            "identity, the audit log, agreements and notifications; a missing or unknown "
            "purpose is a 400 problem. Audited with the client."
        ),
        "schema": {"type": "string", "enum": sorted(PURPOSES)},
        "example": "speaker_due_diligence",
    }


def _on_behalf_parameter() -> dict[str, Any]:
    # Not `required`: OpenAPI cannot make a header required for one security scheme only, and
    # people signed in to the hub (the session scheme) do not send it.
    return {
        "name": ON_BEHALF_HEADER,
        "in": "header",
        "required": False,
        "description": (
            "The member of staff at the partner the call is made for: the partner's own "
            "identifier for them (not their name). **Required with a partner access token** "
            "(Bearer or DPoP) for reads of partners' shared data: a 400 problem without it. "
            "People signed in to the hub do not send it. Recorded in the audit entry of every "
            "disclosure."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        "example": "staff-4711",
    }


def _problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or http.HTTPStatus(status).phrase,
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    }


def register_components(spec: APISpec, base_url: str) -> None:
    """Security schemes, the header parameters, ProblemDetails and problem responses."""
    components = spec.components
    components.schema("ProblemDetails", PROBLEM_DETAILS)
    for name, scheme in _security_schemes(base_url).items():
        components.security_scheme(name, scheme)
    components.parameter("HubPurpose", "header", _purpose_parameter())
    components.parameter("HubOnBehalfOf", "header", _on_behalf_parameter())
    for status, name in PROBLEM_RESPONSES.items():
        response = _problem_response(status)
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer"},
                }
            }
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {
                    "description": "The scheme and RFC 6750 / RFC 9449 error, e.g. "
                    '`Bearer error="invalid_token"` or `DPoP error="use_dpop_nonce"`',
                    "schema": {"type": "string"},
                },
                "DPoP-Nonce": {
                    "description": "A nonce to put in the next DPoP proof",
                    "schema": {"type": "string"},
                },
            }
        components.response(name, response)
    components.response(DEFAULT_PROBLEM, _problem_response(500, "An unexpected problem"))


# --- operations --------------------------------------------------------------------------------


def _ref_of(value: Any) -> str | None:
    return value.get("$ref") if isinstance(value, dict) else None


def _as_problem(status: str, response: Any) -> Any:
    """An error response of an operation, as a problem document of the right media type."""
    code = int(status) if status.isdigit() else None
    if isinstance(response, str):  # a flask-smorest component name, e.g. UNPROCESSABLE_ENTITY
        if code in PROBLEM_RESPONSES:
            return PROBLEM_RESPONSES[code]
        if code is not None:
            return _problem_response(code)
        return DEFAULT_PROBLEM
    if not isinstance(response, dict) or "content" not in response:
        return response
    content = response["content"]
    media = content.pop(JSON_TYPE, None) or content.get(PROBLEM_TYPE) or {}
    schema = media.get("schema")
    if _ref_of(schema) in GENERIC_ERROR_SCHEMAS or schema in (None, "Problem", "Error"):
        media = {**media, "schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    content[PROBLEM_TYPE] = media
    return response


def _has_parameter(operation: dict[str, Any], name: str, where: str) -> dict[str, Any] | None:
    for parameter in operation.get("parameters", []):
        if isinstance(parameter, dict) and (parameter.get("name"), parameter.get("in")) == (
            name,
            where,
        ):
            return parameter
    return None


def complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    """Security, headers and problem responses for one operation (mutated in place)."""
    access = access_of(operation)
    if access is None:  # declared nothing: people only (a token is refused)
        operation["security"] = [{SESSION: []}]
    # Keys come as ints or strings depending on the decorator; apispec makes them strings later.
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    operation["responses"] = responses
    for status in list(responses):
        if status == "default" or (status.isdigit() and int(status) >= 400):
            responses[status] = _as_problem(status, responses[status])
    responses["default"] = DEFAULT_PROBLEM
    if access is not None and access.public:
        return
    responses.setdefault("401", PROBLEM_RESPONSES[401])
    responses.setdefault("403", PROBLEM_RESPONSES[403])
    if access is None:
        note = "People signed in only: a partner token is refused (403)."
        operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
        return
    responses.setdefault("429", PROBLEM_RESPONSES[429])
    parameters = operation.setdefault("parameters", [])
    if purpose_required(path):
        responses.setdefault("400", PROBLEM_RESPONSES[400])
        existing = _has_parameter(operation, PURPOSE_HEADER, "header")
        if existing is None:
            # Inline copies of the components: readers of `parameters` (tools, our tests) then
            # see every parameter's name and place without resolving references.
            parameters.append(_purpose_parameter())
        else:  # a blueprint documents the header itself (people may use a query parameter)
            existing.update(
                {
                    "schema": _purpose_parameter()["schema"],
                    "required": True,
                    "description": existing.get("description", "")
                    + " Required with an access token (people signed in may give the `purpose` "
                    "query parameter instead).",
                }
            )
    if on_behalf_required(path) and _has_parameter(operation, ON_BEHALF_HEADER, "header") is None:
        parameters.append(_on_behalf_parameter())
    scopes = ", ".join(f"`{s}`" for s in access.scopes) or "any scope"
    note = f"Partner token: {scopes}" + (" (any one)" if len(access.scopes) > 1 else "") + "."
    operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()


class HubOpenAPIPlugin(BasePlugin):
    """Completes each operation as flask-smorest adds it to the document."""

    spec: APISpec | None = None

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        if not path or not operations:
            return
        # The marshmallow plugin ran first: the operation's schemas are components by now.
        schemas = self.spec.components.schemas if self.spec is not None else {}
        for method, operation in operations.items():
            if method in {"get", "post", "put", "patch", "delete"} and isinstance(operation, dict):
                complete_operation(path, method, operation)
                add_examples(path, method, operation, schemas, _problem_response)


# --- getting started (the document's description, shown at the top of /api/docs) -------------


def getting_started(base_url: str) -> str:
    """How a partner system starts calling the API, in CommonMark (headings from level 2: the
    document's title is the docs page's heading, at level 1)."""
    purposes = ", ".join(f"`{code}`" for code in sorted(PURPOSES))
    return f"""
## Getting started

1. **Register your system with a key.** An administrator of your organisation registers it in
   the hub (*Partner directory*, your organisation, *API clients*, *Register a partner system*)
   with its public key as a JWK Set (Ed25519 or P-256; or the address of your JWKS),
   the scopes it needs, and whether its tokens are DPoP-bound (the default). The hub answers
   with a `client_id`. There is no client secret: your private key never leaves your system.
2. **Get an access token** with the client credentials grant, authenticating with
   `private_key_jwt` (RFC 7523): `POST {base_url}/oauth/token` with
   `grant_type=client_credentials`, the `scope` you need,
   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
   `client_assertion`, a JWT signed with your key (`iss` and `sub` your `client_id`, `aud`
   exactly `{base_url}`, a fresh `jti`, at most five minutes from `iat` to `exp`). Tokens live
   five minutes: ask for a new one when it expires (there are no refresh tokens).
3. **Prove the key with DPoP** (RFC 9449) if your system is DPoP-bound: send a `DPoP` header, a
   `dpop+jwt` signed with your key, with the token request and with every call (`htm` the
   method, `htu` the URL without its query, `iat`, a single-use `jti`, and on calls `ath`, the
   base64url SHA-256 of the token), and send the token as `Authorization: DPoP <token>`. When the
   hub answers `use_dpop_nonce` with a `DPoP-Nonce` header, put that nonce in the proof's
   `nonce` claim and try again. A system that is not DPoP-bound sends
   `Authorization: Bearer <token>`.
4. **Say why, and for whom.** Every call that reads information about people sends
   `{PURPOSE_HEADER}`: one of {purposes}, and one the covering data-sharing agreement allows.
   Reads of partners' records (`/api/v1/shared/...`) also send `{ON_BEHALF_HEADER}`: your own
   identifier for the member of staff the call is made for (never their name).
   `{ON_BEHALF_HEADER}` is required with partner tokens only; people signed in to the hub do
   not send it. Both are recorded in the audit log with every disclosure.

```
curl "{base_url}/api/v1/shared/speakers?q=Ember+Quillfeather" \\
  -H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF" \\
  -H "{PURPOSE_HEADER}: speaker_due_diligence" -H "{ON_BEHALF_HEADER}: staff-4711"
```

Refusals are RFC 9457 problem documents (`application/problem+json`). Every operation below
shows an example of what it sends and answers.

**Trying calls on this page.** *Try it out* calls the API as you, with your hub session, and
only for reads (GET): sign in to the hub first. People signed in need no token and no
`{ON_BEHALF_HEADER}`.
""".strip()


def init_app(app: Flask, api: Api) -> None:
    """Add the hub's components, the getting-started guide and the operation plugin to `api`'s
    spec (call after `api.init_app(app)`, before registering the API blueprints)."""
    spec = api.spec
    base_url = app.config["HUB_SETTINGS"].base_url.rstrip("/")
    register_components(spec, base_url)
    info = spec.options.setdefault("info", {})
    info["description"] = "\n\n".join(
        part for part in (info.get("description", ""), getting_started(base_url)) if part
    )
    plugin = HubOpenAPIPlugin()
    plugin.init_spec(spec)
    spec.plugins.append(plugin)
