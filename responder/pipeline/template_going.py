"""WhatsApp's one template per conversation, kept when two sends in one conversation are taken
at the same moment (two replies by two workers, a reply and an acknowledgement).

A send taken outside the reply window records the template it is about to send as maybe sent
(`MAYBE_INSTEAD_MARK`, counted by `template_sent`) in the transaction that takes it, under a
lock on the conversation: a second send taken meanwhile waits for that commit, then finds the
record and holds its reply (or leaves its acknowledgement unsent) instead of sending a second
template. The send's outcome settles the record: replaced by a certain one when the template
went, kept when its answer was lost or the worker stopped, withdrawn when it certainly did not
go (refused, never arrived, held).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from responder.channels.delivery import OutgoingReply
from responder.channels.social.senders import template_in_place
from responder.config import SocialSettings
from responder.conversations import our_key
from responder.db.models import Channel, Conversation, Message, utcnow
from responder.db.row_locks import lock_rows


def hold_conversation(session: Session, message: Message, channel: Channel) -> None:
    """Lock a WhatsApp message's conversation until the transaction ends, before reading
    whether a template went there: the one-template rule is read and recorded under it."""
    if channel.kind == "whatsapp" and message.conversation_id is not None:
        lock_rows(
            session,
            Conversation.thread_key,
            Conversation.id == message.conversation_id,
            keys_free=True,  # a DM parsed meanwhile still files itself in the conversation
        )


@dataclass(frozen=True)
class TemplateGoing:
    """A template recorded as maybe sent when its send was taken: our row in the conversation
    with Message-ID `header`. `before`: that row's time when an earlier attempt of the same
    send had written it (kept on withdrawal), None when the take added it."""

    header: str
    before: datetime | None


def going(session: Session, answered: Message, header: str) -> TemplateGoing:
    """What withdrawing the record about to be written with `header` puts back."""
    return TemplateGoing(header, _recorded_at(session, answered, header))


def withdraw(session: Session, answered: Message, record: TemplateGoing) -> None:
    """The template certainly did not go out: no reply is held, nor shown, for it."""
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


def cut_off(
    session: Session,
    answered: Message,
    header: str,
    reply: OutgoingReply,
    settings: SocialSettings,
) -> tuple[str, bool]:
    """The template a stopped worker was sending in place of `reply` ("" when it was the reply
    itself), and whether its take recorded it with `header` (since the customer last wrote).
    A send taken by a worker of an earlier version recorded nothing: it is judged by the
    window now, and the caller records it."""
    at = _recorded_at(session, answered, header)
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
