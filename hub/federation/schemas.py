"""API schemas for the federated speaker search."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.records.sharing.schemas import PURPOSE_DESCRIPTION, DisclosedUnderSchema


class FederatedSearchArgsSchema(Schema):
    """A name, the purpose (required: peers search only for a purpose), and how many."""

    q = fields.String(load_default="", validate=validate.Length(max=200))
    purpose = fields.String(
        load_default=None, allow_none=True, metadata={"description": PURPOSE_DESCRIPTION}
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class FederatedResultSchema(Schema):
    """One speaker, here or at a peer hub, as that hub's agreements disclose it."""

    origin = fields.String(
        metadata={"description": "`local`, or the slug of the peer hub that answered"}
    )
    origin_name = fields.String()
    id = fields.String(attribute="speaker_id")
    owner = fields.String()
    rank = fields.Integer(metadata={"description": "the place its own hub gave it"})
    score = fields.Float(allow_none=True, metadata={"description": "for your own records only"})
    own = fields.Boolean()
    existence_only = fields.Boolean()
    data = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    disclosed_under = fields.Nested(DisclosedUnderSchema, allow_none=True)


class PeerOutcomeSchema(Schema):
    """How one peer hub answered."""

    peer_id = fields.String()
    name = fields.String()
    status = fields.String(metadata={"enum": ["ok", "slow", "down", "error"]})
    detail = fields.String()
    total = fields.Integer()
    elapsed_ms = fields.Integer(
        metadata={
            "description": "how long this hub waited for the peer: until it answered or failed, "
            "or, when `slow`, until this hub gave up at the deadline"
        }
    )
    note = fields.String()


class FederatedSearchSchema(Schema):
    """Merged results (best match first), and a note for every peer that did not answer."""

    query = fields.String()
    purpose = fields.String()
    request_id = fields.String()
    local_total = fields.Integer()
    results = fields.List(fields.Nested(FederatedResultSchema))
    peers = fields.List(fields.Nested(PeerOutcomeSchema))
    notes = fields.List(fields.String())
