"""email outbox delivery: attempts, retries and backends (issue 14)

The outbox gains what sending needs: the HTML part, a status (pending, sent, failed), the
number of attempts and when the next is due, the last error (its class and code only), and a
sender's claim. Rows queued before this revision were never sent by the hub: those already
marked sent stay sent, the rest become pending and are sent by the new sender.

Revision ID: e6f8a0b2c4d5
Revises: d5e7f9a1b3c4
Create Date: 2026-12-09 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "e6f8a0b2c4d5"
down_revision: str | None = "d5e7f9a1b3c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = sa.Enum(
    "pending",
    "sent",
    "failed",
    name="email_status",
    native_enum=False,
    create_constraint=True,
    length=32,
)


def upgrade() -> None:
    with op.batch_alter_table("outbox_emails") as batch:
        batch.add_column(sa.Column("html_body", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("status", STATUS, nullable=False, server_default="pending"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("next_attempt_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("last_error", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("claimed_until", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("failed_at", core.db.UTCDateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE outbox_emails SET next_attempt_at = created_at"))
    op.execute(sa.text("UPDATE outbox_emails SET status = 'sent' WHERE sent_at IS NOT NULL"))
    with op.batch_alter_table("outbox_emails") as batch:
        batch.alter_column("html_body", existing_type=sa.Text(), server_default=None)
        batch.alter_column("status", existing_type=STATUS, server_default=None)
        batch.alter_column("attempts", existing_type=sa.Integer(), server_default=None)
        batch.alter_column(
            "next_attempt_at", existing_type=core.db.UTCDateTime(timezone=True), nullable=False
        )
        batch.create_index("ix_outbox_emails_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_emails") as batch:
        batch.drop_index("ix_outbox_emails_due")
        batch.drop_column("failed_at")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
        batch.drop_column("last_error")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
        batch.drop_constraint(op.f("ck_outbox_emails_email_status"), type_="check")
        batch.drop_column("status")
        batch.drop_column("html_body")
