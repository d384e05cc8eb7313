"""Staff writing first: a new email to a customer (a follow-up after a call, "your repair is
done"), not an answer to one of theirs.

It goes out as an approved reply does: its bytes and a fresh Message-ID are fixed now, in an
outbox row, and the worker's send stage delivers it exactly once (a crash mid-send is marked
uncertain, never sent twice). The work-queue row is our own outbound message, in a new
conversation of the customer's, so it is in their timeline at once and their answer threads
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
    StaffUser,
    utcnow,
)
from responder.mail.compose import build_reply, make_message_id
from responder.mail.parse import Address
from responder.mail.threading_keys import normalise_subject
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State
from responder.review import NotFound, ReviewError, audit

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
) -> tuple[Written, int | None, str, str] | None:
    """The message an earlier submission with this key queued (by the unique key its insert
    would clash on), with its customer, subject and text to compare."""
    row = session.execute(
        select(Message, OutboxItem.id, OutboxItem.recipients)
        .join(OutboxItem, OutboxItem.message_id == Message.id)
        .where(Message.channel_id == channel_id, Message.external_key == external_key)
    ).first()
    if row is None:
        return None
    message, outbox_id, recipients = row
    written = Written(
        message.id,
        message.conversation_id or 0,
        outbox_id,
        message.message_id_header or "",
        (recipients or [""])[0],
        repeated=True,
    )
    return written, message.customer_id, message.subject or "", message.text or ""


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
            written, earlier_customer, earlier_subject, earlier_body = earlier
            if (earlier_customer, written.to, earlier_subject, earlier_body) != (
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
    announce_work(session)
    return Written(message.id, conversation.id, item.id, header, to)
