"""messages.sentiment: the queue shows and filters the customer's mood; the counts' covering
index gains it. Waiting messages take it from their stored classification.

Revision ID: web_0006
Revises: web_0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0006"
down_revision: str | None = "web_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = "ix_messages_queue_counts"
COUNTED = ["state", "intent", "customer_tier", "channel_id", "assignee_id"]
BATCH = 1000


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("sentiment", sa.String(length=10), nullable=False, server_default="")
    )
    messages = sa.table(
        "messages",
        sa.column("id", sa.Integer()),
        sa.column("state", sa.String()),
        sa.column("classification", sa.JSON()),
        sa.column("sentiment", sa.String()),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.classification)
            .where(messages.c.state == "in_review", messages.c.id > last)
            .order_by(messages.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for message_id, classification in rows:
            found = (classification or {}).get("sentiment")
            label = found.get("label") if isinstance(found, dict) else None
            if isinstance(label, str) and label:
                bind.execute(
                    messages.update()
                    .where(messages.c.id == message_id)
                    .values(sentiment=label[:10])
                )
        last = rows[-1][0]
    op.drop_index(COUNTS, table_name="messages")
    op.create_index(COUNTS, "messages", [*COUNTED, "sentiment"])


def downgrade() -> None:
    op.drop_index(COUNTS, table_name="messages")
    op.create_index(COUNTS, "messages", COUNTED)
    op.drop_column("messages", "sentiment")
