"""Marking a message as spam: its draft is rejected, its sender blocked, and the sender's other
drafts still waiting are rejected with it, so one click clears a spam run from the queue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from responder.blocked_drafts import reject_waiting_from, remember_marked_spam
from responder.blocklist import AlreadyBlocked, BlockError, Pattern, block, find_block
from responder.db.models import Attachment, Customer, StaffUser
from responder.review import audit, inbound_message, reject

SPAM = "spam"


@dataclass(frozen=True)
class SpamMarked:
    sender: str
    newly_blocked: bool
    also_rejected: list[int]


def mark_spam(
    session: Session,
    message_id: int,
    user: StaffUser,
    *,
    expected_version: int | None = None,
    own_addresses: frozenset[str] = frozenset(),
) -> SpamMarked:
    """A customer on file is never blocked from here: a supervisor decides that, on the blocked
    senders page, knowing who it is."""
    message = inbound_message(session, message_id)
    address = message.sender_address.strip().lower()
    if not address:
        raise BlockError("this message has no sender address to block; reject it instead")
    customer = session.get(Customer, message.customer_id) if message.customer_id else None
    if customer is not None and not customer.provisional:
        raise BlockError(
            f"{customer.name or address} is a customer on file, so their address is not blocked "
            "from here; reject the draft, and a supervisor can block the address under "
            "Blocked senders"
        )
    before = (message.state, message.state_reason)
    reject(session, message_id, user, SPAM, expected_version=expected_version)
    pattern = Pattern("address", address)
    try:
        entry = block(session, pattern, SPAM, user.username, own_addresses=own_addresses)
        newly_blocked = True
    except AlreadyBlocked:
        entry, newly_blocked = find_block(session, pattern), False
    also = []
    if entry is not None:
        remember_marked_spam(session, entry, message_id, *before, by=user.username)
        also = reject_waiting_from(session, entry, user, besides=message_id)
    _skip_owed_fetches(session, [message_id, *also])
    audit(
        session,
        user.username,
        "sender.block",
        "message",
        message_id,
        sender=pattern.shown,
        reason=SPAM,
        also_rejected=also,
    )
    return SpamMarked(pattern.shown, newly_blocked, also)


def _skip_owed_fetches(session: Session, message_ids: list[int]) -> None:
    """A spammer's photos and files still owed from the platform are not fetched."""
    session.execute(
        update(Attachment)
        .where(Attachment.message_id.in_(message_ids), Attachment.fetch_due_at.is_not(None))
        .values(fetch_due_at=None)
    )
