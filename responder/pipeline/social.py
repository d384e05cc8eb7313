"""The parse step for a social direct message, and what its reply needs to go back.

From the stored event JSON: the sender (platform id, handle, display name, followers), the
text, the customer (exact identity matches: WhatsApp number as E.164 "phone", X id or handle,
Messenger and Instagram ids) and the conversation per (channel, thread).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.channels.social.events import DMFields, dm_fields
from responder.conversations import find_or_start, mark_waiting_drafts_stale
from responder.customers.identity import normalise_handle
from responder.db.models import (
    Attachment,
    Channel,
    Conversation,
    Customer,
    CustomerIdentity,
    Message,
)
from responder.pipeline.states import State


@dataclass(frozen=True)
class ParseResult:
    state: State
    reason: str = ""


def identities_for(kind: str, fields: DMFields) -> list[tuple[str, str, str]]:
    """(identity kind, value, display), most specific first."""
    if kind == "whatsapp":
        return [("phone", fields.phone, fields.phone)] if fields.phone else []
    if kind == "x":
        found = [("x_id", fields.platform_id, f"@{fields.handle}" if fields.handle else "")]
        handle = normalise_handle(fields.handle)
        if handle:
            found.append(("x_handle", handle, f"@{fields.handle}"))
        return found
    return [(kind, fields.platform_id, fields.handle or fields.display_name)]


def resolve_social_sender(session: Session, kind: str, fields: DMFields) -> Customer:
    """The customer an identity already names, or a new provisional one that keeps the history."""
    identities = identities_for(kind, fields)
    customer = None
    for identity_kind, value, _ in identities:
        customer = session.scalar(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.kind == identity_kind, CustomerIdentity.value == value)
        )
        if customer is not None:
            break
    if customer is None:
        name = fields.display_name or (f"@{fields.handle}" if fields.handle else "")
        customer = Customer(name=name, provisional=True)
        session.add(customer)
        session.flush()
    for identity_kind, value, display in identities:
        taken = session.scalar(
            select(CustomerIdentity.id).where(
                CustomerIdentity.kind == identity_kind, CustomerIdentity.value == value
            )
        )
        if taken is None:
            session.add(
                CustomerIdentity(
                    customer_id=customer.id, kind=identity_kind, value=value, display=display
                )
            )
    if fields.followers is not None:
        customer.followers = fields.followers
    session.flush()
    return customer


def _conversation(
    session: Session, channel: Channel, customer: Customer, fields: DMFields, now: datetime
) -> Conversation:
    existing = session.scalar(
        select(Conversation)
        .where(Conversation.channel_id == channel.id, Conversation.thread_key == fields.thread_key)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
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


def parse_social(session: Session, message: Message, channel: Channel) -> ParseResult:
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
    message.text = fields.text or " ".join(f"[{kind}]" for kind in fields.attachments)
    message.new_text = message.text
    for kind in fields.attachments:
        session.add(Attachment(message_id=message.id, filename=None, content_type=kind, size=0))
    if fields.skip_reason:
        return ParseResult(State.IGNORED, fields.skip_reason)
    if not message.text.strip():
        return ParseResult(State.IGNORED, "no text or attachment to answer")
    customer = resolve_social_sender(session, channel.kind, fields)
    message.customer_id = customer.id
    conversation = _conversation(
        session, channel, customer, fields, fields.sent_at or message.received_at
    )
    message.conversation_id = conversation.id
    mark_waiting_drafts_stale(session, conversation.id, message.id)
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


def reply_details(session: Session, message: Message, channel: Channel) -> dict[str, Any]:
    """What a social sender needs beyond the reply text: our account id and the window."""
    return {
        "channel_address": channel.address,
        "customer_wrote_at": customer_last_wrote_at(session, message),
    }
