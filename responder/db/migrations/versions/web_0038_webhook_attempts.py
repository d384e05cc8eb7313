"""webhook_deliveries.attempts and failed_at, and an index on processed_at

A body that was stored but could not be split is tried again by the workers' rounds; the count
lets one that always fails be given up after `[pipeline] max_attempts` (failed_at) and shown to
a person (Needs attention) instead of stopping every later one. The indexes keep each round's
search for unsplit bodies, and the Needs attention count, from reading every delivery ever
received. Rows already stored count no attempts.

Revision ID: web_0038
Revises: web_0037
Depends on: social_0001 (webhook_deliveries)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0038"
down_revision: str | None = "web_0037"
branch_labels: str | Sequence[str] | None = None
#: webhook_deliveries is made on the social branch.
depends_on: str | Sequence[str] | None = "social_0001"


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries",
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "webhook_deliveries", sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_webhook_deliveries_processed_at", "webhook_deliveries", ["processed_at"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_failed_at", "webhook_deliveries", ["failed_at"], unique=False
    )


def downgrade() -> None:
    # Requests to fetch a message again (this release's rows in imap_flag_jobs): the code before
    # it would set "fetch again" on the message as IMAP keywords.
    op.execute("DELETE FROM imap_flag_jobs WHERE flag = 'fetch again'")
    op.drop_index("ix_webhook_deliveries_failed_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_processed_at", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("attempts")
