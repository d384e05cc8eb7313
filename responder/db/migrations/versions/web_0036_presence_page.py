"""message_presence.page: a row per page view, not per person

Each drawing of the review page has its own random id, so leaving one page (a reload's old page,
whose leaving beacon may arrive after the new page was recorded, or one of two tabs) removes only
that page's presence (responder/presence.py). Rows already there become the page view "", which
heartbeats from pages drawn before the upgrade keep using.

Revision ID: web_0036
Revises: web_0035
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0036"
down_revision: str | None = "web_0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message_presence") as batch:
        batch.add_column(sa.Column("page", sa.String(32), nullable=False, server_default=""))
        batch.drop_constraint("pk_message_presence", type_="primary")
        batch.create_primary_key("pk_message_presence", ["message_id", "user_id", "page"])


def downgrade() -> None:
    # One row per person again: presence lasts 90 seconds and the next heartbeat writes it anew.
    op.execute("DELETE FROM message_presence")
    with op.batch_alter_table("message_presence") as batch:
        batch.drop_constraint("pk_message_presence", type_="primary")
        batch.drop_column("page")
        batch.create_primary_key("pk_message_presence", ["message_id", "user_id"])
