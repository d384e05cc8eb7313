"""Loop protection that headers cannot give: a cap on drafts per sender per hour.

A machine that slips past the header rules (an auto-responder without Auto-Submitted, a
misconfigured form) answers every reply with another message; the cap stops the ping-pong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.db.models import Message
from responder.pipeline.states import State

WINDOW = timedelta(hours=1)
#: Messages that did not (and will not) get a draft do not count against the sender.
NOT_DRAFTED = (State.RECEIVED, State.IGNORED, State.QUARANTINED)


class BatchSenderCap:
    """The same cap for a worker's whole batch: one query for the batch's senders, then counted
    in memory; a message of the batch that goes on to be drafted counts for the ones after it."""

    def __init__(self, session: Session, messages: Sequence[Message], limit: int) -> None:
        self.limit = limit
        self.seen: dict[str, dict[int, datetime]] = defaultdict(dict)
        addresses = {_address(m) for m in messages} - {""}
        if limit <= 0 or not addresses:
            return
        since = min(m.received_at for m in messages) - WINDOW
        rows = session.execute(
            select(func.lower(Message.sender_address), Message.id, Message.received_at).where(
                Message.direction == "in",
                func.lower(Message.sender_address).in_(sorted(addresses)),
                Message.received_at >= since,
                Message.state.not_in(NOT_DRAFTED),
            )
        )
        for address, message_id, received_at in rows:
            self.seen[address][message_id] = received_at

    def reason(self, message: Message) -> str | None:
        address = _address(message)
        if self.limit <= 0 or not address:
            return None
        since = message.received_at - WINDOW
        recent = sum(1 for i, at in self.seen[address].items() if i != message.id and at >= since)
        return _too_many(address, recent, self.limit)

    def counts(self, message: Message) -> None:
        """`message` is going on to a draft."""
        address = _address(message)
        if address:
            self.seen[address][message.id] = message.received_at


def _address(message: Message) -> str:
    return (message.sender_address or "").strip().lower()


def _too_many(address: str, recent: int, limit: int) -> str | None:
    if recent >= limit:
        return (
            f"sender rate cap: {recent} messages from {address} drafted in the last hour "
            f"(limit {limit}); a likely mail loop"
        )
    return None
