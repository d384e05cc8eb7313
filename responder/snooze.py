"""Snooze: a person puts a draft aside until a time (waiting on the network team, or for the
customer's call-back); it leaves the queue and comes back by itself then, or at once when the
customer writes again. Its due time stands: snoozing does not stop the SLA clock."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from responder.business_hours import BusinessCalendar
from responder.db.keyset import Page, after, decode_cursor, encode_cursor
from responder.db.models import Channel, Message, ReviewAction, StaffUser, utcnow
from responder.db.session import transaction
from responder.display import headline, sender_label
from responder.mentions import record_mentions
from responder.notes import add_note
from responder.pipeline.states import State
from responder.review import (
    AlreadyHandled,
    ReviewError,
    audit,
    inbound_message,
    take_in_review,
)

log = logging.getLogger(__name__)

#: The furthest a draft can be put aside: past this, reject it or write a note instead.
LONGEST = timedelta(days=90)
#: The soonest a draft can come back: a time closer than this is as good as now.
SOONEST = timedelta(minutes=1)
#: A morning for "tomorrow" and "next week" when the team keeps no opening hours, or is open
#: at midnight (round the clock): a draft put aside "until the morning" is for the day shift.
MORNING = time(9, 0)
NOTE_LIMIT = 500
#: The author of the note that tells the person who snoozed a draft it is back. A username holds
#: no space, so nobody can edit or delete it as their own.
REMINDER_AUTHOR = "Responder (snooze)"


@dataclass(frozen=True)
class SnoozeChoice:
    key: str  # what the menu posts
    label: str
    until: datetime  # UTC, as of the page's drawing
    #: The label names the day and time, so the form posts `until` with the key (as
    #: `shown_<key>`) and that is the time it means while it is still to come.
    dated: bool = False


@dataclass(frozen=True)
class MenuTime:
    """What a menu choice means when its form is sent, and, when that is not the time its
    label showed, a sentence saying so (a flash adds it)."""

    until: datetime
    changed: str = ""


#: The menu's choices as forms post them; "week" is left out of the menu when it falls on the
#: next morning, and means that morning then.
CHOICE_KEYS = ("1h", "4h", "morning", "week")
#: The choices whose labels name a day, in the words a flash uses for them.
DATED = {"morning": "next morning", "week": "next week"}


def snooze(
    session: Session,
    message_id: int,
    user: StaffUser,
    until: datetime,
    note: str = "",
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Message:
    """Take a draft out of the queue until `until` (aware). Compare-and-set like approving:
    a draft someone handled meanwhile is refused with who did what."""
    now = now or utcnow()
    if until.tzinfo is None:
        raise ReviewError("give the time with its zone (an offset such as +01:00, or Z)")
    until = until.astimezone(UTC)
    if until <= now + SOONEST:
        raise ReviewError("snooze until a time that is still to come")
    if until > now + LONGEST:
        raise ReviewError(
            f"snooze for at most {LONGEST.days} days; reject the draft or leave a note instead"
        )
    note = " ".join(note.split())
    if len(note) > NOTE_LIMIT:
        raise ReviewError(f"keep the snooze note under {NOTE_LIMIT} characters")
    message = take_in_review(session, message_id, expected_version, State.SNOOZED)
    message.snoozed_until = until
    message.viewer_id = None  # nobody has it open while it sleeps
    session.add(
        ReviewAction(
            message_id=message_id,
            user_id=user.id,
            action="snooze",
            reason=note,
            detail={"until": until.isoformat()},
        )
    )
    audit(session, user.username, "message.snooze", "message", message_id, until=until.isoformat())
    return message


def wake(session: Session, message_id: int, user: StaffUser) -> Message:
    """Back in the queue now, by a person's hand."""
    message = inbound_message(session, message_id)
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == State.SNOOZED)
        .values(
            state=State.IN_REVIEW, snoozed_until=now, version=Message.version + 1, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(message)
    if result.rowcount != 1:
        raise AlreadyHandled(f"this message is not snoozed (it is {message.state})")
    session.add(ReviewAction(message_id=message_id, user_id=user.id, action="wake"))
    audit(session, user.username, "message.wake", "message", message_id)
    return message


def wake_due(factory: sessionmaker[Session], now: datetime | None = None) -> list[int]:
    """Every snoozed draft whose time has come goes back to the queue (workers call this each
    round; any number may, the state check makes each wake once). A read from the state index
    first: most rounds find nothing and write nothing."""
    now = now or utcnow()
    due = (Message.state == State.SNOOZED, Message.snoozed_until <= now)
    with factory() as session:
        if session.scalar(select(Message.id).where(*due).limit(1)) is None:
            return []
    with transaction(factory) as session:
        woken = list(
            session.scalars(
                update(Message)
                .where(*due)
                .values(state=State.IN_REVIEW, version=Message.version + 1, updated_at=now)
                .returning(Message.id)
            )
        )
        remind(session, woken, "the time you set has come")
    for message_id in woken:
        log.info(
            "message %s -> %s (snooze over)",
            message_id,
            State.IN_REVIEW.value,
            extra={"message_id": message_id, "state": State.IN_REVIEW.value},
        )
    return woken


def wake_conversations(session: Session, conversation_ids: set[int]) -> list[int]:
    """The customer wrote again: whatever was put aside in these conversations is back now.
    One look-up a batch (few drafts sleep), and a write only when one does."""
    if not conversation_ids:
        return []
    asleep = list(
        session.scalars(
            select(Message.id).where(
                Message.state == State.SNOOZED, Message.conversation_id.in_(conversation_ids)
            )
        )
    )
    if not asleep:
        return []
    now = utcnow()
    woken = list(
        session.scalars(
            update(Message)
            .where(Message.id.in_(asleep), Message.state == State.SNOOZED)
            .values(state=State.IN_REVIEW, snoozed_until=now, version=Message.version + 1)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    remind(session, woken, "the customer wrote again")
    return woken


def remind(session: Session, woken: Sequence[int], why: str) -> None:
    """Whoever put each draft aside finds it under Mentions, with why it is back, in a note on
    the conversation (its history shows it too); a person since deactivated is not named."""
    for message_id, (who, note) in last_snoozes(session, woken).items():
        body = f"@{who} back from snooze: {why}." + (f" Your note: {note}" if note else "")
        record_mentions(session, add_note(session, message_id, REMINDER_AUTHOR, body))


def snooze_choices(
    now: datetime, timezone: str, calendar: BusinessCalendar | None
) -> list[SnoozeChoice]:
    """The times the snooze menu offers, read in the team's zone: in an hour, in four, the next
    working morning and next week's first (the opening hours' first minute, else 09:00; 09:00 too
    for a team open at midnight)."""
    zone = ZoneInfo(timezone)
    times = _choice_times(now, zone, calendar)
    morning, week = times["morning"], times["week"]
    choices = [
        SnoozeChoice("1h", "In 1 hour", times["1h"]),
        SnoozeChoice("4h", "In 4 hours", times["4h"]),
        SnoozeChoice("morning", f"Next morning ({_named(morning, zone)})", morning, dated=True),
    ]
    if week != morning:
        choices.append(SnoozeChoice("week", f"Next week ({_named(week, zone)})", week, dated=True))
    return choices


def _named(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")


def choice_time(
    key: str, now: datetime, timezone: str, calendar: BusinessCalendar | None
) -> datetime | None:
    """The time a menu choice means worked out at `now` (a page left open three hours still
    snoozes "in 4 hours" for four; a dated choice keeps its label's time first: `menu_time`);
    None for a key the menu does not offer."""
    if key not in CHOICE_KEYS:
        return None
    return _choice_times(now, ZoneInfo(timezone), calendar)[key]


def menu_time(
    key: str, shown: str, now: datetime, timezone: str, calendar: BusinessCalendar | None
) -> MenuTime | None:
    """What the label a person clicked said: a page left open overnight and sent the next day
    still snoozes to the morning its label named (`shown`, the time posted with the key), while
    that is still to come. Once it has passed, or when the page did not send it, the choice is
    worked out now and `changed` says so; "in 4 hours" is always from now. None for a key the
    menu does not offer."""
    worked_out = choice_time(key, now, timezone, calendar)
    if worked_out is None or key not in DATED:
        return None if worked_out is None else MenuTime(worked_out)
    words = DATED[key]
    try:
        at = datetime.fromisoformat(shown.strip())
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        return MenuTime(
            worked_out, f"The page did not say which {words} it showed: it is the {words} from now."
        )
    if at <= now + SOONEST:
        shown_words = _named(at, ZoneInfo(timezone))
        return MenuTime(
            worked_out,
            f"The {words} the page showed ({shown_words}) had passed when it was sent: "
            f"it is the {words} from now.",
        )
    return MenuTime(at.astimezone(UTC))


def _choice_times(
    now: datetime, zone: ZoneInfo, calendar: BusinessCalendar | None
) -> dict[str, datetime]:
    local = now.astimezone(zone)

    def morning(day: date) -> datetime:
        if calendar is None:
            return datetime.combine(day, MORNING, tzinfo=zone).astimezone(UTC)
        start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        opens = calendar.next_opening(start).astimezone(zone)
        if opens.time() != time(0):
            return opens.astimezone(UTC)
        nine = datetime.combine(opens.date(), MORNING, tzinfo=zone).astimezone(UTC)
        return nine if calendar.status(nine)[0] else calendar.next_opening(nine)

    # Before dawn the next morning is this one, unless "in 4 hours" already reaches it.
    this_morning = morning(local.date())
    tomorrow = (
        this_morning
        if this_morning > now + timedelta(hours=4)
        else morning(local.date() + timedelta(days=1))
    )
    return {
        "1h": now + timedelta(hours=1),
        "4h": now + timedelta(hours=4),
        "morning": tomorrow,
        "week": morning(local.date() + timedelta(days=7 - local.weekday())),
    }


#: The snoozed list's page: a bulk snooze can put aside more, reached by "Next page".
PAGE_SIZE = 200


def snoozed_items(
    session: Session, limit: int = PAGE_SIZE, cursor: str | None = None
) -> list[dict[str, object]]:
    """The drafts put aside, soonest back first, with who put each aside, until when and why;
    from `cursor` (a row's own) on, by keyset."""
    query = (
        select(Message, Channel.kind)
        .outerjoin(Channel, Channel.id == Message.channel_id)
        .where(Message.state == State.SNOOZED)
        .order_by(Message.snoozed_until, Message.id)
        .limit(limit)
    )
    if position := _position(cursor):
        query = query.where(after(Message.snoozed_until, Message.id, position))
    rows = session.execute(query).all()
    put_aside = last_snoozes(session, [m.id for m, _ in rows])
    items: list[dict[str, object]] = []
    for m, kind in rows:
        until = m.snoozed_until.isoformat() if m.snoozed_until else None
        items.append(
            {
                "id": m.id,
                "version": m.version,
                "subject": m.subject,
                "title": headline(m.subject, m.new_text or m.text),
                "sender": sender_label(kind, m.sender_name, m.sender_address) or m.sender_address,
                "until": until,
                "due_at": m.due_at.isoformat() if m.due_at else None,
                "by": put_aside.get(m.id, ("", ""))[0],
                "note": put_aside.get(m.id, ("", ""))[1],
                "cursor": encode_cursor(until, m.id),
            }
        )
    return items


def snoozed_list(session: Session, cursor: str | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of the snoozed list, with the whole list's count and the place of the page."""
    rows = snoozed_items(session, size + 1, cursor)
    before = 0
    if position := _position(cursor):
        before = (
            session.scalar(
                select(func.count()).where(
                    Message.state == State.SNOOZED,
                    ~after(Message.snoozed_until, Message.id, position),
                )
            )
            or 0
        )
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = str(rows[-1]["cursor"]) if more else None
    return Page(rows, snoozed_count(session), before, next_cursor)


def _position(cursor: str | None) -> tuple[datetime, int] | None:
    """A snoozed row's place from its cursor; None (from the top) for anything else."""
    decoded = decode_cursor(cursor) if cursor else None
    if decoded is None or decoded[0] is None or decoded[0].tzinfo is None:
        return None
    return decoded[0], decoded[1]


def last_snoozes(session: Session, message_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Who last snoozed each message, and the note they left."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(ReviewAction.message_id, StaffUser.username, ReviewAction.reason)
        .join(StaffUser, StaffUser.id == ReviewAction.user_id)
        .where(ReviewAction.message_id.in_(list(message_ids)), ReviewAction.action == "snooze")
        .order_by(ReviewAction.id)
    ).all()
    return {message_id: (who, note or "") for message_id, who, note in rows}


def snoozed_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(Message.state == State.SNOOZED)) or 0
