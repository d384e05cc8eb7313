"""Social channels are named for people: "WhatsApp", not "whatsapp:106540352242922"

A channel made for a platform account was named `<kind>:<account id>`, which the queue's
filter, its channel column and Needs attention showed as is. Each is renamed as a new one is
now named (`responder.channels.social.ingest.channel_names`): the platform's name, or with the
account id after it when that name is taken. The channel is found by kind and account id, never
by name, so nothing else changes.

Revision ID: web_0027
Revises: web_0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from responder.channels.social import SOCIAL_KINDS
from responder.channels.social.ingest import channel_names

revision: str = "web_0027"
down_revision: str | None = "web_0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = sa.text("SELECT id, name, kind, address FROM channels ORDER BY id")
RENAME = sa.text("UPDATE channels SET name = :name WHERE id = :id")


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(CHANNELS).all()
    taken = {row.name for row in rows}
    for row in rows:
        if row.kind not in SOCIAL_KINDS or row.name != f"{row.kind}:{row.address}":
            continue
        name = next((n for n in channel_names(row.kind, row.address) if n not in taken), None)
        if name is not None:
            bind.execute(RENAME, {"name": name, "id": row.id})
            taken.add(name)


def downgrade() -> None:
    bind = op.get_bind()
    for row in bind.execute(CHANNELS).all():
        if row.kind in SOCIAL_KINDS and row.name in channel_names(row.kind, row.address):
            bind.execute(RENAME, {"name": f"{row.kind}:{row.address}", "id": row.id})
