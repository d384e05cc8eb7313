"""messages.snoozed_until: a draft put aside until a time (state "snoozed")

Revision ID: web_0016
Revises: web_0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0016"
down_revision: str | None = "web_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Snoozed drafts go back to the queue: the older schema has no state for them.
    messages = sa.table("messages", sa.column("state", sa.String))
    op.execute(messages.update().where(messages.c.state == "snoozed").values(state="in_review"))
    op.drop_column("messages", "snoozed_until")
