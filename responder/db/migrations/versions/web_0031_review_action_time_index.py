"""An index on review actions' time, for the auto-send page to read 30 days, not the history

The dashboard read every message, draft and review action at each load, and the auto-send page
did the same to show 30 days; both now read a period: the dashboard by arrival (a pass over
the messages table, cheap next to what it no longer loads), the auto-send page and the
dashboard's corrections by when staff acted. An index on messages' arrival was tried and left
out: on small tables the planner took it over the sender cap's and search's own indexes.

Revision ID: web_0031
Revises: web_0030
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0031"
down_revision: str | None = "web_0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_review_actions_created_at", "review_actions", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_review_actions_created_at", table_name="review_actions")
