"""the audit write keeps only the indexes a reader of the log needs

Every audited request inserts into `audit_entries` (and its side tables), and each index there
is paid on every insert. Two served no query at all: the unique index on `uuid` (the entry's
random id, made by the hub and never looked up: at a million entries the costliest index on the
write) and the index on `request_id` (a random id per request, never looked up). The agreement
index now holds only entries made under an agreement, the only ones any reader asks for. What
each index costs and which query uses it: `bench/audit_index_bench.py`, its section of
bench/RESULTS.md.

SQLite cannot drop or add a UNIQUE constraint in place, so there the table is made again (its
rows copied out and back, its triggers and indexes made anew); PostgreSQL drops and creates.

Revision ID: d2b4f6a8c0e1
Revises: c1a3e5f7b9d1
Create Date: 2026-12-11 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit.ddl import append_only_statements, drop_statements

revision: str = "d2b4f6a8c0e1"
down_revision: str | None = "c1a3e5f7b9d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_entries"
HOLDING = "_audit_entries_rebuild"
WITH_AGREEMENT = sa.text("agreement_id IS NOT NULL")
REFUSALS = sa.text("outcome <> 'granted'")
#: The indexes both before and after this revision (name, columns, partial on).
KEPT = (
    ("ix_audit_entries_action", ["action"], None),
    ("ix_audit_entries_actor", ["actor"], None),
    ("ix_audit_entries_actor_org", ["actor_org"], None),
    ("ix_audit_entries_refusals", ["time_ms"], REFUSALS),
    ("ix_audit_entries_resource_org", ["resource_org"], None),
    ("ix_audit_entries_time_ms", ["time_ms"], None),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _remake_on_sqlite(before=False)
        return
    op.drop_index("ix_audit_entries_request_id", table_name=TABLE)
    op.drop_constraint("uq_audit_entries_uuid", TABLE, type_="unique")
    op.drop_index("ix_audit_entries_agreement_id", table_name=TABLE)
    op.create_index(
        "ix_audit_entries_agreement_id", TABLE, ["agreement_id"], postgresql_where=WITH_AGREEMENT
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _remake_on_sqlite(before=True)
        return
    op.drop_index("ix_audit_entries_agreement_id", table_name=TABLE)
    op.create_index("ix_audit_entries_agreement_id", TABLE, ["agreement_id"])
    op.create_unique_constraint("uq_audit_entries_uuid", TABLE, ["uuid"])
    op.create_index("ix_audit_entries_request_id", TABLE, ["request_id"])


def _columns() -> list[sa.Column]:
    """The entries table's columns at this revision (as the earlier migrations made them)."""
    return [
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("actor_org", sa.String(length=80), nullable=True),
        sa.Column("on_behalf_of", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=True),
        sa.Column("resource_type", sa.String(length=40), nullable=True),
        sa.Column("resource_ids", sa.Text(), nullable=True),
        sa.Column("agreement_id", sa.String(length=80), nullable=True),
        sa.Column("agreement_version", sa.Integer(), nullable=True),
        sa.Column("agreement_hash", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=80), nullable=True),
        sa.Column("fields", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("resource_org", sa.String(length=80), nullable=True),
    ]


def _remake_on_sqlite(*, before: bool) -> None:
    """Make the entries table again, as it was `before` this revision or as it is after it.

    The rows wait in a holding table while the table is dropped and made again. Dropping it
    with its rows deletes them first, which would leave the side tables' rows (subjects,
    records, pending, leaves) without their entry: with foreign keys deferred to the commit
    (they cannot be switched off inside the migration's transaction) that is allowed for now,
    and each row copied back gives those rows their entry again, so nothing is left to refuse
    at the commit, or the commit fails and nothing changes."""
    names = [column.name for column in _columns()]
    listed = ", ".join(names)
    op.execute("PRAGMA defer_foreign_keys = ON")
    for statement in drop_statements("sqlite", TABLE):
        op.execute(statement)
    op.execute(f"CREATE TABLE {HOLDING} AS SELECT {listed} FROM {TABLE}")  # noqa: S608
    op.drop_table(TABLE)
    unique = [sa.UniqueConstraint("uuid", name="uq_audit_entries_uuid")] if before else []
    op.create_table(
        TABLE, *_columns(), sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"), *unique
    )
    for name, columns, where in KEPT:
        op.create_index(name, TABLE, columns, sqlite_where=where)
    if before:
        op.create_index("ix_audit_entries_agreement_id", TABLE, ["agreement_id"])
        op.create_index("ix_audit_entries_request_id", TABLE, ["request_id"])
    else:
        op.create_index(
            "ix_audit_entries_agreement_id", TABLE, ["agreement_id"], sqlite_where=WITH_AGREEMENT
        )
    # Constant names only, never input.
    op.execute(
        f"INSERT INTO {TABLE} ({listed}) SELECT {listed} FROM {HOLDING} ORDER BY seq"  # noqa: S608
    )
    op.drop_table(HOLDING)
    # Without a unique uuid an INSERT OR REPLACE can clash on seq alone (and a trigger that
    # also matched uuid would read the whole table on every insert, uuid being unindexed).
    keys = (("seq",), ("uuid",)) if before else (("seq",),)
    for statement in append_only_statements("sqlite", TABLE, keys):
        op.execute(statement)
