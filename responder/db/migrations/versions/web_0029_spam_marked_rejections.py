"""block_rejections.spam_marked_by: the message a person marked as spam, remembered with the
block it set, so lifting the block can put that message back too

Revision ID: web_0029
Revises: web_0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0029"
down_revision: str | None = "web_0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not a batch: SQLite adds and drops a column in place.


def upgrade() -> None:
    op.add_column(
        "block_rejections",
        sa.Column("spam_marked_by", sa.String(length=100), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("block_rejections", "spam_marked_by")
