"""pending_unsends: a customer's unsend that came before the message it names was stored

Meta may send an unsend (Messenger, Instagram) while the body holding the message itself waits
to be split (it failed, or came later): the unsend is kept here and applied when the message is
stored, so the message is never kept with the words the customer took back.

Revision ID: web_0039
Revises: web_0038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0039"
down_revision: str | None = "web_0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_unsends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=320), nullable=False),
        sa.Column("external_key", sa.String(length=500), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "account_id", "external_key"),
    )
    op.create_index(
        "ix_pending_unsends_received_at", "pending_unsends", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_pending_unsends_received_at", table_name="pending_unsends")
    op.drop_table("pending_unsends")
