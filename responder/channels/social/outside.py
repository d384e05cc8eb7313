"""Replies written outside Responder: a colleague answered in Meta Business Suite, the WhatsApp
Business app or X's own client, and the platform echoed it to the webhook.

The echo names a message our outbox never sent. It is kept as our outbound message in the
customer's conversation (found by the thread, as their messages are), so the review page shows
what they were told, and the drafts waiting there are marked stale: sent as they are, the
customer would get a second answer.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from responder.channels.social import PLATFORM
from responder.channels.social.events import Receipt, thread_key
from responder.conversations import mark_waiting_drafts_stale
from responder.db.models import (
    Acknowledgement,
    Channel,
    Conversation,
    Message,
    OutboxItem,
    utcnow,
)
from responder.pipeline.states import State

log = logging.getLogger(__name__)

#: How an outside reply's `external_key` starts: the platform's id after it.
OUTSIDE_KEY = "outside:"
#: Long past any echo of an acknowledgement sent then.
ACKNOWLEDGED_WITHIN = timedelta(days=2)


def outside_words(kind: str) -> str:
    return f"answered on {PLATFORM.get(kind, kind)} outside Responder"


def is_outside(message: Message) -> bool:
    return message.direction == "out" and message.external_key.startswith(OUTSIDE_KEY)


def record_outside_reply(session: Session, channel: Channel, echo: Receipt) -> str:
    """Keep an echo our outbox did not send as an outside reply; "" when kept (or kept
    already, or ours after all), else why not (listed as not used)."""
    mid = next((i for i in echo.external_ids if i), "")
    what = f"{echo.kind} message {mid} sent outside Responder"
    if not mid or echo.document is None or not echo.recipient_id:
        return f"{what} names no message or recipient"
    if _ours_unrecorded(session, channel, echo.recipient_id, echo.text):
        return f"{what} may be our own reply or acknowledgement to {echo.recipient_id}"
    # Asked again: our send may have committed its platform id since the receipt looked for it
    # (the echo often arrives as the send API answers), and then the echo is ours after all.
    if session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.channel_id == channel.id, OutboxItem.external_id.in_(echo.external_ids)
        )
    ):
        return ""
    key = (OUTSIDE_KEY + mid)[:500]
    exists = session.scalar(
        select(Message.id).where(Message.channel_id == channel.id, Message.external_key == key)
    )
    if exists:
        return ""
    conversation = session.scalar(
        select(Conversation)
        .where(
            Conversation.channel_id == channel.id,
            Conversation.thread_key == thread_key(echo.kind, echo.account_id, echo.recipient_id),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        return f"{what} to {echo.recipient_id}, who has not written to us"
    now = utcnow()
    raw = json.dumps(echo.document, ensure_ascii=False, sort_keys=True).encode()
    reply = Message(
        channel_id=channel.id,
        direction="out",
        external_key=key,
        raw=raw,
        raw_size=len(raw),
        state=State.SENT,
        state_reason=outside_words(echo.kind),
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        text=echo.text,
        new_text=echo.text,
        sent_at=echo.sent_at or now,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(reply)
    except IntegrityError:  # another delivery of the same echo, at the same moment
        return ""
    conversation.last_message_at = max(conversation.last_message_at, reply.sent_at or now)
    stale = mark_waiting_drafts_stale(session, conversation.id, reply.id)
    log.info(
        "conversation %s %s; %d waiting draft(s) marked stale",
        conversation.id,
        outside_words(echo.kind),
        stale,
    )
    return ""


def _ours_unrecorded(session: Session, channel: Channel, recipient: str, text: str) -> bool:
    """Whether the echo may be of something we sent whose platform id we do not hold: a reply
    being sent now (the platform echoes it before the send API's answer is recorded), or an
    automatic acknowledgement with these words (its id is not kept). Few rows either way."""
    wanted = {recipient, "+" + recipient.lstrip("+")}
    words = text.strip()
    replies = session.execute(
        select(OutboxItem.recipients, OutboxItem.state, OutboxItem.body).where(
            OutboxItem.channel_id == channel.id,
            OutboxItem.external_id == "",
            OutboxItem.state.in_(("sending", "uncertain")),
        )
    )
    acknowledgements = session.execute(
        select(Acknowledgement.recipients, Acknowledgement.body).where(
            Acknowledgement.channel_id == channel.id,
            Acknowledgement.state.in_(("sending", "sent", "uncertain")),
            Acknowledgement.created_at >= utcnow() - ACKNOWLEDGED_WITHIN,
        )
    )
    return any(
        wanted & {str(r) for r in recipients or []}
        and (state == "sending" or body.strip() == words)
        for recipients, state, body in replies
    ) or any(
        wanted & {str(r) for r in recipients or []} and body.strip() == words
        for recipients, body in acknowledgements
    )
