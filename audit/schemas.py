"""API schemas for the audit log: proofs, entries, cosignatures."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

MAX_ENTRIES = 1000
#: The largest leaf index or tree size the log can hold (its indexes are 64-bit integers).
MAX_INDEX = 2**63 - 1


class InclusionArgsSchema(Schema):
    """Which leaf, in the tree of which size."""

    index = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INDEX))
    size = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INDEX))

    @validates_schema
    def _index_in_tree(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if data["index"] >= data["size"]:
            raise ValidationError("index must be less than size", "index")


class ConsistencyArgsSchema(Schema):
    """Between which two tree sizes."""

    old = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INDEX))
    new = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INDEX))

    @validates_schema
    def _old_not_after_new(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if data["old"] > data["new"]:
            raise ValidationError("old must not be greater than new", "old")


class EntriesArgsSchema(Schema):
    """A range of leaf indexes [start, end)."""

    start = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INDEX))
    end = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INDEX))

    @validates_schema
    def _range(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if data["end"] <= data["start"]:
            raise ValidationError("end must be greater than start", "end")
        if data["end"] - data["start"] > MAX_ENTRIES:
            raise ValidationError(f"at most {MAX_ENTRIES} entries per request", "end")


class InclusionProofSchema(Schema):
    """An RFC 9162 inclusion proof."""

    index = fields.Integer()
    size = fields.Integer()
    leaf_hash = fields.String(metadata={"description": "base64 of SHA-256(0x00 || leaf)"})
    hashes = fields.List(fields.String(), metadata={"description": "base64, leaf upwards"})


class ConsistencyProofSchema(Schema):
    """An RFC 9162 consistency proof."""

    old = fields.Integer()
    new = fields.Integer()
    hashes = fields.List(fields.String(), metadata={"description": "base64"})


class EntrySchema(Schema):
    """One entry: its index, the exact leaf bytes (base64) and the fields they carry."""

    index = fields.Integer()
    leaf = fields.String(metadata={"description": "base64 of the exact leaf bytes"})
    entry = fields.Dict(metadata={"description": "the canonical JSON object inside the leaf"})


class EntriesSchema(Schema):
    """Entries in a range the caller may see (others in the range are left out)."""

    start = fields.Integer()
    end = fields.Integer()
    tree_size = fields.Integer()
    entries = fields.List(fields.Nested(EntrySchema))


class CosignatureResultSchema(Schema):
    """Which cosignatures were stored."""

    stored = fields.List(fields.Dict())


class PolicyWitnessSchema(Schema):
    """A witness whose cosignatures count."""

    name = fields.String(metadata={"description": "the witness's key name"})
    verifier_key = fields.String(
        metadata={"description": "C2SP vkey: <name>+<key id>+<base64(0x04 || Ed25519 key)>"}
    )


class WitnessPolicySchema(Schema):
    """What makes a checkpoint witnessed, for outside verifiers to check against."""

    origin = fields.String(metadata={"description": "the checkpoints' origin line"})
    log_verifier_key = fields.String(
        metadata={"description": "C2SP vkey of the log's own Ed25519 key (signature type 0x01)"}
    )
    quorum = fields.Integer(
        metadata={"description": "how many of `witnesses` must have cosigned a checkpoint"}
    )
    witnesses = fields.List(fields.Nested(PolicyWitnessSchema))
    named_only = fields.Boolean(
        metadata={"description": "true when the hub counts only the witnesses it names"}
    )
    satisfiable = fields.Boolean(
        metadata={"description": "false while fewer witnesses count than the quorum"}
    )
