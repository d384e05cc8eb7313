"""message_search: the text search matches per inbound message; trigram indexes on PostgreSQL

A substring search (`ILIKE '%words%'`) cannot use a B-tree; pg_trgm's GIN indexes can, so on
PostgreSQL a word found in few messages is an index read instead of a pass over every row.
The text lives in its own table, written once at the parse: a message row gets a new version
at every state change, and each would index its whole text again. SQLite has no such index
and reads the narrow table. Where PostgreSQL refuses the extension (a managed server without
it, an account that may not create it), search still works by reading every row, and the
upgrade logs why instead of failing.

Revision ID: web_0013
Revises: web_0012
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "web_0013"
down_revision: str | None = "web_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("responder.migrations")

# the indexes as this revision built them (web_0021 indexes the customers' folded values)
SEARCH_INDEXES: dict[str, tuple[str, str]] = {
    "ix_search_message_text": ("message_search", "text"),
    "ix_search_customers_name": ("customers", "name"),
    "ix_search_customers_external_id": ("customers", "external_id"),
    "ix_search_identities_value": ("customer_identities", "value"),
    "ix_search_identities_display": ("customer_identities", "display"),
}


def upgrade() -> None:
    op.create_table(
        "message_search",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id"),
    )
    bind = op.get_bind()
    line_break = "chr(10)" if bind.dialect.name == "postgresql" else "char(10)"
    # the fields as `responder.search_text.searchable` joins them
    fields = f" || {line_break} || ".join(
        f"coalesce({column}, '')"
        for column in ("subject", "sender_name", "sender_address", "new_text")
    )
    op.execute(
        f"INSERT INTO message_search (message_id, text) SELECT id, {fields} FROM messages "
        "WHERE direction = 'in'"
    )
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        log.warning("search reads every row: pg_trgm unavailable (%s)", exc.orig)
        return
    for name, (table, column) in SEARCH_INDEXES.items():
        bind.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, (table, _) in SEARCH_INDEXES.items():
            if table != "message_search":
                op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("message_search")
