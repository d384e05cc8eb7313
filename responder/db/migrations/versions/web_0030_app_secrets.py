"""app_secrets: the CSRF signing key made once and kept across restarts

Without RESPONDER_SECRET_KEY each start made a new key, so every page open in a browser (and
its cookie) failed on its next form with "CSRF token verification failed", logging out
included, until the browser was closed.

Revision ID: web_0030
Revises: web_0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0030"
down_revision: str | None = "web_0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
