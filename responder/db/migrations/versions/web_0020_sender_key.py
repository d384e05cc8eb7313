"""messages.sender_key: the sender's address lower-cased, indexed with the received time

The sender cap counts a sender's drafts of the last hour at every parse batch. Lower-casing the
address in the query left no index to read, so each batch read the whole messages table: a
pass over millions of rows per batch at an operator's volume. The address is now lower-cased
once at the parse and indexed with the received time.

Revision ID: web_0020
Revises: web_0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0020"
down_revision: str | None = "web_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("sender_key", sa.String(320), nullable=False, server_default="")
    )
    messages = sa.table(
        "messages", sa.column("sender_key", sa.String), sa.column("sender_address", sa.String)
    )
    op.execute(
        messages.update()
        .where(messages.c.sender_address.like("%@%"))  # email: the cap counts only those
        .values(sender_key=sa.func.lower(sa.func.trim(messages.c.sender_address)))
    )
    op.create_index("ix_messages_sender_key_received", "messages", ["sender_key", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_sender_key_received", table_name="messages")
    op.drop_column("messages", "sender_key")
