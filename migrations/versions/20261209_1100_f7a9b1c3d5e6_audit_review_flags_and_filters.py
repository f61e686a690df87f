"""audit review: flags marked reviewed and saved filters (issue 14)

Two tables beside the log, neither part of it (the audit tables stay append-only and
unchanged): a reviewer's saved filters, and the reviews of unusual-access flags with their
notes (free text, so never in the log, which records only that a review happened and its id).

Revision ID: f7a9b1c3d5e6
Revises: e6f8a0b2c4d5
Create Date: 2026-12-09 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "f7a9b1c3d5e6"
down_revision: str | None = "e6f8a0b2c4d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_saved_filters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_audit_saved_filters_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_saved_filters")),
        sa.UniqueConstraint(
            "person_id", "name", name=op.f("uq_audit_saved_filters_person_id_name")
        ),
    )
    op.create_table(
        "audit_flag_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flag_key", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.String(length=80), nullable=True),
        sa.Column("reviewed_by_id", sa.Uuid(), nullable=False),
        sa.Column("reviewed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["people.id"],
            name=op.f("fk_audit_flag_reviews_reviewed_by_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_flag_reviews")),
    )
    op.create_index(
        op.f("ix_audit_flag_reviews_flag_key"), "audit_flag_reviews", ["flag_key"], unique=False
    )
    op.create_index(
        op.f("ix_audit_flag_reviews_organisation_id"),
        "audit_flag_reviews",
        ["organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_flag_reviews_organisation_id"), table_name="audit_flag_reviews")
    op.drop_index(op.f("ix_audit_flag_reviews_flag_key"), table_name="audit_flag_reviews")
    op.drop_table("audit_flag_reviews")
    op.drop_table("audit_saved_filters")
