"""The queue view an agent works in: the queue's filters, carried in the query string of the
review page's links and forms, so that the next draft, the move on after an action and the way
back to the queue stay inside what they chose to work on (a channel, an intent, their own drafts
and the unassigned); the filter form's choices; and the way back a page in the queue, whose
cursor only leads forward."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
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
#: The assignee filter's words besides an id: drafts nobody has, and the asker's and those.
UNASSIGNED = "none"
MINE_OR_UNASSIGNED = "mine_or_none"
#: What a channel or assignee filter that is not an id is told, by name.
_NOT_AN_ID = {
    "channel": "not a channel's id: give its number, or leave it empty for every channel",
    "assignee": (
        f"not a staff account's id: give its number, {UNASSIGNED!r} for the drafts nobody has, "
        f"{MINE_OR_UNASSIGNED!r} for yours and those, or leave it empty for everyone"
    ),
}


def queue_filter(
    channel: int | None,
    intent: str | None,
    tier: str | None,
    assignee: int | None,
    sentiment: str | None = None,
    *,
    unassigned: bool = False,
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
        unassigned=unassigned,
    )


def _understood(name: str, value: str) -> bool:
    if name == "assignee" and value in (UNASSIGNED, MINE_OR_UNASSIGNED):
        return True
    return bool(_PICKED_ID.fullmatch(value))


def _refuse(whose: str, **given: str) -> None:
    """A 400 naming each filter that is not understood (a page for a person, JSON for a
    program), in the same words wherever the queue's filters are taken."""
    problems = [
        {"key": name, "message": f"{value[:40]!r} is {_NOT_AN_ID[name]}", "source": "query"}
        for name, value in given.items()
        if not _understood(name, value)
    ]
    if problems:
        raise ValidationException(f"The {whose} filters were not understood", extra=problems)


def channel_from(channel: str) -> int | None:
    """A channel filter taken, and refused, as the queue takes it: search's."""
    _refuse("search's", channel=channel)
    return int(channel) if channel else None


def _assignee(value: str, me: int) -> tuple[int | None, bool]:
    """The assignee filter's id and whether drafts nobody has pass (`QueueFilter.unassigned`)."""
    if value == UNASSIGNED:
        return None, True
    if value == MINE_OR_UNASSIGNED:
        return me, True
    return (int(value) if value else None), False


def filters_from(
    channel: str = "",
    intent: str | None = None,
    tier: str | None = None,
    assignee: str = "",
    sentiment: str | None = None,
    *,
    me: int,
) -> QueueFilter:
    """The filters as the queue page, the review page, the queue's watch and the queue's API
    take them from the query string, so that each refuses what the others refuse: a channel or
    assignee that is not an id is a 400 naming it. `me`: who asks, for "mine_or_none"."""
    _refuse("queue's", channel=channel, assignee=assignee)
    assignee_id, unassigned = _assignee(assignee, me)
    return queue_filter(
        int(channel) if channel else None,
        intent,
        tier,
        assignee_id,
        sentiment,
        unassigned=unassigned,
    )


@dataclass(frozen=True)
class QueueView:
    filters: QueueFilter = field(default_factory=QueueFilter)

    def params(self) -> dict[str, str]:
        """The filters that are set, as the queue's query parameters. An assignee with the
        unassigned is "mine_or_none": only the asker's own view is made so (`filters_from`)."""
        f = self.filters
        assignee = {
            "id": f.assignee_id,
            "none": UNASSIGNED,
            "id_or_none": MINE_OR_UNASSIGNED,
            None: None,
        }[f.assignee_rule]
        values = (f.channel_id, f.intent, f.tier, assignee, f.sentiment)
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


def next_page_link(path: str, view: QueueView, limit: int, last: Mapping[str, Any]) -> str:
    """A `Link` header for the page after the row `last`: the same filters and size, so a
    program walks the whole view by following it, with no cursor of its own to make."""
    query = urlencode({**view.params(), "limit": limit, "cursor": last["cursor"]})
    return f'<{path}?{query}>; rel="next"'


def view_in(query: Mapping[str, str], me: int) -> QueueView:
    """The view named in a request's query string, read as the queue reads its filters; a
    channel or assignee the queue would refuse is left out (the review page's own GET refuses
    it as the queue does, so only a hand-made form target carries one). `me`: who asks."""

    def picked(name: str) -> str:
        value = query.get(name) or ""
        return value if _understood(name, value) else ""

    assignee_id, unassigned = _assignee(picked("assignee"), me)
    return QueueView(
        queue_filter(
            int(picked("channel")) if picked("channel") else None,
            query.get("intent"),
            query.get("tier"),
            assignee_id,
            query.get("sentiment"),
            unassigned=unassigned,
        )
    )


class Choice(NamedTuple):
    value: str
    words: str
    count: int | None  # None: not counted (the "everyone" choice)


def with_chosen(counts: Mapping[str, int], chosen: str | None) -> list[tuple[str, int]]:
    """An intent, tier or mood filter's options, by value, with their counts under the other
    filters: the value chosen is listed even at 0, so the form never says "all" while the
    list is still narrowed by it."""
    shown = {value: n for value, n in counts.items() if value}
    if chosen:
        shown.setdefault(chosen, 0)
    return sorted(shown.items())


def assignee_choices(
    counts: Mapping[str, int], staff: Mapping[int, str], chosen: str, me: int
) -> list[Choice]:
    """The assignee filter's options: everyone, the unassigned, me, me and the unassigned, then
    each colleague (`staff`: the active accounts), counted under the other filters; an account
    chosen that is not among them (made inactive since) is listed too, as chosen."""
    nobody, mine = counts.get(UNASSIGNED, 0), counts.get(str(me), 0)
    choices = [
        Choice("", "everyone", None),
        Choice(UNASSIGNED, "unassigned", nobody),
        Choice(str(me), "me", mine),
        Choice(MINE_OR_UNASSIGNED, "me or unassigned", mine + nobody),
    ]
    choices += [Choice(str(i), name, counts.get(str(i), 0)) for i, name in staff.items() if i != me]
    if chosen not in {c.value for c in choices}:
        choices.append(Choice(chosen, f"account {chosen}", counts.get(chosen, 0)))
    return choices


def filter_form(
    view: QueueView,
    counts: Mapping[str, Any],
    channels: Sequence[tuple[int, str]],
    staff: Mapping[int, str],
    me: int,
) -> dict[str, Any]:
    """What the queue's filter form shows: the values chosen, as the form sends them, and each
    select's options with their counts (`summarise_counts`). A value chosen is always an
    option, a channel deleted since too: the form never says "all" while the list is narrowed."""
    chosen = view.params()
    channel = view.filters.channel_id
    listed = list(channels)
    if channel is not None and channel not in dict(listed):
        listed.append((channel, f"channel {channel}"))
    return {
        "channels": listed,
        "filters": {
            "channel": channel,
            **{name: chosen.get(name, "") for name in ("intent", "tier", "sentiment", "assignee")},
        },
        "choices": {
            name: with_chosen(counts[name], chosen.get(name))
            for name in ("intent", "tier", "sentiment")
        },
        "assignees": assignee_choices(counts["assignee"], staff, chosen.get("assignee", ""), me),
    }


def in_view(filters: QueueFilter) -> list[ColumnElement[bool]]:
    """Conditions for the drafts waiting for review that the filters let through."""
    conditions: list[ColumnElement[bool]] = [Message.state == State.IN_REVIEW]
    if filters.channel_id is not None:
        conditions.append(Message.channel_id == filters.channel_id)
    if filters.intent:
        conditions.append(Message.intent == filters.intent)
    if filters.tier:
        conditions.append(Message.customer_tier == filters.tier)
    rule = filters.assignee_rule
    if rule == "id":
        conditions.append(Message.assignee_id == filters.assignee_id)
    elif rule == "none":
        conditions.append(Message.assignee_id.is_(None))
    elif rule == "id_or_none":
        conditions.append(
            or_(Message.assignee_id == filters.assignee_id, Message.assignee_id.is_(None))
        )
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
