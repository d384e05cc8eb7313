"""The trigram indexes search uses on PostgreSQL (migrations web_0013 and web_0021).

They live outside the ORM models because only PostgreSQL has them: the models describe the
schema both databases share, and the migration test leaves these names out of its comparison.
"""

from __future__ import annotations

from responder.search_fold import FOLD_FUNCTION

# index name: (table, indexed expression), each one that `responder.web.search` matches with
# LIKE: the search table's text is stored folded, the customers' values are folded in SQL
SEARCH_INDEXES: dict[str, tuple[str, str]] = {
    "ix_search_message_text": ("message_search", "text"),
    "ix_search_customers_name": ("customers", f"{FOLD_FUNCTION}(name)"),
    "ix_search_customers_external_id": ("customers", f"{FOLD_FUNCTION}(external_id)"),
    "ix_search_identities_value": ("customer_identities", f"{FOLD_FUNCTION}(value)"),
    "ix_search_identities_display": ("customer_identities", f"{FOLD_FUNCTION}(display)"),
}

#: SQLite's counterpart of the message text index: an FTS5 table with the trigram tokenizer over
#: `message_search` (external content, kept by triggers; migration web_0019). FTS5 keeps it in
#: shadow tables named after it, which the models do not describe either.
SQLITE_MESSAGE_INDEX = "message_search_fts"
#: A trigram phrase needs three characters; `responder.web.search` reads every row for fewer.
SQLITE_INDEX_SHORTEST = 3
