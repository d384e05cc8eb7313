"""templates.active: a template version can be switched off (no draft uses it)

Revision ID: web_0014
Revises: web_0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0014"
down_revision: str | None = "web_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not a batch: SQLite adds and drops a column in place, where a batch would
# copy the table and, with foreign keys on, fail to drop the old one (drafts refer to it).


def upgrade() -> None:
    op.add_column(
        "templates", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    op.drop_column("templates", "active")
