"""web sessions remember a re-authentication (password and code again) for replacing the
authenticator

Revision ID: 90d133220e1a
Revises: 5d1e2f3a4b02
Create Date: 2026-12-07 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "90d133220e1a"
down_revision: str | None = "5d1e2f3a4b02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(
            sa.Column("reauthenticated_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("reauthenticated_at")
