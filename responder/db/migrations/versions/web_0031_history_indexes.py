"""Indexes for the dashboard and auto-send page to read a period, not the whole history

The dashboard read every message, draft and review action at each load, and the auto-send page
did the same to show 30 days; both now read by arrival time and by action time.

Revision ID: web_0031
Revises: web_0030
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0031"
down_revision: str | None = "web_0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_direction_received", "messages", ["direction", "received_at"], unique=False
    )
    op.create_index("ix_review_actions_created_at", "review_actions", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_review_actions_created_at", table_name="review_actions")
    op.drop_index("ix_messages_direction_received", table_name="messages")
