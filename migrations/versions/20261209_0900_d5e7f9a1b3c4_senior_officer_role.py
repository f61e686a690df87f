"""senior officer is a role a person holds (person_roles.role gains senior_officer)

Revision ID: d5e7f9a1b3c4
Revises: c4d6e8f0a2b3
Create Date: 2026-12-09 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5e7f9a1b3c4"
down_revision: str | None = "c4d6e8f0a2b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
    "org_admin",
    "events_officer",
    "prevent_lead",
    "coordinator",
    "dpo",
    "auditor",
    "signatory",
)
AFTER = (*BEFORE, "senior_officer")


def _role_type(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="role", native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    with op.batch_alter_table("person_roles", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=_role_type(BEFORE), type_=_role_type(AFTER))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM person_roles WHERE role = 'senior_officer'"))
    with op.batch_alter_table("person_roles", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=_role_type(AFTER), type_=_role_type(BEFORE))
