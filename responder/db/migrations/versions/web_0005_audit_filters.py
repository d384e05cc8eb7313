"""audit_log: indexes for the audit page's filters (by actor, by object), newest first

Revision ID: web_0005
Revises: web_0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0005"
down_revision: str | None = "web_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
