"""block_rejections: the waiting drafts a block rejected when it was set, put back on unblock

A block set before this revision rejected a sender's waiting drafts with the reason "spam
(sender blocked)" and kept no list of them. The upgrade finds them again for the blocks still
in place: rejected with that reason by the block covering their sender (an address or its
domain) that was set last before the rejection, and still rejected. The state each left is
told by its snooze: one snoozed then had its wake-up time still to come.

Revision ID: web_0025
Revises: web_0024
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "web_0025"
down_revision: str | None = "web_0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASON = "spam (sender blocked)"


def upgrade() -> None:
    op.create_table(
        "block_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("blocked_sender_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("from_reason", sa.Text(), nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocked_sender_id"],
            ["blocked_senders.id"],
            name=op.f("fk_block_rejections_blocked_sender_id_blocked_senders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_block_rejections_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_rejections")),
        sa.UniqueConstraint("message_id", name=op.f("uq_block_rejections_message_id")),
    )
    op.create_index(
        op.f("ix_block_rejections_blocked_sender_id"),
        "block_rejections",
        ["blocked_sender_id"],
        unique=False,
    )
    _find_earlier_rejections()


def _find_earlier_rejections() -> None:
    connection = op.get_bind()
    blocks: dict[tuple[str, str], list[tuple[datetime, int]]] = {}
    when = sa.DateTime(timezone=True)  # read as datetimes on SQLite too, not as text
    for block_id, kind, value, created_at in connection.execute(
        sa.text("SELECT id, kind, value, created_at FROM blocked_senders").columns(
            sa.column("id"), sa.column("kind"), sa.column("value"), sa.column("created_at", when)
        )
    ):
        blocks.setdefault((kind, value), []).append((created_at, block_id))
    if not blocks:
        return
    rejected = connection.execute(
        sa.text(
            "SELECT r.message_id, r.created_at, m.sender_address, m.snoozed_until"
            " FROM review_actions r JOIN messages m ON m.id = r.message_id"
            " WHERE r.action = 'reject' AND r.reason = :reason"
            " AND m.state = 'rejected' AND m.direction = 'in'"
            " ORDER BY r.id"
        ).columns(
            sa.column("message_id"),
            sa.column("created_at", when),
            sa.column("sender_address"),
            sa.column("snoozed_until", when),
        ),
        {"reason": OLD_REASON},
    )
    rows: dict[int, dict[str, object]] = {}
    for message_id, at, sender, snoozed_until in rejected:
        address = (sender or "").strip().lower()
        keys = [("address", address)]
        if "@" in address:
            keys.append(("domain", address.rsplit("@", 1)[1]))
        set_before = [b for key in keys for b in blocks.get(key, []) if b[0] <= at]
        if not set_before:
            continue
        asleep = snoozed_until is not None and snoozed_until > at
        rows[message_id] = {
            "blocked_sender_id": max(set_before)[1],
            "message_id": message_id,
            "from_state": "snoozed" if asleep else "in_review",
            "from_reason": "",
            "rejected_at": at,
        }
    if rows:
        table = sa.table(
            "block_rejections",
            sa.column("blocked_sender_id", sa.Integer),
            sa.column("message_id", sa.Integer),
            sa.column("from_state", sa.String),
            sa.column("from_reason", sa.Text),
            sa.column("rejected_at", sa.DateTime(timezone=True)),
        )
        op.bulk_insert(table, list(rows.values()))


def downgrade() -> None:
    op.drop_index(op.f("ix_block_rejections_blocked_sender_id"), table_name="block_rejections")
    op.drop_table("block_rejections")
