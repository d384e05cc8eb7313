"""pending_imports: a customer-data CSV uploaded on the web, kept between preview and import

Supervisors import CRM and billing exports from /supervisor/customer-data: the upload is
previewed (nothing changes), then confirmed without uploading it again. The file waits here,
not on one web process's disk, since the confirmation may reach another process.

Revision ID: web_0032
Revises: web_0031
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0032"
down_revision: str | None = "web_0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_imports",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_pending_imports")),
    )
    op.create_index(
        op.f("ix_pending_imports_created_at"), "pending_imports", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_imports_created_at"), table_name="pending_imports")
    op.drop_table("pending_imports")
