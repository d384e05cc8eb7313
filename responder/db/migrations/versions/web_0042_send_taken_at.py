"""outbox.taken_at and acknowledgements.taken_at: when a send was last taken

Recovery after a worker stopped mid-send tells whether that take sent a WhatsApp template in
the send's place by the record the take wrote, dated by the take: the customer writing after
the take no longer makes the template read as the reply. A send withdrawing its template finds
by it the sends taken at the same moment and held behind that template. Rows taken before
have none and are judged as before.

Revision ID: web_0042
Revises: web_0041
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0042"
down_revision: str | None = "web_0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "acknowledgements", sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements") as batch_op:
        batch_op.drop_column("taken_at")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("taken_at")
