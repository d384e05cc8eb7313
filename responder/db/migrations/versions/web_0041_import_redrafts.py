"""import_redrafts: a CRM import's linked senders' drafts, written again by the workers

An import that links senders to known customers used to write their waiting drafts again
inside the import (the request, or `responder import`), so a large one made a long request.
It now queues them here in its last transaction and returns; the workers claim the rows with
a lease and write each draft again. Nothing to fill in: earlier imports' drafts were written.

Revision ID: web_0041
Revises: web_0040
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0041"
down_revision: str | None = "web_0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_redrafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("imported_from", sa.String(length=500), nullable=False),
        sa.Column("queued_by", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("draft_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_import_redrafts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_import_redrafts_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_redrafts")),
    )
    op.create_index(
        op.f("ix_import_redrafts_message_id"), "import_redrafts", ["message_id"], unique=False
    )
    op.create_index(
        op.f("ix_import_redrafts_done_at"), "import_redrafts", ["done_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_import_redrafts_done_at"), table_name="import_redrafts")
    op.drop_index(op.f("ix_import_redrafts_message_id"), table_name="import_redrafts")
    op.drop_table("import_redrafts")
