"""SQLite: an FTS5 trigram index over message_search, so a substring search is an index read

PostgreSQL has had its trigram index since web_0013; SQLite read every row of the search table
(about 80 ms at 100,000 messages, growing with the mailbox). FTS5's trigram tokenizer (SQLite
3.34 and later) answers a phrase query as a substring match from its index, case-insensitively.
The index holds no copy of the text (external content): triggers on message_search keep it, so
every writer of that table (the parse, a re-parse, a cascade from a deleted message) keeps it
too. An SQLite built without FTS5 keeps reading every row, and the upgrade logs why instead of
failing.

Revision ID: web_0019
Revises: web_0018
"""

import logging
import sqlite3
from collections.abc import Sequence

from alembic import op

from responder.db.search_indexes import SQLITE_MESSAGE_INDEX as INDEX

revision: str = "web_0019"
down_revision: str | None = "web_0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("responder.migrations")

TRIGGERS = {
    f"{INDEX}_insert": (
        "AFTER INSERT",
        f"INSERT INTO {INDEX} (rowid, text) VALUES (new.message_id, new.text);",
    ),
    f"{INDEX}_delete": (
        "AFTER DELETE",
        f"INSERT INTO {INDEX} ({INDEX}, rowid, text) VALUES ('delete', old.message_id, old.text);",
    ),
    f"{INDEX}_update": (
        "AFTER UPDATE",
        f"INSERT INTO {INDEX} ({INDEX}, rowid, text) VALUES ('delete', old.message_id, old.text);"
        f" INSERT INTO {INDEX} (rowid, text) VALUES (new.message_id, new.text);",
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    options = {row[0] for row in bind.exec_driver_sql("PRAGMA compile_options")}
    if sqlite3.sqlite_version_info < (3, 34) or "ENABLE_FTS5" not in options:
        log.warning("search reads every row: SQLite %s lacks FTS5 trigram", sqlite3.sqlite_version)
        return
    op.execute(
        f"CREATE VIRTUAL TABLE {INDEX} USING fts5(text, content='message_search', "
        "content_rowid='message_id', tokenize='trigram')"
    )
    for name, (when, body) in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} ON message_search BEGIN {body} END")
    op.execute(f"INSERT INTO {INDEX} ({INDEX}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {INDEX}")
