"""identity providers (home-organisation sign-in with OpenID Connect)

Revision ID: 4c0f1d5e7a01
Revises: 2f1eb2216467
Create Date: 2026-12-06 09:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "4c0f1d5e7a01"
down_revision: str | None = "2f1eb2216467"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
