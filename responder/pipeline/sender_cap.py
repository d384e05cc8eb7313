"""Loop protection that headers cannot give: a cap on drafts per sender per hour.

A machine that slips past the header rules (an auto-responder without Auto-Submitted, a
misconfigured form) answers every reply with another message; the cap stops the ping-pong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from responder.db.models import Message
from responder.pipeline.states import State

WINDOW = timedelta(hours=1)
#: Messages that did not (and will not) get a draft do not count against the sender.
NOT_DRAFTED = (State.RECEIVED, State.IGNORED, State.QUARANTINED)


def sender_key(address: str) -> str:
    """What the cap counts by (stored as `messages.sender_key` at the parse)."""
    return address.strip().lower()


@dataclass(frozen=True)
class Sender:
    """One message of the batch as the cap sees it (its address before it is stored)."""

    address: str
    message_id: int
    received_at: datetime

    @property
    def key(self) -> str:
        return sender_key(self.address)


class BatchSenderCap:
    """The same cap for a worker's whole batch: one query for the batch's senders, then counted
    in memory; a message of the batch that goes on to be drafted counts for the ones after it."""

    def __init__(self, session: Session, senders: Sequence[Sender], limit: int) -> None:
        self.limit = limit
        self.seen: dict[str, dict[int, datetime]] = defaultdict(dict)
        addresses = {s.key for s in senders} - {""}
        if limit <= 0 or not addresses:
            return
        since = min(s.received_at for s in senders) - WINDOW
        for address, message_id, received_at in session.execute(drafted_since(addresses, since)):
            self.seen[address][message_id] = received_at

    def reason(self, sender: Sender) -> str | None:
        address = sender.key
        if self.limit <= 0 or not address:
            return None
        since = sender.received_at - WINDOW
        recent = sum(
            1 for i, at in self.seen[address].items() if i != sender.message_id and at >= since
        )
        return _too_many(address, recent, self.limit)

    def counts(self, sender: Sender) -> None:
        """`sender`'s message is going on to a draft."""
        if sender.key:
            self.seen[sender.key][sender.message_id] = sender.received_at


def drafted_since(addresses: set[str], since: datetime) -> Select[tuple[str, int, datetime]]:
    """The stored messages of these senders (keys) since then that got or will get a draft.
    Read through ix_messages_sender_key_received: their last hour, not the table."""
    return select(Message.sender_key, Message.id, Message.received_at).where(
        Message.sender_key.in_(sorted(addresses)),
        Message.received_at >= since,
        Message.direction == "in",
        Message.state.not_in(NOT_DRAFTED),
    )


def _too_many(address: str, recent: int, limit: int) -> str | None:
    if recent >= limit:
        return (
            f"sender rate cap: {recent} messages from {address} drafted in the last hour "
            f"(limit {limit}); a likely mail loop"
        )
    return None
