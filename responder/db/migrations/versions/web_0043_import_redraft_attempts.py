"""import_redrafts.attempts, next_attempt_at, last_error: a temporary failure is tried again

A draft the workers could not write again after a CRM import (the embedding model would not
load) was marked failed at the first failure, and only a person's Redraft on its page wrote
it. Its row now counts the attempts and waits a back-off between them, as a failing stage's
message does, and is marked failed after `[pipeline] max_attempts`, its reason kept for the
page. Rows already failed stay failed (their reason was only logged).

The claim and the purge of finished rows read one index, (done_at, next_attempt_at, id), in
place of the one on done_at; a withdrawn WhatsApp template finds the sends held behind it by
an index on outbox.held_behind and acknowledgements.held_behind.

Revision ID: web_0043
Revises: web_0042
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0043"
down_revision: str | None = "web_0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "import_redrafts",
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "import_redrafts",
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "import_redrafts",
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
    )
    op.drop_index(op.f("ix_import_redrafts_done_at"), table_name="import_redrafts")
    op.create_index(
        "ix_import_redrafts_done_due",
        "import_redrafts",
        ["done_at", "next_attempt_at", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_outbox_held_behind"), "outbox", ["held_behind"], unique=False)
    op.create_index(
        op.f("ix_acknowledgements_held_behind"), "acknowledgements", ["held_behind"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_acknowledgements_held_behind"), table_name="acknowledgements")
    op.drop_index(op.f("ix_outbox_held_behind"), table_name="outbox")
    op.drop_index("ix_import_redrafts_done_due", table_name="import_redrafts")
    op.create_index(
        op.f("ix_import_redrafts_done_at"), "import_redrafts", ["done_at"], unique=False
    )
    with op.batch_alter_table("import_redrafts") as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
