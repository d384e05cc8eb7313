"""Which conversation a new message belongs to.

Headers first (In-Reply-To, References, including our own replies' Message-IDs), then the
normalised subject from the same customer within a window; never by subject alone across
different senders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from responder.db.models import Conversation, Draft, Message, OutboxItem
from responder.pipeline.states import AWAITING_REVIEW, State

SUBJECT_WINDOW = timedelta(days=14)


def by_headers(session: Session, ids: Sequence[str]) -> Conversation | None:
    ids = [i for i in ids if i]
    if not ids:
        return None
    conversation_id = session.scalar(
        select(Message.conversation_id)
        .where(Message.message_id_header.in_(ids), Message.conversation_id.is_not(None))
        .order_by(Message.id.desc())
        .limit(1)
    )
    if conversation_id is None:
        conversation_id = session.scalar(
            select(Message.conversation_id)
            .join(OutboxItem, OutboxItem.message_id == Message.id)
            .where(OutboxItem.message_id_header.in_(ids))
            .limit(1)
        )
    return session.get(Conversation, conversation_id) if conversation_id else None


def by_subject(
    session: Session,
    channel_id: int,
    customer_id: int | None,
    subject_key: str,
    now: datetime,
    window: timedelta = SUBJECT_WINDOW,
) -> Conversation | None:
    if not subject_key or customer_id is None:
        return None
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.channel_id == channel_id,
            Conversation.customer_id == customer_id,
            Conversation.subject_key == subject_key,
            Conversation.last_message_at >= now - window,
        )
        .order_by(Conversation.last_message_at.desc())
        .limit(1)
    )


def find_or_start(
    session: Session,
    *,
    channel_id: int,
    customer_id: int | None,
    header_ids: Sequence[str],
    subject_key: str,
    thread_key: str,
    now: datetime,
    window: timedelta = SUBJECT_WINDOW,
) -> Conversation:
    return find_or_start_new(
        session,
        channel_id=channel_id,
        customer_id=customer_id,
        header_ids=header_ids,
        subject_key=subject_key,
        thread_key=thread_key,
        now=now,
        window=window,
    )[0]


def find_or_start_new(
    session: Session,
    *,
    channel_id: int,
    customer_id: int | None,
    header_ids: Sequence[str],
    subject_key: str,
    thread_key: str,
    now: datetime,
    window: timedelta = SUBJECT_WINDOW,
    customer_is_new: bool = False,
    flush: bool = True,
) -> tuple[Conversation, bool]:
    """The conversation, and whether it was started now (then nothing else waits in it).

    A customer created for this message has no conversation a subject could match. Without
    `flush`, a started conversation is only added (no id yet): the caller links it by
    `Message.conversation` and the next flush, or the next query's autoflush, inserts it."""
    conversation = by_headers(session, header_ids)
    if conversation is None and not customer_is_new:
        conversation = by_subject(session, channel_id, customer_id, subject_key, now, window)
    if conversation is None:
        conversation = Conversation(
            channel_id=channel_id,
            customer_id=customer_id,
            subject_key=subject_key,
            thread_key=thread_key,
            created_at=now,
            last_message_at=now,
        )
        session.add(conversation)
        if flush:
            session.flush()
        return conversation, True
    conversation.last_message_at = max(conversation.last_message_at, now)
    return conversation, False


def mark_waiting_drafts_stale(session: Session, conversation_id: int, newer_message_id: int) -> int:
    """The customer wrote again (or a colleague answered outside Responder): drafts still
    waiting in this conversation no longer fit. The version of each message waiting for a
    person moves on too, so a page opened before cannot approve, save or snooze its draft
    unread (`review.take_in_review` says why)."""
    waiting = (
        Message.conversation_id == conversation_id,
        Message.id != newer_message_id,
    )
    drafted = select(Message.id).where(
        *waiting, Message.state.in_([State.CLASSIFIED, State.DRAFTED, *AWAITING_REVIEW])
    )
    result = session.execute(
        update(Draft)
        .where(Draft.message_id.in_(drafted), Draft.stale.is_(False))
        .values(stale=True)
    )
    session.execute(
        update(Message)
        .where(*waiting, Message.state.in_(AWAITING_REVIEW))
        .values(version=Message.version + 1)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def written_after(other: Message, message: Message) -> bool:
    """The customer's order: by arrival, then by id for mail that arrived together."""
    return (other.received_at, other.id) > (message.received_at, message.id)


#: A later message in one of these with a reply row has had its answer queued or sent (a failed
#: one can be retried); one left unsent has not.
ANSWERED_STATES = (State.APPROVED, State.SENDING, State.SENT, State.FAILED)


def answered_after(session: Session, message: Message) -> list[int]:
    """The customer's later messages in this conversation that already have a reply queued or
    sent: a reply to this one now would be their second."""
    if message.conversation_id is None:
        return []
    later = session.scalars(
        select(Message)
        .join(OutboxItem, OutboxItem.message_id == Message.id)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.direction == "in",
            Message.id != message.id,
            Message.state.in_(ANSWERED_STATES),
        )
        .order_by(Message.received_at, Message.id)
    )
    return [other.id for other in later if written_after(other, message)]


def written_again(session: Session, messages: Sequence[Message]) -> set[int]:
    """The ids among `messages` whose conversation already has a newer inbound message: a
    draft made now for one of them is stale (one query for the batch)."""
    threaded = [m for m in messages if m.conversation_id is not None]
    if not threaded:
        return set()
    newest = {
        conversation_id: last
        for conversation_id, last in session.execute(
            select(Message.conversation_id, func.max(Message.id))
            .where(
                Message.conversation_id.in_({m.conversation_id for m in threaded}),
                Message.direction == "in",
                Message.state.not_in([State.IGNORED, State.QUARANTINED]),
            )
            .group_by(Message.conversation_id)
        )
    }
    return {m.id for m in threaded if newest.get(m.conversation_id, 0) > m.id}


def our_key(message_id_header: str) -> str:
    """The `external_key` of what we sent with this Message-ID (`add_our_message`)."""
    return f"out:{message_id_header}"


def add_our_message(
    session: Session,
    answered: Message,
    *,
    message_id_header: str,
    raw: bytes,
    raw_size: int,
    subject: str,
    text: str,
    sent_at: datetime,
) -> None:
    """What we sent, as an outbound message in the conversation it answers: shown there, and
    the customer's answer to it threads by its Message-ID. The same reply sent again (Retry
    after it bounced, or after a platform reported it undelivered) keeps its one row, dated
    by the send that went out last."""
    key = our_key(message_id_header)
    earlier = session.scalar(
        select(Message).where(
            Message.channel_id == answered.channel_id, Message.external_key == key
        )
    )
    if earlier is not None:
        earlier.raw, earlier.raw_size, earlier.sent_at = raw, raw_size, sent_at
    else:
        session.add(
            Message(
                channel_id=answered.channel_id,
                direction="out",
                external_key=key,
                raw=raw,
                raw_size=raw_size,
                state=State.SENT,
                conversation_id=answered.conversation_id,
                customer_id=answered.customer_id,
                message_id_header=message_id_header,
                in_reply_to=answered.message_id_header,
                subject=subject,
                text=text,
                new_text=text,
                sent_at=sent_at,
            )
        )
    if answered.conversation_id:
        conversation = session.get(Conversation, answered.conversation_id)
        if conversation:
            conversation.last_message_at = sent_at
