"""witnesses' submission prefixes: where the hub submits its checkpoints (C2SP tlog-witness)

The hub now asks witnesses to cosign its checkpoints by POSTing `<prefix>/add-checkpoint`
(audit.witness_submission). A witness registered without one is not submitted to (a peer hub's
witness is reached under the peer's base URL instead).

Revision ID: e3c5a7b9d1f2
Revises: d2b4f6a8c0e1
Create Date: 2026-12-12 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3c5a7b9d1f2"
down_revision: str | None = "d2b4f6a8c0e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_witnesses", sa.Column("submission_prefix", sa.String(length=2000), nullable=True)
    )


def downgrade() -> None:
    # Both engines drop a column in place (SQLite since 3.35), so the table, which the
    # append-only cosignatures reference, is never made again.
    op.drop_column("audit_witnesses", "submission_prefix")
