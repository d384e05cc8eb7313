"""customer view: subscriptions, cases, interactions, links, value parts

Revision ID: customers_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "customers_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _customer_fk(table: str, column: str = "customer_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["customers.id"], name=op.f(f"fk_{table}_{column}_customers")
    )


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_parts", sa.JSON(), nullable=True))

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("plan", sa.String(length=100), nullable=False),
        sa.Column("monthly_spend", sa.Float(), nullable=True),
        sa.Column("addons", sa.JSON(), nullable=False),
        sa.Column("contract_start", sa.String(length=10), nullable=False),
        sa.Column("contract_end", sa.String(length=10), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _customer_fk("subscriptions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("external_id", name=op.f("uq_subscriptions_external_id")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        _customer_fk("cases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("external_id", name=op.f("uq_cases_external_id")),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        _customer_fk("interactions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
        sa.UniqueConstraint("external_id", name=op.f("uq_interactions_external_id")),
    )
    op.create_table(
        "customer_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("linked_by", sa.String(length=100), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unlinked_by", sa.String(length=100), nullable=True),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        _customer_fk("customer_links", "source_id"),
        _customer_fk("customer_links", "target_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_links")),
    )
    for table, column in (
        ("subscriptions", "customer_id"),
        ("cases", "customer_id"),
        ("interactions", "customer_id"),
        ("customer_links", "source_id"),
        ("customer_links", "target_id"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table in ("customer_links", "interactions", "cases", "subscriptions"):
        op.drop_table(table)
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("value_parts")
