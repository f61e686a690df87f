"""audit review: flags marked reviewed and saved filters (issue 14; filled in by the DPO review work)

Revision ID: f7a9b1c3d5e6
Revises: e6f8a0b2c4d5
Create Date: 2026-12-09 11:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "f7a9b1c3d5e6"
down_revision: str | None = "e6f8a0b2c4d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
