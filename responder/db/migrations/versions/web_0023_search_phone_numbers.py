"""Search finds a phone number however the customer spaced it in the mail

The stored search text gains, after the fields, each phone number written in the new text as
E.164, one a line (`responder.search_text.written_phones`), as the parse now writes it; a
search for a number also looks for that form. Numbers written without a country code are read
in `[customers] default_region`, which `responder db upgrade` passes in (`phone_region`); with
none, only numbers written with their country code are added. Rows that already hold their
numbers (parsed by the new code) are left as they are.

Revision ID: web_0023
Revises: web_0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from responder.search_text import SEPARATOR, written_phones

revision: str = "web_0023"
down_revision: str | None = "web_0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
ROWS = sa.text(
    "SELECT s.message_id, s.text, m.new_text FROM message_search s "
    "JOIN messages m ON m.id = s.message_id "
    "WHERE s.message_id > :after ORDER BY s.message_id LIMIT :batch"
)
ADD = sa.text("UPDATE message_search SET text = text || :numbers WHERE message_id = :id")


def upgrade() -> None:
    region = context.config.attributes.get("phone_region")
    bind = op.get_bind()
    after = 0
    while rows := bind.execute(ROWS, {"after": after, "batch": BATCH}).all():
        added = []
        for message_id, text, new_text in rows:
            held = set(text.split(SEPARATOR))
            # E.164 is "+" and digits: folding leaves it as it is
            numbers = [n for n in written_phones(new_text or "", region) if n not in held]
            if numbers:
                added.append({"id": message_id, "numbers": SEPARATOR + SEPARATOR.join(numbers)})
        if added:
            bind.execute(ADD, added)
        after = rows[-1][0]


def downgrade() -> None:
    """The numbers stay: a search at web_0022 simply does not look for them."""
