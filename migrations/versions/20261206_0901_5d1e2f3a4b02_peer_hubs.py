"""peer hubs (hub-to-hub federation and mutual witnessing)

Revision ID: 5d1e2f3a4b02
Revises: 4c0f1d5e7a01
Create Date: 2026-12-06 09:01:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "5d1e2f3a4b02"
down_revision: str | None = "4c0f1d5e7a01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "peer_hubs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("base_url", sa.String(length=2000), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("signing_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("log_origin", sa.String(length=300), nullable=False),
        sa.Column("log_verifier_key", sa.String(length=500), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                name="peer_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("witnessed_size", sa.BigInteger(), nullable=True),
        sa.Column("witnessed_root", sa.LargeBinary(), nullable=True),
        sa.Column("witnessed_checkpoint", sa.Text(), nullable=True),
        sa.Column("witnessed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_witness_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_witness_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_witness_detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_peer_hubs_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_hubs")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_peer_hubs_organisation_id")),
    )


def downgrade() -> None:
    op.drop_table("peer_hubs")
