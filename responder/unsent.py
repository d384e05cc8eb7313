"""Leaving a reply that could not be delivered unsent: staff answered the customer another way
(a call, an email) or the moment has passed, so it leaves Needs attention for good.

A held reply (a platform's reply window closed) or a refused one otherwise waits there with
only Retry, which fails the same way. The message ends in its own final state, `unsent`, that
retry and the send stage never pick up, so the text can never go out later.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Message, OutboxItem, ReviewAction, StaffUser
from responder.pipeline.states import State
from responder.review import AlreadyHandled, NotFound, ReviewError, audit


def leave_unsent(session: Session, message_id: int, user: StaffUser, reason: str) -> Message:
    """The failed reply (or new email) stays unsent, with the person's reason in the history
    and audit log."""
    reason = " ".join(reason.split())[:500]
    if not reason:
        raise ReviewError("say why the reply is left unsent (e.g. phoned the customer)")
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    # A reply's outbox row hangs on the customer's message; a new email staff wrote
    # (`responder.outbound`) is our own row, and may be refused for good just the same.
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    if message.state != State.FAILED or item is None or item.state == "sent":
        raise AlreadyHandled(
            f"only a reply that could not be delivered can be left unsent (it is {message.state})"
        )
    refused = item.last_error or message.state_reason
    item.state = "unsent"
    item.next_attempt_at = None
    message.state = State.UNSENT
    message.state_reason = f"left unsent by {user.username}: {reason}"
    message.next_attempt_at = None
    message.version += 1
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=item.draft_id,
            user_id=user.id,
            action="unsent",
            reason=reason,
        )
    )
    audit(
        session,
        user.username,
        "reply.leave_unsent",
        "message",
        message_id,
        reason=reason,
        error=refused,
    )
    return message
