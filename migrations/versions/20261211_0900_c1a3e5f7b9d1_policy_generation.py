"""policy generation: one row whose token changes in every transaction that changes policy

Agreements in force, clients, organisations, revocations and signing keys are served to each
request from a per-process cache (`core.policy`). The cache is keyed by this row's token: every
transaction that writes one of those tables writes a new random token in the same transaction,
so a committed change is seen by the next request on every worker and host (each reads the
token, one indexed read), and a rolled-back one leaves no token anyone could cache under.

Revision ID: c1a3e5f7b9d1
Revises: b9c1d3e5f7a9
Create Date: 2026-12-11 09:00:00+00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c1a3e5f7b9d1"
down_revision: str | None = "b9c1d3e5f7a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The policy tables as this migration found them (`core.policy.POLICY_TABLES`).
TABLES = (
    "organisations",
    "oauth_clients",
    "revoked_tokens",
    "token_signing_keys",
    "agreements",
    "agreement_parties",
    "agreement_purposes",
    "agreement_keys",
)
POSTGRES_FUNCTION = """
CREATE FUNCTION policy_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE policy_generation SET token = replace(gen_random_uuid()::text, '-', '') WHERE id = 1;
  RETURN NULL;
END
$$
"""
SQLITE_BUMP = "UPDATE policy_generation SET token = lower(hex(randomblob(16))) WHERE id = 1"


def upgrade() -> None:
    table = op.create_table(
        "policy_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_policy_generation_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "token": secrets.token_hex(16)}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for name in TABLES:
            op.execute(
                f"CREATE TRIGGER {name}_policy_generation AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {name} FOR EACH STATEMENT EXECUTE FUNCTION "
                "policy_generation_bump()"
            )
        return
    for name in TABLES:
        for operation in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER {name}_policy_{operation} AFTER {operation.upper()} ON {name} "
                f"BEGIN {SQLITE_BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in TABLES:
            op.execute(f"DROP TRIGGER {name}_policy_generation ON {name}")
        op.execute("DROP FUNCTION policy_generation_bump()")
    else:
        for name in TABLES:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {name}_policy_{operation}")
    op.drop_table("policy_generation")
