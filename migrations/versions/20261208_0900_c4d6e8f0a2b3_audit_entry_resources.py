"""the records each audit entry names, indexed beside it (audit_entry_resources)

Revision ID: c4d6e8f0a2b3
Revises: b7e2d4c6a8f1
Create Date: 2026-12-08 09:00:00+00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit.ddl import append_only_statements, drop_statements

revision: str = "c4d6e8f0a2b3"
down_revision: str | None = "b7e2d4c6a8f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
ID_LENGTH = 200


def upgrade() -> None:
    op.create_table(
        "audit_entry_resources",
        sa.Column(
            "entry_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_seq"],
            ["audit_entries.seq"],
            name=op.f("fk_audit_entry_resources_entry_seq_audit_entries"),
        ),
        sa.PrimaryKeyConstraint("entry_seq", "resource_id", name=op.f("pk_audit_entry_resources")),
    )
    _backfill()
    op.create_index(
        "ix_audit_entry_resources_resource",
        "audit_entry_resources",
        ["resource_type", "resource_id"],
        unique=False,
    )
    dialect = op.get_bind().dialect.name
    for statement in append_only_statements(
        dialect, "audit_entry_resources", (("entry_seq", "resource_id"),)
    ):
        op.execute(statement)


def _backfill() -> None:
    """Every existing entry's records, read from the entry's own `resource_ids`."""
    connection = op.get_bind()
    entries = sa.table(
        "audit_entries",
        sa.column("seq", sa.BigInteger),
        sa.column("resource_type", sa.String),
        sa.column("resource_ids", sa.Text),
    )
    resources = sa.table(
        "audit_entry_resources",
        sa.column("entry_seq", sa.BigInteger),
        sa.column("resource_id", sa.String),
        sa.column("resource_type", sa.String),
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(entries.c.seq, entries.c.resource_type, entries.c.resource_ids)
            .where(entries.c.seq > after, entries.c.resource_ids.is_not(None))
            .order_by(entries.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = [
            {"entry_seq": seq, "resource_id": resource_id, "resource_type": resource_type}
            for seq, resource_type, text in rows
            for resource_id in sorted({str(i)[:ID_LENGTH] for i in json.loads(text)})
        ]
        if values:
            connection.execute(sa.insert(resources), values)
        after = rows[-1].seq


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in drop_statements(dialect, "audit_entry_resources"):
        op.execute(statement)
    op.drop_index("ix_audit_entry_resources_resource", table_name="audit_entry_resources")
    op.drop_table("audit_entry_resources")
