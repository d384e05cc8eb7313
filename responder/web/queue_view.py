"""The queue view an agent works in: the queue's filters, carried in the query string of the
review page's links and forms, so that the next draft, the move on after an action and the way
back to the queue stay inside what they chose to work on (a channel, an intent, "assigned to
me"); and the way back a page in the queue, whose cursor only leads forward."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from litestar.exceptions import ValidationException
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from responder.db.models import Message
from responder.pipeline.states import State
from responder.web.views import QueueFilter, decode_cursor, encode_cursor

#: The queue's filter parameters, in the order its links write them.
NAMES = ("channel", "intent", "tier", "assignee", "sentiment")
#: What the queue takes for a channel or an assignee: an id picked in its filter form, whose
#: "all" option sends an empty value (`?channel=`), so empty means any; 18 digits at most, so a
#: long number is refused here, never a database overflow.
_PICKED_ID = re.compile(r"[0-9]{0,18}")
#: What a channel or assignee filter that is not an id is told, by name.
_NOT_AN_ID = {
    "channel": "not a channel's id: give its number, or leave it empty for every channel",
    "assignee": "not a staff account's id: give its number, or leave it empty for everyone",
}


def queue_filter(
    channel: int | None,
    intent: str | None,
    tier: str | None,
    assignee: int | None,
    sentiment: str | None = None,
) -> QueueFilter:
    """NUL cannot be stored in any field, and PostgreSQL refuses it in a query: drop it."""
    intent = (intent or "").replace("\x00", "")
    tier = (tier or "").replace("\x00", "")
    sentiment = (sentiment or "").replace("\x00", "")
    return QueueFilter(
        channel_id=channel,
        intent=intent or None,
        tier=tier or None,
        assignee_id=assignee,
        sentiment=sentiment or None,
    )


def filters_from(
    channel: str = "",
    intent: str | None = None,
    tier: str | None = None,
    assignee: str = "",
    sentiment: str | None = None,
) -> QueueFilter:
    """The filters as the queue page, the review page, the queue's watch and `GET /api/queue`
    take them from the query string, so that each refuses what the others refuse: a channel or
    assignee that is not an id is a 400 naming it (a page for a person, JSON for a program)."""
    problems = [
        {"key": name, "message": f"{value[:40]!r} is {_NOT_AN_ID[name]}", "source": "query"}
        for name, value in (("channel", channel), ("assignee", assignee))
        if not _PICKED_ID.fullmatch(value)
    ]
    if problems:
        raise ValidationException("The queue's filters were not understood", extra=problems)
    return queue_filter(
        int(channel) if channel else None,
        intent,
        tier,
        int(assignee) if assignee else None,
        sentiment,
    )


@dataclass(frozen=True)
class QueueView:
    filters: QueueFilter = field(default_factory=QueueFilter)

    def params(self) -> dict[str, str]:
        """The filters that are set, as the queue's query parameters."""
        f = self.filters
        values = (f.channel_id, f.intent, f.tier, f.assignee_id, f.sentiment)
        return {
            name: str(value)
            for name, value in zip(NAMES, values, strict=True)
            if value is not None and value != ""
        }

    @property
    def query(self) -> str:
        """For a link without a query of its own: "?intent=roaming", or "" for the whole queue."""
        params = self.params()
        return f"?{urlencode(params)}" if params else ""

    @property
    def more(self) -> str:
        """For a link with a query already: "&intent=roaming", or ""."""
        params = self.params()
        return f"&{urlencode(params)}" if params else ""


def view_in(query: Mapping[str, str]) -> QueueView:
    """The view named in a request's query string, read as the queue reads its filters; a
    channel or assignee the queue would refuse is left out (the review page's own GET refuses
    it as the queue does, so only a hand-made form target carries one)."""

    def picked(name: str) -> int | None:
        value = query.get(name) or ""
        return int(value) if value and _PICKED_ID.fullmatch(value) else None

    return QueueView(
        queue_filter(
            picked("channel"),
            query.get("intent"),
            query.get("tier"),
            picked("assignee"),
            query.get("sentiment"),
        )
    )


def in_view(filters: QueueFilter) -> list[ColumnElement[bool]]:
    """Conditions for the drafts waiting for review that the filters let through."""
    conditions: list[ColumnElement[bool]] = [Message.state == State.IN_REVIEW]
    if filters.channel_id is not None:
        conditions.append(Message.channel_id == filters.channel_id)
    if filters.intent:
        conditions.append(Message.intent == filters.intent)
    if filters.tier:
        conditions.append(Message.customer_tier == filters.tier)
    if filters.assignee_id is not None:
        conditions.append(Message.assignee_id == filters.assignee_id)
    if filters.sentiment:
        conditions.append(Message.sentiment == filters.sentiment)
    return conditions


def previous_cursor(
    session: Session, filters: QueueFilter, cursor: str | None, page_size: int
) -> str | None:
    """The cursor of the page before the one `cursor` opens ("" when that is the first page);
    None when `cursor` opens the first page itself. The page before ends at the cursor's row,
    so it starts after the row `page_size` places back from there: one indexed walk of the
    queue's order backwards, as it is now (drafts handled meanwhile are not counted)."""
    position = decode_cursor(cursor) if cursor else None
    if position is None:
        return None
    due, message_id = position
    query = select(Message.due_at, Message.id).where(*in_view(filters))
    if due is None:
        query = query.where(Message.id <= message_id)
    else:
        query = query.where(
            or_(Message.due_at < due, and_(Message.due_at == due, Message.id <= message_id))
        )
    before = session.execute(
        query.order_by(Message.due_at.desc(), Message.id.desc()).offset(page_size).limit(1)
    ).first()
    if before is None:
        return ""
    return encode_cursor(before.due_at.isoformat() if before.due_at else None, before.id)
