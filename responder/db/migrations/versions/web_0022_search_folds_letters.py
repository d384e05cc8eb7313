"""Search spells "ø", "ł", "ß", "æ" and their kind plain: "soren" finds "Søren"

These letters are letters of their own to Unicode, not a base letter and an accent, so web_0021's
fold kept them and a search typed without them found nothing. The fold now spells them as a
person without the keyboard would (`responder.search_fold.LETTERS`). PostgreSQL's `search_fold`
gets the same table (on a UTF-8 database; on another it stays as web_0021 left it) and the
customers' trigram indexes on it are rebuilt; the stored search text, already folded by web_0021,
is folded again where it holds one of the letters (folding is idempotent, so the result is what
the new fold gives the original text).

Revision ID: web_0022
Revises: web_0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0022"
down_revision: str | None = "web_0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLD = "search_fold"
# responder.search_fold.LETTERS as this revision spells it
LETTERS = {
    "Ø": "o", "ø": "o", "Ł": "l", "ł": "l", "Đ": "d", "đ": "d", "Ð": "d", "ð": "d",
    "Ħ": "h", "ħ": "h", "Ŧ": "t", "ŧ": "t", "ı": "i",
    "ß": "ss", "ẞ": "ss", "Æ": "ae", "æ": "ae", "Œ": "oe", "œ": "oe", "Þ": "th", "þ": "th",
}  # fmt: skip
ACCENTS = r"'[\u0300-\u036f]'"
CUSTOMER_INDEXES = (
    "ix_search_customers_name",
    "ix_search_customers_external_id",
    "ix_search_identities_value",
    "ix_search_identities_display",
)
WITH_LETTERS = "[" + "".join(LETTERS) + "]"


def spelled(expression: str, letters: dict[str, str]) -> str:
    """The letters' table in SQL: one translate() for the single letters, a replace() for each
    spelled with two."""
    single = {letter: plain for letter, plain in letters.items() if len(plain) == 1}
    out = (
        f"translate({expression}, '{''.join(single)}', '{''.join(single.values())}')"
        if single
        else expression
    )
    for letter, plain in letters.items():
        if len(plain) > 1:
            out = f"replace({out}, '{letter}', '{plain}')"
    return out


def folding(letters: dict[str, str]) -> str:
    """Python's fold step for step: NFKD, the letters spelled, lower case, accents dropped."""
    return f"regexp_replace(lower({spelled('normalize($1, NFKD)', letters)}), {ACCENTS}, '', 'g')"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        if bind.exec_driver_sql("SHOW server_encoding").scalar() != "UTF8":
            return  # web_0021 left a lower()-only fold there and logged why
        _define(folding(LETTERS))
        op.execute(f"UPDATE message_search SET text = {FOLD}(text) WHERE text ~ '{WITH_LETTERS}'")
    else:
        op.execute(
            f"UPDATE message_search SET text = {FOLD}(text) WHERE text GLOB '*{WITH_LETTERS}*'"
        )


def downgrade() -> None:
    """web_0021's fold back on PostgreSQL. Stored text keeps the letters spelled plain: the
    originals are not known from it, and a search then simply misses them as before."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        if bind.exec_driver_sql("SHOW server_encoding").scalar() != "UTF8":
            return
        _define(folding({}))


def _define(body: str) -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION {FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE "
        f"STRICT PARALLEL SAFE AS $$ SELECT {body} $$"
    )
    bind = op.get_bind()
    present = bind.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%(names)s)",
        {"names": list(CUSTOMER_INDEXES)},
    ).all()
    # Built anew, not REINDEXed: PostgreSQL caches an index's expression with the function's
    # body inlined, and a REINDEX in this session would compute the old fold again.
    for name, definition in present:
        op.execute(f"DROP INDEX {name}")
        op.execute(definition)
