"""Search folds accents: "sean o briain" finds "Seán Ó Briain" on both databases

The search table's text is stored folded (`responder.search_fold.fold`: compatibility
decomposition, lower case, accents dropped), so the stored rows are folded here. Customers'
names, external ids and identities are folded in SQL by `search_fold`: SQLite calls the Python
function (`responder.db.session`); PostgreSQL gets the same steps as an SQL function, and its
trigram indexes on those columns are rebuilt on the folded values so a search still reads them.
`normalize` needs a UTF-8 database: on another encoding `search_fold` only lower-cases, and the
upgrade logs that accents are not folded there.

Revision ID: web_0021
Revises: web_0020
"""

import logging
from collections.abc import Callable, Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "web_0021"
down_revision: str | None = "web_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("responder.migrations")

FOLD = "search_fold"
# Python's fold, step for step: NFKD, lower case, the combining marks U+0300-U+036F dropped.
# normalize() is immutable (PostgreSQL 13 and later), so the function may be indexed.
FOLDING = r"regexp_replace(lower(normalize($1, NFKD)), '[\u0300-\u036f]', '', 'g')"
CUSTOMER_INDEXES = {
    "ix_search_customers_name": ("customers", "name"),
    "ix_search_customers_external_id": ("customers", "external_id"),
    "ix_search_identities_value": ("customer_identities", "value"),
    "ix_search_identities_display": ("customer_identities", "display"),
}
# the search table's fields as `responder.search_text.searchable` joins them, unfolded
UNFOLDED = "(SELECT {fields} FROM messages WHERE messages.id = message_search.message_id)"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        folding = FOLDING
        if bind.exec_driver_sql("SHOW server_encoding").scalar() != "UTF8":
            log.warning(
                "search does not fold accents: the database is not UTF-8 (createdb -E UTF8)"
            )
            folding = "lower($1)"
        op.execute(
            f"CREATE OR REPLACE FUNCTION {FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE "
            f"STRICT PARALLEL SAFE AS $$ SELECT {folding} $$"
        )
        _index_customers(bind, lambda column: f"{FOLD}({column})")
    op.execute(f"UPDATE message_search SET text = {FOLD}(text)")


def downgrade() -> None:
    bind = op.get_bind()
    line_break = "chr(10)" if bind.dialect.name == "postgresql" else "char(10)"
    fields = f" || {line_break} || ".join(
        f"coalesce({column}, '')"
        for column in ("subject", "sender_name", "sender_address", "new_text")
    )
    op.execute(f"UPDATE message_search SET text = {UNFOLDED.format(fields=fields)}")
    if bind.dialect.name == "postgresql":
        _index_customers(bind, lambda column: column)
        op.execute(f"DROP FUNCTION IF EXISTS {FOLD}(text)")


def _index_customers(bind: Connection, expression: Callable[[str], str]) -> None:
    """Only where web_0013 could build trigram indexes (pg_trgm available)."""
    trigrams = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if trigrams.first() is None:
        return
    for name, (table, column) in CUSTOMER_INDEXES.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON {table} USING gin ({expression(column)} gin_trgm_ops)")
