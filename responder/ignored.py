"""Mail an ignore rule stopped, brought back by a person: the rules (auto-reply headers, list
mail, the sender cap, a blocked sender) guess, and a real customer's message can look like a
machine's. Nothing ignored is lost, so a person can ask for its draft after all."""

from __future__ import annotations

from sqlalchemy.orm import Session

from responder.blocklist import REASON_PREFIX
from responder.channels.imap_state import gone
from responder.channels.social import SOCIAL_KINDS
from responder.db.models import Channel, StaffUser
from responder.pipeline.reparse import parse_again
from responder.pipeline.states import State
from responder.review import ReviewError, audit, inbound_message


def draft_anyway(session: Session, message_id: int, user: StaffUser) -> str:
    """Parse the message again from its raw bytes without the ignore rules; returns the reason
    it had been ignored for."""
    message = inbound_message(session, message_id)
    if message.state != State.IGNORED:
        raise ReviewError(
            f"only ignored messages can be drafted anyway (this one is {message.state})"
        )
    reason = message.state_reason
    if gone(message):
        raise ReviewError(f"there is nothing to draft from ({reason})")
    if not message.sender_address:
        raise ReviewError("it has no sender address to reply to")
    channel = session.get(Channel, message.channel_id)
    if (
        channel is not None
        and channel.kind in SOCIAL_KINDS
        and not reason.startswith(REASON_PREFIX)
    ):
        raise ReviewError(f"there is nothing to reply to ({reason})")
    parse_again(session, [message_id], override=True)
    audit(session, user.username, "message.draft_anyway", "message", message_id, ignored_as=reason)
    return reason
