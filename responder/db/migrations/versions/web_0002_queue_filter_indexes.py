"""queue filter indexes in the queue's order, and a covering index for the counts

Revision ID: web_0002
Revises: web_0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0002"
down_revision: str | None = "web_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTER_INDEXES = {
    "ix_messages_state_intent_due": ["state", "intent", "due_at", "id"],
    "ix_messages_state_tier_due": ["state", "customer_tier", "due_at", "id"],
    "ix_messages_state_channel_due": ["state", "channel_id", "due_at", "id"],
    "ix_messages_state_assignee_due": ["state", "assignee_id", "due_at", "id"],
    "ix_messages_queue_counts": ["state", "intent", "customer_tier", "channel_id", "assignee_id"],
}


def upgrade() -> None:
    op.drop_index("ix_messages_state_intent", table_name="messages")
    op.drop_index("ix_messages_state_tier", table_name="messages")
    for name, columns in FILTER_INDEXES.items():
        op.create_index(name, "messages", columns)


def downgrade() -> None:
    for name in reversed(FILTER_INDEXES):
        op.drop_index(name, table_name="messages")
    op.create_index("ix_messages_state_tier", "messages", ["state", "customer_tier"])
    op.create_index("ix_messages_state_intent", "messages", ["state", "intent"])
