"""WhatsApp's one template per conversation, kept when two sends in one conversation are taken
at the same moment (two replies by two workers, a reply and an acknowledgement).

A send taken outside the reply window records the template it is about to send as maybe sent
(`MAYBE_INSTEAD_MARK`, counted by `template_sent`) in the transaction that takes it, under a
lock on the conversation: a second send taken meanwhile waits for that commit, then finds the
record and holds its reply (or leaves its acknowledgement unsent) instead of sending a second
template. The send's outcome settles the record: replaced by a certain one when the template
went, kept when its answer was lost or the worker stopped, withdrawn when it certainly did not
go (refused, never arrived, held). A withdrawn one leaves the conversation as it was, and puts
back in the queue the sends held behind it, to go out as they would have without the race
(one may then send the template itself): a held send names the template it is held behind
(`held_behind` on its row, its Message-ID), so the withdrawal finds those already held by it,
whatever the workers' clocks say, and a send holding afterwards finds the template gone
(`held_behind`), each under the conversation's lock.

The take is dated on the send's row (`taken_at`), and its record with the same time: after a
stopped worker, recovery tells by it whether that take was sending the template (`cut_off`),
whenever the customer wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from responder.channels.delivery import OutgoingReply
from responder.channels.social.senders import template_in_place
from responder.config import SocialSettings
from responder.conversations import our_key
from responder.db.models import Acknowledgement, Channel, Conversation, Message, OutboxItem, utcnow
from responder.db.row_locks import lock_rows
from responder.pipeline.notify import announce_work
from responder.pipeline.social import template_sent
from responder.pipeline.states import State

log = logging.getLogger(__name__)

#: Why a reply held behind a withdrawn template is queued again, as its message shows it.
QUEUED_AGAIN = (
    "queued again: the WhatsApp template it was held behind, sent at the same moment for "
    "another message in the conversation, did not go out"
)


def hold_conversation(session: Session, message: Message, channel: Channel) -> None:
    """Lock a WhatsApp message's conversation until the transaction ends, before reading
    whether a template went there: the one-template rule is read and recorded under it."""
    if channel.kind == "whatsapp":
        _lock_conversation(session, message)


def _lock_conversation(session: Session, message: Message) -> None:
    if message.conversation_id is not None:
        lock_rows(
            session,
            Conversation.thread_key,
            Conversation.id == message.conversation_id,
            keys_free=True,  # a DM parsed meanwhile still files itself in the conversation
        )


@dataclass(frozen=True)
class TemplateGoing:
    """A template recorded as maybe sent when its send was taken: our row in the conversation
    with Message-ID `header`, dated `at`, the take's time. `before`: that row's time when an
    earlier attempt of the same send had written it (kept on withdrawal), None when the take
    added it. `last_message_at`: the conversation's, which the take set to `at` (put back on
    withdrawal), None without a conversation."""

    header: str
    at: datetime
    before: datetime | None
    last_message_at: datetime | None = None


def going(session: Session, answered: Message, header: str, at: datetime) -> TemplateGoing:
    """What withdrawing the record about to be written with `header`, dated `at`, puts back."""
    last = (
        session.scalar(
            select(Conversation.last_message_at).where(Conversation.id == answered.conversation_id)
        )
        if answered.conversation_id is not None
        else None
    )
    return TemplateGoing(header, at, _recorded_at(session, answered, header), last)


def withdraw(session: Session, answered: Message, record: TemplateGoing) -> None:
    """The template certainly did not go out: no reply is held, nor shown, for it. The
    conversation's last message time is again what it was before the take, unless something
    came since (it is no longer the take's), and the sends held behind it are queued again."""
    _lock_conversation(session, answered)
    replaced(session, answered, record)
    conversation_id = answered.conversation_id
    if conversation_id is None:
        return
    if record.last_message_at is not None:
        session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.last_message_at == record.at)
            .values(last_message_at=record.last_message_at)
            .execution_options(synchronize_session=False)
        )
    _queue_again(session, conversation_id, record.header)


def replaced(session: Session, answered: Message, record: TemplateGoing) -> None:
    """The take's record goes: the send's outcome is recorded as certain by the caller (what
    went out), or the template was withdrawn."""
    row = (
        Message.channel_id == answered.channel_id,
        Message.external_key == our_key(record.header),
    )
    if record.before is None:
        session.execute(delete(Message).where(*row).execution_options(synchronize_session=False))
    else:
        session.execute(
            update(Message)
            .where(*row)
            .values(sent_at=record.before)
            .execution_options(synchronize_session=False)
        )


def held_behind(session: Session, answered: Message, reply: OutgoingReply) -> str | None:
    """What a held send is held behind, for its row (`held_behind`): the Message-ID of the
    template that went, or may have, in the conversation (`reply.template_sent_at` when taken,
    or one recorded since); "" when held by the window alone (no template); None when the
    template was withdrawn since this send was taken and none went since: it is held no more.
    Read under the conversation's lock, before the caller writes: the withdrawal either finds
    this send held behind it already or is seen here."""
    if reply.template_sent_at is None:
        return ""
    _lock_conversation(session, answered)
    sent = template_sent(session, answered, reply.customer_wrote_at)
    return sent.header if sent is not None else None


def _queue_again(session: Session, conversation_id: int, header: str) -> None:
    """Replies held, and acknowledgements left unsent, behind the withdrawn template with
    Message-ID `header` (`held_behind`). Each is due now, its attempt given back (it never
    reached the platform); a reply a person has handled meanwhile (Retry, Leave unsent) is left
    as they left it."""
    ours = select(Message.id).where(Message.conversation_id == conversation_id)
    held = session.execute(
        select(OutboxItem.id, OutboxItem.message_id).where(
            OutboxItem.state == "held",
            OutboxItem.held_behind == header,
            OutboxItem.message_id.in_(ours),
        )
    ).all()
    moved = (
        set(
            session.scalars(
                update(Message)
                .where(Message.id.in_([m for _, m in held]), Message.state == State.FAILED)
                .values(state=State.APPROVED, state_reason=QUEUED_AGAIN, next_attempt_at=None)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        if held
        else set()
    )
    if moved:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_([i for i, m in held if m in moved]))
            .values(_back_in_the_queue(OutboxItem))
            .execution_options(synchronize_session=False)
        )
    acknowledgements = session.scalars(
        update(Acknowledgement)
        .where(
            Acknowledgement.state == "not_sent",
            Acknowledgement.held_behind == header,
            Acknowledgement.message_id.in_(ours),
        )
        .values(_back_in_the_queue(Acknowledgement))
        .returning(Acknowledgement.id)
        .execution_options(synchronize_session=False)
    ).all()
    if moved or acknowledgements:
        log.info(
            "conversation %s: a template withdrawn; queued again: replies to messages %s, "
            "acknowledgements %s",
            conversation_id,
            sorted(moved),
            sorted(acknowledgements),
            extra={"conversation_id": conversation_id},
        )
        announce_work(session)


def cut_off(
    session: Session,
    answered: Message,
    header: str,
    reply: OutgoingReply,
    settings: SocialSettings,
    taken_at: datetime | None,
) -> tuple[str, bool]:
    """The template a stopped worker was sending in place of `reply` ("" when it was the reply
    itself), and whether its take recorded it with `header`: the take dated `taken_at` did
    when the record bears that time (an earlier attempt's is older). A send taken before takes
    were dated counts a record written since the customer last wrote; one taken by a worker of
    an earlier version recorded nothing: it is judged by the window now, and the caller
    records it."""
    at = _recorded_at(session, answered, header)
    if taken_at is not None:
        if at is not None and at >= taken_at:
            return settings.whatsapp_template, True
        return "", False
    wrote_at = reply.customer_wrote_at
    if at is not None and (wrote_at is None or at > wrote_at):
        return settings.whatsapp_template, True
    return template_in_place(reply, settings, utcnow()), False


def _recorded_at(session: Session, answered: Message, header: str) -> datetime | None:
    return session.scalar(
        select(Message.sent_at).where(
            Message.channel_id == answered.channel_id, Message.external_key == our_key(header)
        )
    )


def _back_in_the_queue(model: type[OutboxItem] | type[Acknowledgement]) -> dict[str, Any]:
    """A send held behind a withdrawn template, due now, its attempt given back."""
    return {
        "state": "queued",
        "attempts": model.attempts - 1,
        "last_error": "",
        "next_attempt_at": None,
        "held_behind": None,
    }
