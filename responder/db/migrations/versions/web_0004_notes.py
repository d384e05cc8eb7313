"""notes: staff's internal notes on a message and its conversation

Revision ID: web_0004
Revises: web_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0004"
down_revision: str | None = "web_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notes_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_notes_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_conversation_id"), "notes", ["conversation_id"])
    op.create_index(op.f("ix_notes_message_id"), "notes", ["message_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_notes_message_id"), table_name="notes")
    op.drop_index(op.f("ix_notes_conversation_id"), table_name="notes")
    op.drop_table("notes")
