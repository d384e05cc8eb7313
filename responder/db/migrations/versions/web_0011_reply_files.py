"""reply_files: files staff attach to an email reply, sent with it

Revision ID: web_0011
Revises: social_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0011"
down_revision: str | None = "social_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_reply_files_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_reply_files_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_files")),
    )
    op.create_index(op.f("ix_reply_files_message_id"), "reply_files", ["message_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reply_files_message_id"), table_name="reply_files")
    op.drop_table("reply_files")
