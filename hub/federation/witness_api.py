"""This hub as a C2SP tlog-witness for its peer hubs' logs (c2sp.org/tlog-witness).

The submission and monitoring prefix is `/api/v1/witness`. Like the spec, it has no
authentication: the checkpoint's signature by a registered peer's log key is what counts. The
answers are the spec's (hub.federation.witnessing, audit.tlog_witness); every refusal is
audited with a reason code, never the request's text.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView

from audit import tlog_witness
from core.access import public
from core.api import Blueprint
from core.errors import BadRequest, HubError, NotFound, PermissionDenied, ValidationFailed
from core.extensions import limiter, limits_off
from core.request import current_actor
from hub.federation import witnessing

blueprint = Blueprint(
    "witness-api",
    __name__,
    url_prefix=witnessing.WITNESS_PREFIX,
    description="This hub as a C2SP tlog-witness of its peer hubs' audit logs.",
)

TEXT = "text/plain; charset=utf-8"
PROBLEM = "application/problem+json"
#: Bodies of these types are parsed as forms before any view: send text/plain, or no type.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_ERRORS: dict[int, type[HubError]] = {
    400: BadRequest,
    403: PermissionDenied,
    404: NotFound,
    422: ValidationFailed,
}


#: A peer's checkpoint as examples show it (fictional keys and signatures, the shape only).
CHECKPOINT_EXAMPLE = (
    "hub.southmoor.example/audit\n"
    "1062\n"
    "q0VXWd8nTn3hQ2uJ7Y5o1k9cR4mZs6eB3tA0xL2pF8g=\n"
    "\n"
    "\u2014 hub.southmoor.example/audit 8Lp3bXk2Vq0a1Yz9Wn5Tr6Uc4Es7Dh2Fg0Jm8Ko1Qi3Zw5Xv7Nb9Ma=\n"
)
#: This hub's cosignature line on it (tlog-cosignature/v1: key ID, timestamp, signature).
COSIGNATURE_EXAMPLE = (
    "\u2014 hub.northshire.example/audit/witness jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI"
    "5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
REQUEST_EXAMPLE = (
    "old 1057\n"
    "0bq0qR6aXgkZr5bX3y9w1Yd3W0P0Gm6wQ1vS5d8s2zA=\n"
    "yq6l3Q1s9R0m2c5b8Xn7Vw4Tz0Kp3Hf6Jd2Gs1Lq9aE=\n"
    "\n" + CHECKPOINT_EXAMPLE
)


def _problem(status: int, description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": "ProblemSchema"}}}


def _refusal_response(refusal: tlog_witness.Refusal) -> Response:
    """The spec's answer to a refusal: a 409 carries the size this witness last cosigned as
    `text/x.tlog.size`; the others, which the spec gives no body, a problem document."""
    if refusal.status == 409:
        assert refusal.known_size is not None
        return Response(
            tlog_witness.format_size(refusal.known_size),
            status=409,
            content_type=tlog_witness.SIZE_MEDIA_TYPE,
        )
    error = _ERRORS[refusal.status](refusal.detail, reason=refusal.reason)
    response = jsonify(error.to_problem())
    response.status_code = refusal.status
    response.mimetype = PROBLEM
    return response


@blueprint.route("/add-checkpoint")
class AddCheckpoint(MethodView):
    """Cosign a peer hub's checkpoint."""

    decorators = [limiter.limit("60 per minute", exempt_when=limits_off)]

    @public
    @blueprint.doc(
        requestBody={
            "required": True,
            "description": "`old <size>`, the RFC 6962 consistency proof from that size (one "
            "base64 hash per line, at most 63), an empty line, then the log's signed checkpoint "
            "(C2SP tlog-checkpoint).",
            "content": {TEXT: {"schema": {"type": "string"}, "example": REQUEST_EXAMPLE}},
        },
        responses={
            "200": {
                "description": "This hub's tlog-cosignature/v1 line(s) on the checkpoint",
                "content": {TEXT: {"schema": {"type": "string"}, "example": COSIGNATURE_EXAMPLE}},
            },
            "400": _problem(400, "A malformed request, or an old size beyond the checkpoint's"),
            "403": _problem(403, "The checkpoint is not signed by the log's registered key"),
            "404": _problem(404, "Not the log of an active peer hub"),
            "409": {
                "description": "`old` is not the size this witness last cosigned: the body is "
                "that size",
                "content": {tlog_witness.SIZE_MEDIA_TYPE: {"schema": {"type": "string"}}},
            },
            "422": _problem(422, "The checkpoint is not consistent with what was cosigned"),
        },
    )
    def post(self) -> Any:
        """Submit a checkpoint with a consistency proof; get this hub's cosignature (C2SP
        tlog-witness add-checkpoint)."""
        try:
            if request.mimetype in FORM_TYPES:
                # The edge reads such a body as form fields (hub.web.input): its text is gone.
                refusal = tlog_witness.Refusal(
                    tlog_witness.MALFORMED,
                    "send the request as text/plain, or with no Content-Type, not as a form",
                )
                witnessing.keep_refusal(current_actor(), refusal)
                raise refusal
            line = witnessing.add_checkpoint(current_actor(), request.get_data(cache=False))
        except tlog_witness.Refusal as refusal:
            return _refusal_response(refusal)
        return Response(line, status=200, content_type=TEXT)


@blueprint.route("/<string:origin_hash>/checkpoint")
class WitnessedCheckpoint(MethodView):
    """The latest checkpoint this hub cosigned of a peer's log."""

    @public
    @blueprint.doc(
        responses={
            "200": {
                "description": "The checkpoint with the log's signature and this hub's "
                "cosignature (C2SP tlog-witness monitoring)",
                "content": {
                    TEXT: {
                        "schema": {"type": "string"},
                        "example": CHECKPOINT_EXAMPLE + COSIGNATURE_EXAMPLE,
                    }
                },
            },
            "404": _problem(404, "This hub never cosigned that log"),
        },
    )
    def get(self, origin_hash: str) -> Any:
        """The latest checkpoint cosigned of the log whose origin's SHA-256 is `origin_hash`."""
        note = witnessing.monitored_checkpoint(origin_hash)
        if note is None:
            raise NotFound("This hub has not cosigned a checkpoint of that log.")
        return Response(note, status=200, content_type=TEXT, headers={"Cache-Control": "no-cache"})
