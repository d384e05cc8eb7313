"""draft_snippets: which snippet versions went into each composed draft

Revision ID: web_0015
Revises: web_0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0015"
down_revision: str | None = "web_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "draft_snippets",
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("snippet_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["drafts.id"],
            name=op.f("fk_draft_snippets_draft_id_drafts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["snippet_id"], ["snippets.id"], name=op.f("fk_draft_snippets_snippet_id_snippets")
        ),
        sa.PrimaryKeyConstraint("draft_id", "snippet_id", name=op.f("pk_draft_snippets")),
    )
    op.create_index(op.f("ix_draft_snippets_snippet_id"), "draft_snippets", ["snippet_id"])
    _fill_from_grounding()


def _fill_from_grounding() -> None:
    """Drafts composed before this table say in their grounding which snippets they used."""
    bind = op.get_bind()
    drafts = sa.table("drafts", sa.column("id", sa.Integer), sa.column("grounding", sa.JSON))
    links = sa.table(
        "draft_snippets", sa.column("draft_id", sa.Integer), sa.column("snippet_id", sa.Integer)
    )
    snippet_ids = set(bind.scalars(sa.text("SELECT id FROM snippets")))
    last = 0
    while True:
        batch = bind.execute(
            sa.select(drafts.c.id, drafts.c.grounding)
            .where(drafts.c.id > last)
            .order_by(drafts.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        rows = [
            {"draft_id": draft_id, "snippet_id": snippet_id}
            for draft_id, grounding in batch
            for snippet_id in _used(grounding or {})
            if snippet_id in snippet_ids
        ]
        if rows:
            bind.execute(links.insert(), rows)
        last = batch[-1][0]


def _used(grounding: dict) -> set[int]:
    """What `responder.drafting.compose.used_snippet_ids` reads, kept here as it was (a
    migration does not import the app); a staff member's version copies its draft's grounding,
    so only composed drafts count."""
    if "edited_from_version" in grounding or "saved_by" in grounding:
        return set()
    records = [*grounding.get("snippets", []), grounding.get("action_snippet") or {}]
    return {r["id"] for r in records if r.get("used") and isinstance(r.get("id"), int)}


def downgrade() -> None:
    op.drop_index(op.f("ix_draft_snippets_snippet_id"), table_name="draft_snippets")
    op.drop_table("draft_snippets")
