"""one organisation per email domain: identity providers claim domains in a table whose primary
key is the domain, in place of a free-text list per provider

A domain that more than one provider listed is given to none of them: which organisation it
belongs to is the hub operator's decision (a warning names it). On SQLite the providers' table
is copied afresh, so sign-ins in progress at that moment must be started again.

Revision ID: 78db8cd96995
Revises: 90d133220e1a
Create Date: 2026-12-07 09:30:00+00:00
"""

import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "78db8cd96995"
down_revision: str | None = "90d133220e1a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    providers = sa.table(
        "identity_providers",
        sa.column("id", sa.Uuid()),
        sa.column("allowed_domains", sa.String()),
    )
    claims: dict[str, set] = {}
    for provider_id, listed in op.get_bind().execute(
        sa.select(providers.c.id, providers.c.allowed_domains)
    ):
        for domain in (listed or "").lower().split():
            claims.setdefault(domain, set()).add(provider_id)
    # Before the new table exists: on SQLite the batch operation copies identity_providers
    # into a new table and drops the old one, which would cascade to rows that refer to it.
    with op.batch_alter_table("identity_providers") as batch:
        batch.drop_column("allowed_domains")
    domains = op.create_table(
        "identity_provider_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("claimed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["identity_providers.id"],
            name=op.f("fk_identity_provider_domains_provider_id_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_identity_provider_domains")),
    )
    op.create_index(
        op.f("ix_identity_provider_domains_provider_id"),
        "identity_provider_domains",
        ["provider_id"],
        unique=False,
    )
    now = datetime.now(UTC)
    rows = []
    for domain, owners in sorted(claims.items()):
        if len(owners) > 1:
            # A warning rather than a log line: it reaches whoever runs the upgrade.
            warnings.warn(
                f"email domain {domain} was listed by {len(owners)} identity providers: none "
                "keeps it until the hub's operator gives it to one",
                stacklevel=1,
            )
            continue
        rows.append({"domain": domain, "provider_id": owners.pop(), "claimed_at": now})
    if rows:
        op.bulk_insert(domains, rows)


def downgrade() -> None:
    connection = op.get_bind()
    claims = sa.table(
        "identity_provider_domains",
        sa.column("domain", sa.String()),
        sa.column("provider_id", sa.Uuid()),
    )
    listed: dict = {}
    for domain, provider_id in connection.execute(
        sa.select(claims.c.domain, claims.c.provider_id).order_by(claims.c.domain)
    ):
        listed.setdefault(provider_id, []).append(domain)
    op.drop_index(
        op.f("ix_identity_provider_domains_provider_id"), table_name="identity_provider_domains"
    )
    op.drop_table("identity_provider_domains")
    with op.batch_alter_table("identity_providers") as batch:
        batch.add_column(
            sa.Column("allowed_domains", sa.String(length=1000), nullable=False, server_default="")
        )
    providers = sa.table(
        "identity_providers",
        sa.column("id", sa.Uuid()),
        sa.column("allowed_domains", sa.String()),
    )
    for provider_id, names in listed.items():
        connection.execute(
            providers.update()
            .where(providers.c.id == sa.bindparam("pid"))
            .values(allowed_domains=" ".join(names)),
            {"pid": provider_id},
        )
    with op.batch_alter_table("identity_providers") as batch:
        batch.alter_column(
            "allowed_domains", existing_type=sa.String(length=1000), server_default=None
        )
