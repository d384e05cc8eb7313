"""message_id_claims: the one inbound copy of a Message-ID that is drafted

Two copies of one message (sent to two of our mailboxes) parsed by two workers at the same
moment could both be drafted: each looked for the other before either had committed. The parse
stage now claims the Message-ID of each message it routes, and the unique key lets one win.
Messages parsed before keep their outcome: a later copy of one of them is still recognised by
its stored Message-ID, so nothing is filled in.

Revision ID: web_0040
Revises: web_0039
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0040"
down_revision: str | None = "web_0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_id_claims",
        sa.Column("message_id_header", sa.String(length=500), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_id_claims_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id_header", name=op.f("pk_message_id_claims")),
    )
    op.create_index(
        op.f("ix_message_id_claims_message_id"), "message_id_claims", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_id_claims_message_id"), table_name="message_id_claims")
    op.drop_table("message_id_claims")
