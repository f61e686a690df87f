"""audit entries carry the on-behalf-of header as a pseudonym; what it stands for is kept in an
erasable table beside the log

Revision ID: a3c1e5f7b9d2
Revises: 78db8cd96995
Create Date: 2026-12-07 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "a3c1e5f7b9d2"
down_revision: str | None = "78db8cd96995"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_on_behalf_labels",
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.String(length=80), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("first_seen_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_audit_on_behalf_labels")),
    )
    op.create_index(
        op.f("ix_audit_on_behalf_labels_organisation_id"),
        "audit_on_behalf_labels",
        ["organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_audit_on_behalf_labels_organisation_id"), table_name="audit_on_behalf_labels"
    )
    op.drop_table("audit_on_behalf_labels")
