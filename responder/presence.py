"""Who has a message's review page open now, so two agents do not work on one draft unknowingly
(the second one's approve or save would be refused after they did the work).

Each drawing of the page is a page view with its own random id (`new_page_id`), recorded when it
is drawn and then every HEARTBEAT_SECONDS while its tab is visible (static/presence.js), with
whether they have typed in the draft unsaved; leaving the page deletes that page view's row only.
So a reload, whose old page's leaving beacon may arrive after the new page was recorded, or one
of two tabs closed, does not take the person away while another of their page views is open. A
page view not heard from for GONE_AFTER (a closed laptop, a crashed browser) counts as gone: the
rows are compared with the clock, never waited on, and a person's lapsed rows are deleted when
they are next recorded.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from responder.db.models import MessagePresence, StaffUser, utcnow

#: How often an open page says it is still open; a few beats fit in GONE_AFTER, so one lost
#: request does not make its reader vanish from the others' pages.
HEARTBEAT_SECONDS = 25
GONE_AFTER = timedelta(seconds=90)
#: The longest page view id a heartbeat may send (the column's width).
PAGE_ID_LENGTH = 32
#: The page view of a heartbeat that sends no id: a page drawn before page views had ids, still
#: open during an upgrade. All such pages of one person on one message share it.
NO_PAGE = ""


@dataclass(frozen=True)
class Present:
    message_id: int
    username: str
    since: datetime
    editing: bool


def new_page_id() -> str:
    """A fresh id for one drawing of the review page (22 characters)."""
    return secrets.token_urlsafe(16)


def record(
    session: Session,
    message_id: int,
    user_id: int,
    *,
    page: str = NO_PAGE,
    editing: bool = False,
    now: datetime | None = None,
) -> None:
    """The reader is on the page now, in page view `page`. Their lapsed rows (any message) go
    first, so the table holds about one row per open page; then one statement inserts or updates
    (two beats of one page at once cannot collide). A new page view counts from when the reader's
    earliest page view still open on the message was opened, so a reload keeps their "since"."""
    now = now or utcnow()
    fresh_after = now - GONE_AFTER
    session.execute(
        delete(MessagePresence).where(
            MessagePresence.user_id == user_id, MessagePresence.seen_at < fresh_after
        )
    )
    earliest = session.scalar(
        select(func.min(MessagePresence.opened_at)).where(
            MessagePresence.message_id == message_id, MessagePresence.user_id == user_id
        )
    )
    table = MessagePresence.__table__
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    statement = insert(table).values(
        message_id=message_id,
        user_id=user_id,
        page=page,
        opened_at=earliest or now,
        seen_at=now,
        editing=editing,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.message_id, table.c.user_id, table.c.page],
            set_={"seen_at": statement.excluded.seen_at, "editing": statement.excluded.editing},
        )
    )


def leave(session: Session, message_id: int, user_id: int, page: str = NO_PAGE) -> None:
    """The reader left page view `page` (closed it, went on, sent its form); their other page
    views of the message still count."""
    session.execute(
        delete(MessagePresence).where(
            MessagePresence.message_id == message_id,
            MessagePresence.user_id == user_id,
            MessagePresence.page == page,
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
    messages open in any page view heard from lately, first opener first; editing if they are
    in any of them."""
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
    people: dict[int, dict[str, Present]] = {}
    for message_id, username, opened_at, editing in rows:
        on_message = people.setdefault(message_id, {})
        earlier = on_message.get(username)
        if earlier is None:
            on_message[username] = Present(message_id, username, opened_at, editing)
        elif editing and not earlier.editing:
            on_message[username] = replace(earlier, editing=True)
    return {message_id: list(by_name.values()) for message_id, by_name in people.items()}


def being_edited(
    session: Session, message_ids: Iterable[int], *, now: datetime | None = None
) -> set[int]:
    """Of these messages, those someone is typing in the draft of now, unsaved, in a page view
    heard from lately: a draft written again under them would refuse their save."""
    ids = list(message_ids)
    if not ids:
        return set()
    now = now or utcnow()
    return set(
        session.scalars(
            select(MessagePresence.message_id).where(
                MessagePresence.message_id.in_(ids),
                MessagePresence.editing.is_(True),
                MessagePresence.seen_at >= now - GONE_AFTER,
            )
        )
    )
