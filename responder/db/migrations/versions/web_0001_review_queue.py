"""review queue: due time, urgency, tier snapshot, soft claim

Revision ID: web_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("urgency", sa.String(10), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("customer_tier", sa.String(30), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("viewer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_messages_viewer_id_staff_users", "staff_users", ["viewer_id"], ["id"]
        )
        batch.create_index("ix_messages_state_due", ["state", "due_at", "id"])
        batch.create_index("ix_messages_state_intent", ["state", "intent"])
        batch.create_index("ix_messages_state_tier", ["state", "customer_tier"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_state_tier")
        batch.drop_index("ix_messages_state_intent")
        batch.drop_index("ix_messages_state_due")
        batch.drop_constraint("fk_messages_viewer_id_staff_users", type_="foreignkey")
        for column in ("viewed_at", "viewer_id", "customer_tier", "urgency", "due_at"):
            batch.drop_column(column)
