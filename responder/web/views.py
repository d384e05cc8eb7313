"""Read models for the queue and review page, shared by the HTML pages and the JSON API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.customers.context import build_context
from responder.db.models import (
    Attachment,
    Channel,
    Customer,
    Draft,
    Message,
    OutboxItem,
    ReviewAction,
    StaffUser,
)
from responder.pipeline.states import State
from responder.review import current_draft


def queue_items(
    session: Session, limit: int = 50, after_id: int | None = None
) -> list[dict[str, Any]]:
    query = (
        select(Message, Customer, Channel)
        .join(Channel, Channel.id == Message.channel_id)
        .outerjoin(Customer, Customer.id == Message.customer_id)
        .where(Message.state == State.IN_REVIEW)
        .order_by(Message.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(Message.id > after_id)
    items = []
    for message, customer, channel in session.execute(query):
        draft = current_draft(session, message.id)
        items.append(
            {
                "id": message.id,
                "version": message.version,
                "subject": message.subject,
                "sender": message.sender_name or message.sender_address,
                "sender_address": message.sender_address,
                "customer": customer.name if customer else "",
                "tier": customer.tier if customer else "",
                "channel": channel.name,
                "intent": message.intent,
                "intent_confidence": message.intent_confidence,
                "received_at": message.received_at.isoformat(),
                "has_draft": bool(draft and draft.body.strip()),
                "stale": bool(draft and draft.stale),
                "draft_error": draft.error if draft else "",
            }
        )
    return items


def message_detail(session: Session, message_id: int) -> dict[str, Any] | None:
    message = session.get(Message, message_id)
    if message is None or message.direction != "in":
        return None
    customer = session.get(Customer, message.customer_id) if message.customer_id else None
    context = build_context(customer, message.sender_name)
    draft: Draft | None = current_draft(session, message.id)
    outbox = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    conversation = []
    if message.conversation_id:
        conversation = [
            {
                "id": m.id,
                "direction": m.direction,
                "subject": m.subject,
                "text": m.new_text or m.text,
                "at": (m.sent_at or m.received_at).isoformat(),
                "state": m.state,
            }
            for m in session.scalars(
                select(Message)
                .where(Message.conversation_id == message.conversation_id, Message.id != message.id)
                .order_by(Message.received_at)
            )
        ]
    actions = []
    for action, user in session.execute(
        select(ReviewAction, StaffUser)
        .outerjoin(StaffUser, StaffUser.id == ReviewAction.user_id)
        .where(ReviewAction.message_id == message.id)
        .order_by(ReviewAction.id)
    ):
        actions.append(
            {
                "action": action.action,
                "by": user.username if user else "auto-send",
                "at": action.created_at.isoformat(),
                "reason": action.reason,
                "edit_distance": action.edit_distance,
            }
        )
    attachments = [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size}
        for a in session.scalars(select(Attachment).where(Attachment.message_id == message.id))
    ]
    return {
        "id": message.id,
        "version": message.version,
        "state": message.state,
        "state_reason": message.state_reason,
        "subject": message.subject,
        "sender": message.sender_name,
        "sender_address": message.sender_address,
        "received_at": message.received_at.isoformat(),
        "text": message.text,
        "new_text": message.new_text,
        "html": message.html,
        "attachments": attachments,
        "classification": message.classification,
        "intent": message.intent,
        "intent_confidence": message.intent_confidence,
        "customer": {
            "known": context.known,
            "name": context.name,
            "plan": context.plan,
            "monthly_spend": context.monthly_spend,
            "contract_end": context.contract_end,
            "tier": context.tier,
            "addons": list(context.addons),
            "identities": [list(i) for i in context.identities],
        },
        "draft": None
        if draft is None
        else {
            "id": draft.id,
            "version": draft.version,
            "body": draft.body,
            "error": draft.error,
            "stale": draft.stale,
            "confidence": draft.confidence,
            "grounding": draft.grounding,
        },
        "outbox": None
        if outbox is None
        else {
            "state": outbox.state,
            "message_id": outbox.message_id_header,
            "recipients": outbox.recipients,
            "attempts": outbox.attempts,
            "last_error": outbox.last_error,
        },
        "conversation": conversation,
        "actions": actions,
    }
