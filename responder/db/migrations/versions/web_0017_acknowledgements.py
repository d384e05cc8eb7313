"""acknowledgements: the automatic "we have your message" sent apart from a reply

Revision ID: web_0017
Revises: web_0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0017"
down_revision: str | None = "web_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("message_id_header", sa.String(length=500), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_acknowledgements_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_acknowledgements_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_acknowledgements_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgements")),
        sa.UniqueConstraint("message_id", name=op.f("uq_acknowledgements_message_id")),
        sa.UniqueConstraint(
            "message_id_header", name=op.f("uq_acknowledgements_message_id_header")
        ),
    )
    op.create_index(
        op.f("ix_acknowledgements_customer_id"), "acknowledgements", ["customer_id"], unique=False
    )
    op.create_index(op.f("ix_acknowledgements_state"), "acknowledgements", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_acknowledgements_state"), table_name="acknowledgements")
    op.drop_index(op.f("ix_acknowledgements_customer_id"), table_name="acknowledgements")
    op.drop_table("acknowledgements")
