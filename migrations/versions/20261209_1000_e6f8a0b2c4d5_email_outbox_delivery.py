"""email outbox delivery: attempts, retries and backends (issue 14; filled in by the email work)

Revision ID: e6f8a0b2c4d5
Revises: d5e7f9a1b3c4
Create Date: 2026-12-09 10:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "e6f8a0b2c4d5"
down_revision: str | None = "d5e7f9a1b3c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
