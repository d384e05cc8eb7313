"""message_presence: who has a message's review page open now

The review page records its reader when drawn and by a heartbeat while the tab is visible, and
forgets them when the page is left; others see "bob has this draft open" on the page and in the
queue, so two agents do not work on one draft unknowingly (responder/presence.py).

Revision ID: web_0035
Revises: web_0034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0035"
down_revision: str | None = "web_0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_presence",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("editing", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_presence_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_message_presence_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name=op.f("pk_message_presence")),
    )


def downgrade() -> None:
    op.drop_table("message_presence")
