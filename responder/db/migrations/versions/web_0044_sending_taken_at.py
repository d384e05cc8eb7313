"""acknowledgements.taken_at for those a worker of an earlier release left sending

A worker of a release before web_0042 dated no take. One it left in `sending` (stopped, or
still delivering, when the upgrade ran) has taken_at NULL, which recovery now reads as claimed
but never taken to send, and queues again: cut off mid-delivery, it could go out twice. Those
rows are dated by the upgrade, so recovery asks the sender whether it went, and where nobody
can tell (SMTP) leaves it uncertain for staff, never sending a second copy. The claim's time is
not stored (only its end, `claimed_until`), so the upgrade's time stands for it.

The outbox is left as it is: a reply's recovery reads taken_at NULL as taken by a worker of an
earlier release (possibly sent, and a WhatsApp template judged by the reply window then), not
as untaken, and a date there would change that judgement.

Downgrading changes nothing: the dates stay, and the earlier release does not read them.

Revision ID: web_0044
Revises: web_0043
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "web_0044"
down_revision: str | None = "web_0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":  # stored naive, in UTC, as the models store it
        now = now.replace(tzinfo=None)
    acknowledgements = sa.table(
        "acknowledgements",
        sa.column("state", sa.String),
        sa.column("taken_at", sa.DateTime(timezone=True)),
    )
    connection.execute(
        sa.update(acknowledgements)
        .where(acknowledgements.c.state == "sending", acknowledgements.c.taken_at.is_(None))
        .values(taken_at=now)
    )


def downgrade() -> None:
    pass
