"""Due times again for the mail already waiting, after the SLA settings or opening hours change:
the route stage fixed each one when the message arrived in the queue. The time a message spent
rejected before a person reopened it does not count against the team (`responder.reopen`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.config import QueueSettings
from responder.db.models import Draft, Message, ReviewAction
from responder.pipeline.states import AWAITING_REVIEW
from responder.queue_order import churn_is_high, due_at
from responder.review import current_drafts

BATCH = 1000


def due_for(
    message: Message, draft: Draft | None, settings: QueueSettings, closed: timedelta
) -> datetime:
    """The SLA from arrival, its clock stopped for the `closed` time the message was rejected."""
    return due_at(
        message.received_at + closed,
        urgency=message.urgency or "normal",
        tier=message.customer_tier,
        churn_high=churn_is_high(draft.grounding if draft else {}),
        settings=settings,
    )


def closed_times(session: Session, message_ids: Sequence[int]) -> dict[int, timedelta]:
    """How long each message was rejected before it was reopened, all reopens added up."""
    closed: dict[int, timedelta] = defaultdict(timedelta)
    if message_ids:
        for message_id, detail in session.execute(
            select(ReviewAction.message_id, ReviewAction.detail).where(
                ReviewAction.message_id.in_(message_ids), ReviewAction.action == "reopen"
            )
        ):
            closed[message_id] += timedelta(seconds=float((detail or {}).get("closed_seconds", 0)))
    return closed


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
        ids = [m.id for m in batch]
        drafts = current_drafts(session, ids)
        closed = closed_times(session, ids)
        for message in batch:
            message.due_at = due_for(
                message, drafts.get(message.id), settings, closed.get(message.id, timedelta())
            )
        session.flush()
        done += len(batch)
        last = batch[-1].id
