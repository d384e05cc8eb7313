"""messages.guard_override: a person asked for a draft of a message an ignore rule stopped

Revision ID: web_0008
Revises: web_0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0008"
down_revision: str | None = "web_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("guard_override", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("messages", "guard_override")
