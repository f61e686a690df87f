"""The audit log over HTTP: checkpoints, verifier key, proofs, entries, receipts, cosignatures.

Checkpoints, the verifier key and consistency proofs are public: they reveal only the log's size
and hashes, and witnesses need them without an account. Inclusion proofs, entries and receipts
are for data protection officers and auditors (and, with the partner API, clients holding
`audit:verify` / `audit:read`), limited to the entries they may see.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from audit import log, notes, permissions
from audit import services as audit
from audit import witness as witnesses
from audit.schemas import (
    ConsistencyArgsSchema,
    ConsistencyProofSchema,
    CosignatureResultSchema,
    EntriesArgsSchema,
    EntriesSchema,
    InclusionArgsSchema,
    InclusionProofSchema,
)
from core.access import public, require_scope
from core.db import db
from core.errors import BadRequest, NotFound, PermissionDenied
from core.extensions import limiter, limits_off
from core.request import current_actor, signed_in_required

blueprint = Blueprint(
    "audit-api",
    __name__,
    url_prefix="/api/v1/audit",
    description="The verifiable audit log (RFC 9162 proofs, C2SP notes).",
)

TEXT = "text/plain; charset=utf-8"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


def _require_reader(action: str) -> None:
    actor = current_actor()
    if not permissions.can_read_log(actor):
        raise PermissionDenied(
            "Only data protection officers and auditors can do this.",
            reason="role_required",
            audit={"action": action, "resource_type": "audit_log"},
        )


def _size_known(size: int) -> None:
    current = log.tree_size(db.session())
    if size > current:
        raise NotFound(f"The log holds {current} entries, not {size}.")


@blueprint.route("/checkpoint")
class Checkpoint(MethodView):
    """The latest signed checkpoint."""

    @public
    @blueprint.doc(
        responses={
            "200": {
                "description": "A C2SP signed note",
                "content": {TEXT: {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Any:
        """The latest checkpoint (C2SP tlog-checkpoint signed note), after integrating."""
        log.integrate_now()
        checkpoint = log.latest_checkpoint(db.session())
        if checkpoint is None:
            checkpoint = log.sign_checkpoint(db.session(), log.tree_head(db.session()), force=True)
        return _text(checkpoint.note)


@blueprint.route("/verifier-key")
class VerifierKey(MethodView):
    """The key that verifies checkpoints."""

    @public
    @blueprint.doc(
        responses={
            "200": {
                "description": "<name>+<key id>+<base64 key>",
                "content": {TEXT: {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self) -> Any:
        """The signed-note verifier key for the hub's checkpoints."""
        return _text(log.verifier_key() + "\n")


@blueprint.route("/proof/consistency")
class ConsistencyProof(MethodView):
    """Proof that one tree extends another."""

    @public
    @blueprint.arguments(ConsistencyArgsSchema, location="query")
    @blueprint.response(200, ConsistencyProofSchema)
    def get(self, args: dict[str, int]) -> Any:
        """RFC 9162 consistency proof between tree sizes `old` and `new`."""
        _size_known(args["new"])
        hashes = log.consistency_proof(db.session(), args["old"], args["new"])
        return {"old": args["old"], "new": args["new"], "hashes": [_b64(h) for h in hashes]}


@blueprint.route("/proof/inclusion")
class InclusionProof(MethodView):
    """Proof that an entry is in the tree."""

    decorators = [signed_in_required]

    @require_scope("audit:verify")
    @blueprint.arguments(InclusionArgsSchema, location="query")
    @blueprint.response(200, InclusionProofSchema)
    def get(self, args: dict[str, int]) -> Any:
        """RFC 9162 inclusion proof of the entry at `index` in the tree of `size` entries."""
        _require_reader("audit.proof")
        _size_known(args["size"])
        _visible(args["index"])
        leaf_hash, hashes = log.inclusion_proof(db.session(), args["index"], args["size"])
        return {
            "index": args["index"],
            "size": args["size"],
            "leaf_hash": _b64(leaf_hash),
            "hashes": [_b64(h) for h in hashes],
        }


def _visible(index: int) -> None:
    entries = audit.read_entries(current_actor(), index, index + 1)
    if not entries:
        raise NotFound(f"There is no entry {index} that you may see.")


@blueprint.route("/entries")
class Entries(MethodView):
    """Entries by index."""

    decorators = [signed_in_required]

    @require_scope("audit:read")
    @blueprint.arguments(EntriesArgsSchema, location="query")
    @blueprint.response(200, EntriesSchema)
    def get(self, args: dict[str, int]) -> Any:
        """Entries with indexes in [start, end) that the caller may see (reading is audited)."""
        rows = audit.read_entries(current_actor(), args["start"], args["end"])
        return {
            "start": args["start"],
            "end": args["end"],
            "tree_size": log.tree_size(db.session()),
            "entries": [
                {"index": idx, "leaf": _b64(entry.leaf), "entry": audit.parse_leaf(entry.leaf)}
                for idx, entry in rows
            ],
        }


@blueprint.route("/entries/<int:index>/receipt")
class Receipt(MethodView):
    """An offline-checkable receipt for one entry."""

    decorators = [signed_in_required]

    @require_scope("audit:verify")
    @blueprint.doc(
        responses={
            "200": {
                "description": "C2SP tlog-proof",
                "content": {TEXT: {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self, index: int) -> Any:
        """The entry's inclusion proof to the latest checkpoint, as a C2SP tlog-proof."""
        _require_reader("audit.receipt")
        log.integrate_now(force_checkpoint=True)
        if index >= log.tree_size(db.session()):
            raise NotFound(f"There is no entry {index} in the log yet.")
        _visible(index)
        return _text(receipt(index))


def receipt(index: int) -> str:
    """A tlog-proof for `index` against the newest checkpoint that contains it."""
    checkpoint = log.latest_checkpoint(db.session())
    if checkpoint is None or index >= checkpoint.size:
        raise NotFound(f"Entry {index} is not yet in a signed checkpoint.")
    _leaf_hash, hashes = log.inclusion_proof(db.session(), index, checkpoint.size)
    return notes.format_tlog_proof(index, hashes, checkpoint.note)


@blueprint.route("/cosignatures")
class Cosignatures(MethodView):
    """Witness cosignatures."""

    decorators = [limiter.limit("60 per minute", exempt_when=limits_off)]

    @public
    @blueprint.doc(
        requestBody={
            "content": {TEXT: {"schema": {"type": "string"}}},
            "description": "The hub's checkpoint note with the witness's "
            "tlog-cosignature/v1 line(s) appended",
        }
    )
    @blueprint.response(201, CosignatureResultSchema)
    def post(self) -> Any:
        """Submit a witness's cosignature on a checkpoint the hub signed."""
        if request.mimetype != "text/plain":
            raise BadRequest("Send the cosigned checkpoint as text/plain.")
        note = request.get_data(as_text=True)
        stored = witnesses.accept_cosignatures(db.session(), current_actor(), note)
        return {
            "stored": [
                {
                    "checkpoint_id": c.checkpoint_id,
                    "witness_id": c.witness_id,
                    "timestamp": c.timestamp,
                }
                for c in stored
            ]
        }
