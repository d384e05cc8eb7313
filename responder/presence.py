"""Who has a message's review page open now, so two agents do not work on one draft unknowingly
(the second one's approve or save would be refused after they did the work).

The page records its reader when it is drawn and then every HEARTBEAT_SECONDS while its tab is
visible (static/presence.js), with whether they have typed in the draft unsaved; leaving the page
deletes the row. A reader not heard from for GONE_AFTER (a closed laptop, a crashed browser)
counts as gone: the rows are compared with the clock, never waited on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from responder.db.models import MessagePresence, StaffUser, utcnow

#: How often an open page says it is still open; a few beats fit in GONE_AFTER, so one lost
#: request does not make its reader vanish from the others' pages.
HEARTBEAT_SECONDS = 25
GONE_AFTER = timedelta(seconds=90)


@dataclass(frozen=True)
class Present:
    message_id: int
    username: str
    since: datetime
    editing: bool


def record(
    session: Session,
    message_id: int,
    user_id: int,
    *,
    editing: bool = False,
    now: datetime | None = None,
) -> None:
    """The reader is on the page now. One statement that inserts or updates (two tabs beating at
    once cannot collide); `opened_at` starts again when their earlier presence had lapsed. Their
    own lapsed rows on other messages go at the same time, so the table holds about one row per
    open page."""
    now = now or utcnow()
    table = MessagePresence.__table__
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    statement = insert(table).values(
        message_id=message_id, user_id=user_id, opened_at=now, seen_at=now, editing=editing
    )
    lapsed = table.c.seen_at < now - GONE_AFTER
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.message_id, table.c.user_id],
            set_={
                "opened_at": case((lapsed, statement.excluded.opened_at), else_=table.c.opened_at),
                "seen_at": statement.excluded.seen_at,
                "editing": statement.excluded.editing,
            },
        )
    )
    session.execute(
        delete(MessagePresence).where(
            MessagePresence.user_id == user_id,
            MessagePresence.message_id != message_id,
            MessagePresence.seen_at < now - GONE_AFTER,
        )
    )


def leave(session: Session, message_id: int, user_id: int) -> None:
    """The reader left the page (closed it, went on, sent its form)."""
    session.execute(
        delete(MessagePresence).where(
            MessagePresence.message_id == message_id, MessagePresence.user_id == user_id
        )
    )


def present(
    session: Session,
    message_ids: Iterable[int],
    *,
    besides: int,
    now: datetime | None = None,
) -> dict[int, list[Present]]:
    """Who else (not `besides`, the person asking: nobody is shown themselves) has each of these
    messages open, first opener first."""
    ids = list(message_ids)
    if not ids:
        return {}
    now = now or utcnow()
    rows = session.execute(
        select(
            MessagePresence.message_id,
            StaffUser.username,
            MessagePresence.opened_at,
            MessagePresence.editing,
        )
        .join(StaffUser, StaffUser.id == MessagePresence.user_id)
        .where(
            MessagePresence.message_id.in_(ids),
            MessagePresence.user_id != besides,
            MessagePresence.seen_at >= now - GONE_AFTER,
            StaffUser.active.is_(True),
        )
        .order_by(MessagePresence.opened_at, StaffUser.username)
    )
    found: dict[int, list[Present]] = {}
    for message_id, username, opened_at, editing in rows:
        found.setdefault(message_id, []).append(Present(message_id, username, opened_at, editing))
    return found
