"""classifier_training_jobs: retrains started from the supervisor page, awaiting a decision

Revision ID: supervisor_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "supervisor_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("classify_0001",)


def upgrade() -> None:
    op.create_table(
        "classifier_training_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classifier", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["classifier_models.id"],
            name=op.f("fk_classifier_training_jobs_model_id_classifier_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_training_jobs")),
    )
    with op.batch_alter_table("classifier_training_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_classifier_training_jobs_classifier"), ["classifier"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("classifier_training_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classifier_training_jobs_classifier"))
    op.drop_table("classifier_training_jobs")
