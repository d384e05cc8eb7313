"""messages.reply_cc: the addresses a reply to all copies, which staff may trim

Revision ID: web_0012
Revises: web_0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0012"
down_revision: str | None = "web_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_cc", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("reply_cc")
