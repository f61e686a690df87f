"""identity providers (home-organisation sign-in with OpenID Connect)

Revision ID: 4c0f1d5e7a01
Revises: 2f1eb2216467
Create Date: 2026-12-06 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "4c0f1d5e7a01"
down_revision: str | None = "2f1eb2216467"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column(
            "client_auth_method",
            sa.Enum(
                "client_secret_basic",
                "private_key_jwt",
                name="provider_client_auth",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("credential_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("allowed_domains", sa.String(length=1000), nullable=False),
        sa.Column("scopes", sa.String(length=300), nullable=False),
        sa.Column(
            "role_policy",
            sa.Enum(
                "hub",
                "claim",
                name="role_policy",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("role_claim", sa.String(length=100), nullable=True),
        sa.Column("role_mapping", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_identity_providers_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
        sa.UniqueConstraint("issuer", name=op.f("uq_identity_providers_issuer")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_identity_providers_organisation_id")),
    )
    op.create_table(
        "oidc_sign_in_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("next_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["identity_providers.id"],
            name=op.f("fk_oidc_sign_in_states_provider_id_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oidc_sign_in_states")),
    )
    op.create_index(
        op.f("ix_oidc_sign_in_states_expires_at"),
        "oidc_sign_in_states",
        ["expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oidc_sign_in_states_provider_id"),
        "oidc_sign_in_states",
        ["provider_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_sign_in_states_provider_id"), table_name="oidc_sign_in_states")
    op.drop_index(op.f("ix_oidc_sign_in_states_expires_at"), table_name="oidc_sign_in_states")
    op.drop_table("oidc_sign_in_states")
    op.drop_table("identity_providers")
