"""customer_link_dismissals: a link suggestion an agent said was wrong is not offered again

Revision ID: web_0024
Revises: web_0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0024"
down_revision: str | None = "web_0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "customer_link_dismissals"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("dismissed_by", sa.String(length=100), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["customers.id"], name=op.f(f"fk_{TABLE}_source_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["customers.id"], name=op.f(f"fk_{TABLE}_target_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("source_id", "target_id", name=op.f(f"uq_{TABLE}_source_id")),
    )
    op.create_index(op.f(f"ix_{TABLE}_source_id"), TABLE, ["source_id"], unique=False)
    op.create_index(op.f(f"ix_{TABLE}_target_id"), TABLE, ["target_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{TABLE}_target_id"), table_name=TABLE)
    op.drop_index(op.f(f"ix_{TABLE}_source_id"), table_name=TABLE)
    op.drop_table(TABLE)
