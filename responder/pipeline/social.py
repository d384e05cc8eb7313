"""The parse step for a social direct message, and what its reply needs to go back.

From the stored event JSON: the sender (platform id, handle, display name, followers), the
text, the customer (exact identity matches: WhatsApp number as E.164 "phone", X id or handle,
Messenger and Instagram ids; a handle only while its customer holds no other X id) and the
conversation per (channel, thread).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from responder.channels.social.events import DMFields, dm_fields
from responder.conversations import find_or_start, mark_waiting_drafts_stale
from responder.customers.resolve import identity_key
from responder.db.models import (
    Attachment,
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Message,
    utcnow,
)
from responder.pipeline.media_fetch import attachment_row
from responder.pipeline.states import State
from responder.search_text import index_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseResult:
    state: State
    reason: str = ""


def identities_for(kind: str, fields: DMFields) -> list[tuple[str, str, str]]:
    """(identity kind, value, display), most specific first, stored as the customer view does."""
    if kind == "x":
        handle = f"@{fields.handle}" if fields.handle else ""
        wanted = [("x_id", fields.platform_id, handle), ("x_handle", fields.handle, handle)]
    else:
        display = fields.phone if kind == "whatsapp" else fields.handle or fields.display_name
        wanted = [(kind, fields.platform_id, display)]
    found = []
    for channel_kind, value, display in wanted:
        key = identity_key(channel_kind, value) if value else None
        if key is not None:
            found.append((key[0], key[1], display or value))
    return found


#: A handle passes from one account to another; the account's id never does. A customer found
#: by a handle is the sender only while they hold no other id of that platform.
_ACCOUNT_ID = {"x_handle": "x_id"}


def _held(session: Session, customer_id: int, identity_kind: str) -> list[str]:
    return list(
        session.scalars(
            select(CustomerIdentity.value).where(
                CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == identity_kind
            )
        )
    )


def _another_account(
    session: Session, customer: Customer, identity_kind: str, wanted: dict[str, str]
) -> bool:
    """Whether the customer a handle found holds another account's id than the sender's: the
    handle has changed owners since, and the sender is someone else."""
    account_kind = _ACCOUNT_ID.get(identity_kind)
    if account_kind is None:
        return False
    sender = wanted.get(account_kind, "")
    others = [value for value in _held(session, customer.id, account_kind) if value != sender]
    if others:
        log.info(
            "%s %s is customer %s's, who has %s %s; the sender's is %s: a new customer",
            identity_kind,
            wanted[identity_kind],
            customer.id,
            account_kind,
            ", ".join(others),
            sender or "unknown",
            extra={"customer_id": customer.id},
        )
    return bool(others)


def _find(session: Session, identities: list[tuple[str, str, str]]) -> Customer | None:
    wanted = {identity_kind: value for identity_kind, value, _ in identities}
    for identity_kind, value, _ in identities:
        customer = session.scalar(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.kind == identity_kind, CustomerIdentity.value == value)
        )
        if customer is not None and not _another_account(session, customer, identity_kind, wanted):
            return customer
    return None


def _still_free(
    session: Session, customer: Customer, identities: list[tuple[str, str, str]]
) -> bool:
    """Whether the customer a handle found may take the sender's account id. Their row is locked
    first: two accounts writing under one handle at once (it changed owners between their DMs)
    link one id, and the other sender, seeing it once the first commits, is a new customer."""
    wanted = {identity_kind: value for identity_kind, value, _ in identities}
    for handle_kind, account_kind in _ACCOUNT_ID.items():
        sender = wanted.get(account_kind)
        if handle_kind not in wanted or sender is None:
            continue
        if sender in _held(session, customer.id, account_kind):
            continue
        session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
        if _another_account(session, customer, handle_kind, wanted):
            return False
    return True


def _create(session: Session, identities: list[tuple[str, str, str]], name: str) -> Customer:
    """A new provisional customer holding the sender's first identity, written together in a
    savepoint: a worker that loses the race for that identity takes the winner's customer, never
    keeps one with nothing to find it by (the email path's `resolve_or_create` does the same)."""
    try:
        with session.begin_nested():
            customer = Customer(name=name, provisional=True)
            if identities:
                identity_kind, value, display = identities[0]
                customer.identities.append(
                    CustomerIdentity(kind=identity_kind, value=value, display=display)
                )
            session.add(customer)
            session.flush()
    except IntegrityError:
        winner = _find(session, identities)
        if winner is None:
            raise
        return winner
    return customer


def _add_identity(
    session: Session, customer: Customer, identity_kind: str, value: str, display: str
) -> None:
    """The identity onto the customer unless another customer holds it."""
    try:
        with session.begin_nested():
            taken = session.scalar(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == identity_kind, CustomerIdentity.value == value
                )
            )
            if taken is None:
                session.add(
                    CustomerIdentity(
                        customer_id=customer.id, kind=identity_kind, value=value, display=display
                    )
                )
                session.flush()
    except IntegrityError:
        return  # another worker stored it first; staff can link the two if they differ


def resolve_social_sender(session: Session, kind: str, fields: DMFields) -> Customer:
    """The customer an identity already names, or a new provisional one that keeps the history.

    Identities the customer lacks are added (an X id beside the handle from the customer data,
    never a second X id), each in a savepoint, so two workers meeting the same new sender never
    fail the stage.
    """
    identities = identities_for(kind, fields)
    customer = _find(session, identities)
    if customer is not None and not _still_free(session, customer, identities):
        customer = None
    if customer is None:
        name = fields.display_name or (f"@{fields.handle}" if fields.handle else "")
        customer = _create(session, identities, name)
    for identity_kind, value, display in identities:
        _add_identity(session, customer, identity_kind, value, display)
    if fields.followers is not None:
        customer.followers = fields.followers
    session.flush()
    return customer


def _latest(session: Session, channel: Channel, thread_key: str) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(Conversation.channel_id == channel.id, Conversation.thread_key == thread_key)
        .order_by(Conversation.id.desc())
        .limit(1)
    )


def _conversation(
    session: Session, channel: Channel, customer: Customer, fields: DMFields, now: datetime
) -> Conversation:
    """The thread's conversation, or a new one. A thread is one sender's, so its start is
    serialised on the customer's row: a second worker with the thread's other first message
    waits for the first's commit, then finds its conversation instead of starting another."""
    existing = _latest(session, channel, fields.thread_key)
    if existing is None:
        session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
        existing = _latest(session, channel, fields.thread_key)
    if existing is not None:
        existing.last_message_at = max(existing.last_message_at, now)
        return existing
    return find_or_start(
        session,
        channel_id=channel.id,
        customer_id=customer.id,
        header_ids=(),
        subject_key="",
        thread_key=fields.thread_key,
        now=now,
    )


def parse_social(
    session: Session,
    message: Message,
    channel: Channel,
    blocked: Callable[[str], str | None] = lambda _: None,
    *,
    phone_region: str | None = None,
) -> ParseResult:
    try:
        fields = dm_fields(json.loads(message.raw))
    except (ValueError, RecursionError) as exc:
        return ParseResult(State.QUARANTINED, f"cannot parse the stored event: {exc}")
    sender_name = fields.display_name or (f"@{fields.handle}" if fields.handle else "")
    message.sender_address = fields.phone or fields.platform_id
    message.sender_name = sender_name
    message.reply_to = [[sender_name, fields.platform_id]]
    message.sender_profile = _profile(fields)
    message.sent_at = fields.sent_at
    message.subject = ""
    message.text = fields.text or " ".join(f"[{media.kind}]" for media in fields.attachments)
    message.new_text = message.text
    index_message(session, message, phone_region)
    files = [attachment_row(message.id, channel.kind, media) for media in fields.attachments]
    if files:  # a retried DM keeps the files fetched before (`reparse.forget_parse`)
        held = session.scalars(
            select(Attachment.remote).where(
                Attachment.message_id == message.id, Attachment.remote.is_not(None)
            )
        ).all()
        files = [row for row in files if row.remote not in held]
    session.add_all(files)
    if fields.skip_reason:
        return ParseResult(State.IGNORED, fields.skip_reason)
    block = blocked(message.sender_address)
    if block:
        return ParseResult(State.IGNORED, block)
    if not message.text.strip():
        return ParseResult(State.IGNORED, "no text or attachment to answer")
    customer = resolve_social_sender(session, channel.kind, fields)
    message.customer_id = customer.id
    conversation = _conversation(
        session, channel, customer, fields, fields.sent_at or message.received_at
    )
    message.conversation_id = conversation.id
    mark_waiting_drafts_stale(session, conversation.id, message.id)
    for row in files:  # to be drafted: a person will want to see them
        if row.remote:
            row.fetch_due_at = utcnow()
    return ParseResult(State.PARSED)


def _profile(fields: DMFields) -> dict[str, Any]:
    profile: dict[str, Any] = {"platform_id": fields.platform_id}
    if fields.handle:
        profile["handle"] = fields.handle
    if fields.display_name:
        profile["display_name"] = fields.display_name
    if fields.followers is not None:
        profile["followers"] = fields.followers
    if fields.phone:
        profile["phone"] = fields.phone
    return profile


def customer_last_wrote_at(session: Session, message: Message) -> datetime | None:
    """When the customer last wrote in this conversation: the platforms' reply window opens then."""
    if message.conversation_id is None:
        return message.sent_at or message.received_at
    rows = session.execute(
        select(Message.sent_at, Message.received_at).where(
            Message.conversation_id == message.conversation_id, Message.direction == "in"
        )
    ).all()
    return max((sent or received for sent, received in rows), default=None)


#: In the Message-ID of what went out in a reply's place (a WhatsApp template), never a reply's.
INSTEAD_MARK = ".instead@"
#: In the Message-ID of what may have gone out in a reply's place: its send's answer was lost.
MAYBE_INSTEAD_MARK = ".instead-maybe@"


def unmarked(message_id_header: str) -> str:
    """The Message-ID without the mark `instead_header` gave it."""
    local, _, domain = message_id_header.strip("<>").partition("@")
    for mark in (INSTEAD_MARK, MAYBE_INSTEAD_MARK):
        local = local.removesuffix(mark.rstrip("@"))
    return f"<{local}@{domain}>"


def instead_header(message_id_header: str, mark: str) -> str:
    """The Message-ID of what went out (or may have) in place of the reply or acknowledgement
    with this one: its own, so theirs stays free, carrying the `mark` `template_sent` counts
    by. A marked one (an acknowledgement's, sent again) has its old mark replaced."""
    local, _, domain = unmarked(message_id_header).strip("<>").partition("@")
    return f"<{local}{mark}{domain}>"


@dataclass(frozen=True)
class TemplateSent:
    at: datetime
    #: False when its send's answer was lost: it may have gone out, so it counts as sent.
    certain: bool = True
    #: Its Message-ID: a send held behind it names it (`template_going.held_behind`).
    header: str = ""


def template_sent(
    session: Session, message: Message, wrote_at: datetime | None
) -> TemplateSent | None:
    """When a WhatsApp template last went out in this conversation since the customer last
    wrote, or may have (its answer lost): in this reply's place or another's (an earlier reply,
    this one edited and sent again). It asks them to write; another before they have would only
    say it again. One certainly sent is named before one that may have been."""
    if message.conversation_id is None:
        return None
    sent = _last_sent(session, message.conversation_id, wrote_at, INSTEAD_MARK)
    if sent is not None:
        return TemplateSent(sent[0], header=sent[1])
    maybe = _last_sent(session, message.conversation_id, wrote_at, MAYBE_INSTEAD_MARK)
    return TemplateSent(maybe[0], certain=False, header=maybe[1]) if maybe is not None else None


def _last_sent(
    session: Session, conversation_id: int, wrote_at: datetime | None, mark: str
) -> tuple[datetime, str] | None:
    query = (
        select(Message.sent_at, Message.message_id_header)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == "out",
            Message.message_id_header.contains(mark, autoescape=True),
            Message.sent_at.is_not(None),
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    )
    if wrote_at is not None:
        query = query.where(Message.sent_at > wrote_at)
    row = session.execute(query).first()
    return (row[0], row[1] or "") if row is not None else None


def reply_details(session: Session, message: Message, channel: Channel) -> dict[str, Any]:
    """What a social sender needs beyond the reply text: our account id and the window."""
    wrote_at = customer_last_wrote_at(session, message)
    details: dict[str, Any] = {"channel_address": channel.address, "customer_wrote_at": wrote_at}
    if channel.kind == "whatsapp":
        sent = template_sent(session, message, wrote_at)
        details["template_sent_at"] = sent.at if sent else None
        details["template_uncertain"] = sent is not None and not sent.certain
    return details
