"""messages.sender_check: our receiving server's verdict on the sender (SPF, DKIM, DMARC)

Revision ID: web_0018
Revises: web_0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0018"
down_revision: str | None = "web_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("sender_check", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "sender_check")
