"""rule_versions: supervisors' edits of the tone and action rules, versioned

Revision ID: supervisor_0002
Revises: supervisor_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "supervisor_0002"
down_revision: str | None = "supervisor_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_rule_versions_kind")),
    )


def downgrade() -> None:
    op.drop_table("rule_versions")
