"""The audit log over HTTP: checkpoints, verifier key, proofs, entries, receipts, cosignatures.

Checkpoints (the latest signed one and the latest witnessed one), the verifier key, the witness
policy and consistency proofs are public: they reveal only the log's size and hashes and public
keys, and witnesses and outside verifiers need them without an account. Inclusion proofs,
entries and receipts are for data protection officers and auditors (and, with the partner API,
clients holding `audit:verify` / `audit:read`), limited to the entries they may see.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Response, request
from flask.views import MethodView

from audit import log, permissions, review
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
    WitnessPolicySchema,
)
from core.access import public, require_scope
from core.api import Blueprint
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
#: Says which checkpoint a receipt proves inclusion against: `witnessed` (the latest checkpoint
#: that meets the witness policy, its cosignatures included) or `signed` (the newest checkpoint,
#: the log's signature alone, when no witnessed checkpoint holds the entry yet).
RECEIPT_CHECKPOINT_HEADER = "Hub-Receipt-Checkpoint"


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


#: What GET /checkpoint/witnessed serves (fictional keys and signatures, the shape only).
WITNESSED_EXAMPLE = (
    "hub.northshire.example/audit\n"
    "1057\n"
    "m1J8mJ0a3H6yD0o8m2vQm9w5JQmKQe6Vd3H3rj1p0wQ=\n"
    "\n"
    "\u2014 hub.northshire.example/audit Az3kL1c0a9Zt2u6yVq0xW4e1R5t8Y2u3I6o9P0a4S7d1F3g5H8j0k=\n"
    "\u2014 witness.ravensmoor.example jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


@blueprint.route("/checkpoint/witnessed")
class WitnessedCheckpoint(MethodView):
    """The latest checkpoint that meets the witness policy."""

    @public
    @blueprint.doc(
        responses={
            "200": {
                "description": "A C2SP signed note: the log's signature line, then the "
                "tlog-cosignature/v1 lines of the witnesses that count, by witness name",
                "content": {TEXT: {"schema": {"type": "string"}, "example": WITNESSED_EXAMPLE}},
            },
            "404": {"description": "No checkpoint meets the witness policy yet"},
        }
    )
    def get(self) -> Any:
        """The latest cosigned checkpoint (C2SP tlog-checkpoint with tlog-cosignature lines)."""
        policy = witnesses.WitnessPolicy.current()
        witnessed = witnesses.latest_witnessed(db.session(), log.verifier_key(), policy)
        if witnessed is None:
            raise NotFound(_not_witnessed(policy))
        return _text(witnessed.note)


def _not_witnessed(policy: witnesses.WitnessPolicy) -> str:
    """Why no checkpoint is witnessed, in words (the policy and how many witnesses count)."""
    counting = len(witnesses.counting_witnesses(db.session(), policy))
    if counting == 0:
        return (
            "No checkpoint is witnessed: no witness is registered (or none the policy names), "
            "so the log is not independently witnessed."
        )
    return (
        f"No checkpoint is witnessed yet: none has been cosigned by {policy.quorum} of the "
        f"{counting} witnesses that count (see /api/v1/audit/witness-policy)."
    )


@blueprint.route("/witness-policy")
class PublishedWitnessPolicy(MethodView):
    """Which witnesses, and how many, make a checkpoint witnessed."""

    @public
    @blueprint.response(200, WitnessPolicySchema)
    def get(self) -> Any:
        """The witness policy: the log's key, the witnesses' keys that count, and the quorum."""
        policy = witnesses.WitnessPolicy.current()
        counting = witnesses.counting_witnesses(db.session(), policy)
        return {
            "origin": log.origin(),
            "log_verifier_key": log.verifier_key(),
            "quorum": policy.quorum,
            "witnesses": [{"name": w.name, "verifier_key": w.verifier_key} for w in counting],
            "named_only": bool(policy.names),
            "satisfiable": policy.quorum <= len(counting),
        }


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
                "headers": {
                    RECEIPT_CHECKPOINT_HEADER: {
                        "description": "The checkpoint the proof is against: `witnessed` "
                        "(cosigned as the witness policy asks) or `signed` (by the log alone)",
                        "schema": {"type": "string", "enum": ["witnessed", "signed"]},
                    }
                },
            }
        }
    )
    def get(self, index: int) -> Any:
        """The entry's inclusion proof, as a C2SP tlog-proof, to the latest witnessed checkpoint
        that holds it (cosignatures included), else to the newest signed checkpoint; the
        Hub-Receipt-Checkpoint header says which (`witnessed` or `signed`)."""
        _require_reader("audit.receipt")
        log.integrate_now(force_checkpoint=True)
        if index >= log.tree_size(db.session()):
            raise NotFound(f"There is no entry {index} in the log yet.")
        _visible(index)
        proof, kind = review.receipt(index)
        response = _text(proof)
        response.headers[RECEIPT_CHECKPOINT_HEADER] = kind
        return response


def receipt(index: int) -> str:
    """A tlog-proof for `index`, as the receipt endpoint serves it."""
    return review.receipt(index)[0]


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
