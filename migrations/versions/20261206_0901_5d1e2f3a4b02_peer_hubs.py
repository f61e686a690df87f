"""peer hubs (hub-to-hub federation and mutual witnessing)

Revision ID: 5d1e2f3a4b02
Revises: 4c0f1d5e7a01
Create Date: 2026-12-06 09:01:00+00:00
"""

from collections.abc import Sequence

revision: str = "5d1e2f3a4b02"
down_revision: str | None = "4c0f1d5e7a01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
