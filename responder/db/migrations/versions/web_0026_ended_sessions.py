"""ended_sessions: why a session was ended for its holder, for the login page to say

A password change, an admin's reset and a deactivation delete the account's sessions; the
browser then came back to a bare login page. The reason is kept per token until the session
would have expired.

Revision ID: web_0026
Revises: web_0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0026"
down_revision: str | None = "web_0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ended_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_ended_sessions")),
    )
    op.create_index(
        op.f("ix_ended_sessions_expires_at"), "ended_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ended_sessions_expires_at"), table_name="ended_sessions")
    op.drop_table("ended_sessions")
