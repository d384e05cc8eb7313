"""outbox.taken_at and acknowledgements.taken_at: when a send was last taken

Recovery after a worker stopped mid-send tells whether that take sent a WhatsApp template in
the send's place by the record the take wrote, dated by the take: the customer writing after
the take no longer makes the template read as the reply. Rows taken before have none and are
judged as before.

outbox.held_behind and acknowledgements.held_behind: the Message-ID of the WhatsApp template a
send was held behind (left unsent, an acknowledgement), when another send had recorded it as
going out: withdrawing that template (it did not go out) queues exactly those sends again,
whatever the hosts' clocks said. Rows held before have none and stay held, as before.

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
    op.add_column("outbox", sa.Column("held_behind", sa.String(500), nullable=True))
    op.add_column("acknowledgements", sa.Column("held_behind", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements") as batch_op:
        batch_op.drop_column("held_behind")
        batch_op.drop_column("taken_at")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("held_behind")
        batch_op.drop_column("taken_at")
