"""notes.edited_at: a note's author may correct it for a few minutes, and it says so

Revision ID: web_0010
Revises: web_0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0010"
down_revision: str | None = "web_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("notes", "edited_at")
