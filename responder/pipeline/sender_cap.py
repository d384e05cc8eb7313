"""Loop protection that headers cannot give: a cap on drafts per sender per hour.

A machine that slips past the header rules (an auto-responder without Auto-Submitted, a
misconfigured form) answers every reply with another message; the cap stops the ping-pong.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.db.models import Message
from responder.pipeline.states import State

WINDOW = timedelta(hours=1)
#: Messages that did not (and will not) get a draft do not count against the sender.
NOT_DRAFTED = (State.RECEIVED, State.IGNORED, State.QUARANTINED)


def over_sender_cap(session: Session, message: Message, limit: int) -> str | None:
    """The reason to ignore `message`, or None while its sender is under the cap (0: no cap)."""
    address = message.sender_address.strip().lower()
    if limit <= 0 or not address:
        return None
    recent = session.scalar(
        select(func.count(Message.id)).where(
            Message.direction == "in",
            Message.id != message.id,
            func.lower(Message.sender_address) == address,
            Message.received_at >= message.received_at - WINDOW,
            Message.state.not_in(NOT_DRAFTED),
        )
    )
    if (recent or 0) >= limit:
        return (
            f"sender rate cap: {recent} messages from {address} drafted in the last hour "
            f"(limit {limit}); a likely mail loop"
        )
    return None
