"""attachments.remote and fetch state: a social DM's photo or file is fetched from the platform

Revision ID: social_0002
Revises: web_0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "social_0002"
down_revision: str | None = "web_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remote", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("fetch_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("fetch_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("fetch_error", sa.String(length=500), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_attachments_fetch_due_at"), ["fetch_due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_fetch_due_at"))
        batch_op.drop_column("fetch_error")
        batch_op.drop_column("fetch_attempts")
        batch_op.drop_column("fetch_due_at")
        batch_op.drop_column("remote")
