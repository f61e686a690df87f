"""API schemas for the partners directory."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from partners.models import OrganisationKind, Role


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(metadata={"example": "https://prevent-hub.example/problems/not-found"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class OrganisationSchema(Schema):
    """An organisation in the partner directory."""

    id = fields.UUID(dump_only=True)
    name = fields.String()
    slug = fields.String()
    kind = fields.Enum(OrganisationKind, by_value=True)
    region = fields.String()
    status = fields.Function(lambda org: org.status.value)
    dp_contact_name = fields.String()
    dp_contact_email = fields.Email()


class OrganisationCreateSchema(Schema):
    """What a hub administrator sends to add an organisation."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    slug = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(
        required=True, validate=validate.OneOf([k.value for k in OrganisationKind])
    )
    region = fields.String(required=True, validate=validate.Length(min=1, max=100))
    dp_contact_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    dp_contact_email = fields.String(required=True, validate=validate.Length(min=3, max=254))


class MeSchema(Schema):
    """The signed-in person or client, its organisation and roles."""

    kind = fields.String()
    id = fields.String()
    organisation = fields.String(attribute="org_slug")
    roles = fields.List(fields.String(validate=validate.OneOf([r.value for r in Role])))
    scopes = fields.List(fields.String())
