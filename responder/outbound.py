"""Staff writing first: a new email to a customer (a follow-up after a call, "your repair is
done"), not an answer to one of theirs.

It goes out as an approved reply does: its bytes and a fresh Message-ID are fixed now, in an
outbox row, and the worker's send stage delivers it exactly once (a crash mid-send is marked
uncertain, never sent twice); it waits out `[outbound] undo_seconds` first, as a person's
approved reply does, and Undo send takes it back unsent, its text ready to write again. The
work-queue row is our own outbound message, in a new conversation of the customer's, so it is
in their timeline at once (with its author: a `write` review action) and their answer threads
to it by its Message-ID as answers to our replies do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.channels import EMAIL_KINDS
from responder.config import OutboundSettings
from responder.db.models import (
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Message,
    OutboxItem,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.mail.compose import build_reply, make_message_id
from responder.mail.parse import Address
from responder.mail.threading_keys import normalise_subject
from responder.pipeline.states import State
from responder.review import (
    AlreadyHandled,
    NotFound,
    ReviewError,
    audit,
    hold_for_undo,
    stop_in_undo_window,
)

#: Longer is not a subject but a paragraph; mail clients cut it anyway.
MAX_SUBJECT = 300

#: A form's (or an API client's) key for one message: a second submission with the same key
#: (a double click, a resent request after a lost answer) finds the first instead of sending
#: the customer the same email twice.
WRITE_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")


class WriteError(ReviewError):
    """What the person must change on the form (status 400), their text kept."""


class KeyReused(WriteError):
    """The key queued a different message before (409): the form is drawn again with a new
    key and the text kept, so sending it again is a deliberate second message."""

    status_code = 409


@dataclass(frozen=True)
class Written:
    message_id: int
    conversation_id: int
    outbox_id: int
    message_id_header: str
    to: str
    #: True when the key had already queued this message: nothing new was queued.
    repeated: bool = False
    #: When it goes out, while Undo send can still stop it; None when it goes at once.
    goes_out_at: datetime | None = None


@dataclass(frozen=True)
class WrittenText:
    """A new message as the write form holds it: to write again after Undo send (or once left
    unsent)."""

    to: str
    subject: str
    body: str


def email_addresses(session: Session, customer_id: int) -> list[str]:
    """The customer's known email addresses (their identities), as stored: normalised."""
    return list(
        session.scalars(
            select(CustomerIdentity.value)
            .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == "email")
            .order_by(CustomerIdentity.id)
        )
    )


def _sending_channel(session: Session, customer_id: int) -> Channel:
    """The mailbox the customer last wrote to, else the first one: the conversation's channel
    (every mailbox sends through the one outbound transport, from `[outbound] from_address`)."""
    email_channels = select(Channel).where(Channel.kind.in_(sorted(EMAIL_KINDS)))
    channel = session.scalar(
        email_channels.join(Message, Message.channel_id == Channel.id)
        .where(Message.customer_id == customer_id, Message.direction == "in")
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(1)
    ) or session.scalar(email_channels.order_by(Channel.id).limit(1))
    if channel is None:
        raise ReviewError("there is no mailbox to send from: configure one first")
    return channel


def _written_with(
    session: Session, channel_id: int, external_key: str
) -> tuple[Written, Message] | None:
    """The message an earlier submission with this key queued (by the unique key its insert
    would clash on), with its row to compare."""
    row = session.execute(
        select(Message, OutboxItem.id, OutboxItem.recipients, OutboxItem.attempts)
        .join(OutboxItem, OutboxItem.message_id == Message.id)
        .where(Message.channel_id == channel_id, Message.external_key == external_key)
    ).first()
    if row is None:
        return None
    message, outbox_id, recipients, attempts = row
    waiting = message.state == State.APPROVED and not attempts  # in its undo window, if any
    written = Written(
        message.id,
        message.conversation_id or 0,
        outbox_id,
        message.message_id_header or "",
        (recipients or [""])[0],
        repeated=True,
        goes_out_at=message.next_attempt_at if waiting else None,
    )
    return written, message


def _checked(
    session: Session, customer_id: int, to: str, subject: str, body: str
) -> tuple[str, str, str]:
    """The address, subject and body as they will be sent, or the first thing to mend."""
    known = email_addresses(session, customer_id)
    to = to.strip().lower()
    if not known:
        raise WriteError("this customer has no email address on file to write to")
    if not to:
        raise WriteError("choose one of the customer's email addresses")
    if to not in known:
        raise WriteError(f"not one of this customer's email addresses: {to}")
    subject = " ".join(subject.split())  # one line: a typed line break is only a space
    if not subject:
        raise WriteError("write a subject")
    if len(subject) > MAX_SUBJECT:
        raise WriteError(f"the subject is too long: at most {MAX_SUBJECT} characters")
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise WriteError("write the message")
    return to, subject, body + "\n"


def write_to_customer(
    session: Session,
    outbound: OutboundSettings,
    customer_id: int,
    user: StaffUser,
    *,
    to: str,
    subject: str,
    body: str,
    key: str = "",
    now: datetime | None = None,
) -> Written:
    """Queue a new email to one of the customer's addresses, in a conversation of its own.

    `key`, when given, makes the call idempotent: the message an earlier call with the same
    key queued is returned (`repeated`) and nothing is queued again."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if key and not WRITE_KEY.fullmatch(key):
        raise WriteError("the key must be 8 to 100 letters, digits, '-' or '_'")
    to, subject, body = _checked(session, customer_id, to, subject, body)
    channel = _sending_channel(session, customer_id)
    header = make_message_id(outbound.from_address.rpartition("@")[2] or "localhost")
    external_key = f"out:write:{key}" if key else f"out:{header}"
    if key:
        earlier = _written_with(session, channel.id, external_key)
        if earlier is not None:
            written, message = earlier
            if message.state == State.UNSENT:
                # The form's message was taken back (or left unsent), and this is that form
                # again from the browser's history: "already on its way" would be untrue.
                raise KeyReused(
                    "the message from this form was taken back, so this one was not sent "
                    "either: check it and send it again"
                )
            if (message.customer_id, written.to, message.subject, message.text) != (
                customer_id,
                to,
                subject,
                body,
            ):
                # Not a second click on one message but another message under an old key (a
                # form brought back by the browser's Back button): nothing may be dropped.
                raise KeyReused(
                    "a message was already sent from this form; this one was not sent: "
                    "check it and send it again"
                )
            return written
    now = now or utcnow()
    try:
        raw = build_reply(
            to=[Address("" if customer.name.lower() == to else customer.name, to)],
            from_=Address(outbound.from_name, outbound.from_address),
            subject=subject,
            body=body,
            message_id=header,
            in_reply_to=None,
            references=(),
            date=now,
            language=customer.language,
        )
    except ValueError as exc:  # an address no mail server could take, say
        raise WriteError(f"the message cannot be sent: {exc}") from exc
    conversation = Conversation(
        channel_id=channel.id,
        customer_id=customer_id,
        subject_key=normalise_subject(subject)[:500],
        thread_key=header,
        created_at=now,
        last_message_at=now,
    )
    session.add(conversation)
    session.flush()
    message = Message(
        channel_id=channel.id,
        direction="out",
        external_key=external_key,
        raw=raw,
        raw_size=len(raw),
        state=State.APPROVED,
        conversation_id=conversation.id,
        customer_id=customer_id,
        message_id_header=header,
        subject=subject,
        text=body,
        new_text=body,
        received_at=now,
    )
    session.add(message)
    session.flush()
    item = OutboxItem(
        message_id=message.id,
        channel_id=channel.id,
        message_id_header=header,
        recipients=[to],
        subject=subject,
        body=body,
        raw=raw,
        state="queued",
    )
    session.add(item)
    # Its author, shown on the timeline (the audit log has it too, for supervisors only).
    session.add(ReviewAction(message_id=message.id, user_id=user.id, action="write"))
    session.flush()
    audit(
        session,
        user.username,
        "customer.write",
        "customer",
        customer_id,
        message=message.id,
        to=to,
        subject=subject,
    )
    hold_for_undo(session, message, outbound, user)
    return Written(
        message.id, conversation.id, item.id, header, to, goes_out_at=message.next_attempt_at
    )


def _ours(session: Session, message_id: int) -> Message:
    """A new message staff wrote (not a reply's sent copy, which has no outbox row)."""
    message = session.get(Message, message_id)
    if message is None or message.direction != "out":
        raise NotFound(f"message {message_id} not found")
    return message


def undo_write(session: Session, message_id: int, user: StaffUser) -> Message:
    """Undo send for a new message still inside its undo window: it stays unsent for good, its
    text, subject and address kept to write again (`written_text`). The reply's Undo makes the
    same compare-and-set (`stop_in_undo_window`): once a worker has claimed it, it is too
    late."""
    message = _ours(session, message_id)
    if message.state == State.FAILED:  # tried already: Retry or Leave unsent, not Undo
        raise AlreadyHandled("too late to undo: the message was tried and not delivered")
    item = stop_in_undo_window(session, message, State.UNSENT, noun="message")
    item.state = "unsent"
    item.next_attempt_at = None
    message.state_reason = f"taken back by {user.username} with Undo send"
    session.add(ReviewAction(message_id=message.id, user_id=user.id, action="take_back"))
    audit(
        session,
        user.username,
        "customer.write_undo",
        "customer",
        message.customer_id or 0,
        message=message.id,
        to=(item.recipients or [""])[0],
        subject=message.subject,
    )
    return message


def written_text(session: Session, customer_id: int, message_id: int) -> WrittenText | None:
    """The address, subject and text of a new message staff wrote to this customer (one taken
    back or left unsent, to write again); None for any other message."""
    row = session.execute(
        select(Message.subject, Message.text, OutboxItem.recipients)
        .join(OutboxItem, OutboxItem.message_id == Message.id)
        .where(
            Message.id == message_id,
            Message.customer_id == customer_id,
            Message.direction == "out",
            Message.state == State.UNSENT,
        )
    ).first()
    if row is None:
        return None
    return WrittenText((row.recipients or [""])[0], row.subject, row.text)
