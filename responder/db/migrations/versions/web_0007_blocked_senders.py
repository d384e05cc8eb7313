"""blocked senders: addresses and domains whose mail is stored and ignored

Revision ID: web_0007
Revises: web_0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0007"
down_revision: str | None = "web_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blocked_senders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("blocked_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("last_hit_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_senders")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_blocked_senders_kind")),
    )


def downgrade() -> None:
    op.drop_table("blocked_senders")
