"""Due times again for the mail already waiting, after the SLA settings or opening hours change:
the route stage fixed each one when the message arrived in the queue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.config import QueueSettings
from responder.db.models import Message
from responder.pipeline.states import AWAITING_REVIEW
from responder.queue_order import churn_is_high, due_at
from responder.review import current_drafts

BATCH = 1000


def recompute_due_times(session: Session, settings: QueueSettings) -> int:
    """Every message waiting for review, in batches; returns how many were recomputed."""
    done, last = 0, 0
    while True:
        batch = session.scalars(
            select(Message)
            .where(Message.state.in_(AWAITING_REVIEW), Message.direction == "in", Message.id > last)
            .order_by(Message.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return done
        drafts = current_drafts(session, [m.id for m in batch])
        for message in batch:
            draft = drafts.get(message.id)
            message.due_at = due_at(
                message.received_at,
                urgency=message.urgency or "normal",
                tier=message.customer_tier,
                churn_high=churn_is_high(draft.grounding if draft else {}),
                settings=settings,
            )
        session.flush()
        done += len(batch)
        last = batch[-1].id
