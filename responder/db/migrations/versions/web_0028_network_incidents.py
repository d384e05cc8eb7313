"""network_incidents: faults supervisors record, which outage drafts describe until resolved

Revision ID: web_0028
Revises: web_0027
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0028"
down_revision: str | None = "web_0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "network_incidents"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_fix_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("public_note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    op.create_index(op.f(f"ix_{TABLE}_resolved_at"), TABLE, ["resolved_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{TABLE}_resolved_at"), table_name=TABLE)
    op.drop_table(TABLE)
