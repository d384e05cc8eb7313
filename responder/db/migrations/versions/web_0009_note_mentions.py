"""note_mentions: colleagues named with @ in an internal note

Revision ID: web_0009
Revises: web_0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0009"
down_revision: str | None = "web_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "note_mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["notes.id"],
            name=op.f("fk_note_mentions_note_id_notes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_note_mentions_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_mentions")),
        sa.UniqueConstraint("note_id", "user_id", name=op.f("uq_note_mentions_note_id")),
    )
    op.create_index("ix_note_mentions_user_seen", "note_mentions", ["user_id", "seen_at"])


def downgrade() -> None:
    op.drop_index("ix_note_mentions_user_seen", table_name="note_mentions")
    op.drop_table("note_mentions")
