"""text_vectors.used_at: when a stored vector was last written or read

Rows of an encoder no process uses any more are deleted once they have not been used for
`stored_vectors.UNUSED_ENCODER_DAYS`; rows stored before this column count from when they were
stored.

Revision ID: web_0034
Revises: web_0033
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0034"
down_revision: str | None = "web_0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("text_vectors", sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE text_vectors SET used_at = created_at")
    with op.batch_alter_table("text_vectors") as batch:
        batch.alter_column("used_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("text_vectors") as batch:
        batch.drop_column("used_at")
