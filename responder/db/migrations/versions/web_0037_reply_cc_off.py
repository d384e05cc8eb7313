"""messages.reply_cc_off: the copied addresses a person unticked, kept apart from reply_cc

Unticking a Cc used to take the address out of reply_cc, so after a Save it was gone from the
review page for good; now reply_cc keeps every address and this lists those left off, shown
unticked, to be ticked again. Rows already trimmed stay as they are.

A plain ALTER TABLE, not a batch: a batch copies `messages` and drops it, which SQLite refuses
("database table is locked") once message_search rows, with their FTS5 index, hang off it.

Revision ID: web_0037
Revises: web_0036
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0037"
down_revision: str | None = "web_0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("reply_cc_off", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Older code copies everyone in reply_cc: those left off come out of it first.
    connection = op.get_bind()
    messages = sa.table(
        "messages",
        sa.column("id", sa.Integer),
        sa.column("reply_cc", sa.JSON),
        sa.column("reply_cc_off", sa.JSON),
    )
    rows = connection.execute(
        sa.select(messages.c.id, messages.c.reply_cc, messages.c.reply_cc_off).where(
            messages.c.reply_cc_off.is_not(None)
        )
    ).all()
    for message_id, copied, off in rows:
        left_off = {str(a).lower() for a in off or []}
        kept = [pair for pair in copied or [] if str(pair[1]).lower() not in left_off]
        connection.execute(
            sa.update(messages).where(messages.c.id == message_id).values(reply_cc=kept)
        )
    op.drop_column("messages", "reply_cc_off")
