"""text_vectors: approved snippets' embeddings, kept so starting processes need not embed them

Every worker or web process embedded every live snippet as it started (seconds with a few
dozen snippets, minutes with thousands), on each restart and on each machine added.

Revision ID: web_0033
Revises: web_0032
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0033"
down_revision: str | None = "web_0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "text_vectors",
        sa.Column("encoder", sa.String(length=64), nullable=False),
        sa.Column("text_digest", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("encoder", "text_digest", name=op.f("pk_text_vectors")),
    )


def downgrade() -> None:
    op.drop_table("text_vectors")
