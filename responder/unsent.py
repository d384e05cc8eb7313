"""What staff do with a reply that could not be delivered, besides Retry (which sends the same
bytes again, and fails the same way when the reply itself was the problem).

Leave unsent: staff answered the customer another way (a call, an email) or the moment has
passed, so it leaves Needs attention for good. The message ends in its own final state,
`unsent`, that retry and the send stage never pick up, so the text can never go out later.

Edit and send again: the reply goes back to review with its text as the draft, to be mended (a
wrong address in it, too long for the channel) and approved anew. Only for a reply that
certainly did not go out, so none reaches the customer twice.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from responder.db.models import Message, OutboxItem, ReplyFile, ReviewAction, StaffUser, utcnow
from responder.pipeline.states import State, state_words
from responder.review import (
    AlreadyHandled,
    NotFound,
    ReviewError,
    audit,
    current_draft,
    inbound_message,
    save_draft,
)

#: Outbox states of a reply that certainly did not go out: refused ("failed", after its last
#: attempt) or held by a platform's closed reply window ("held"). An "uncertain" one may have
#: been delivered (responder/web/delivery_words.py), and a "queued" or "sending" one is a
#: worker's: none of those is edited and sent again.
NOT_DELIVERED = ("failed", "held")


def leave_unsent(session: Session, message_id: int, user: StaffUser, reason: str) -> Message:
    """The failed reply (or new email) stays unsent, with the person's reason in the history
    and audit log."""
    reason = " ".join(reason.split())[:500]
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    # A reply's outbox row hangs on the customer's message; a new email staff wrote
    # (`responder.outbound`) is our own row, and may be refused for good just the same.
    ours = "message" if message.direction == "out" else "reply"
    if not reason:
        raise ReviewError(f"say why the {ours} is left unsent (e.g. phoned the customer)")
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    if message.state != State.FAILED or item is None or item.state == "sent":
        raise AlreadyHandled(
            f"only a {ours} that could not be delivered can be left unsent "
            f"(it is {state_words(message.state, ours=message.direction == 'out')})"
        )
    refused = item.last_error or message.state_reason
    # A compare-and-set on both rows, as `edit_again`: a Retry pressed meanwhile (the message
    # approved again in the same transaction that queues its outbox row, perhaps already with
    # a worker) wins, and this refuses, rather than a reply marked unsent going out after all.
    # The outbox row itself may still read queued or sending under a failed message (a worker
    # that gave up on an error outside delivery): no worker sends for a failed message, so
    # only a reply recorded as sent is refused.
    taken = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == State.FAILED)
        .values(
            state=State.UNSENT,
            state_reason=f"left unsent by {user.username}: {reason}",
            next_attempt_at=None,
            version=Message.version + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    left = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item.id, OutboxItem.state != "sent")
        .values(state="unsent", next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(message)
    session.refresh(item)
    if taken != 1 or left != 1:  # the transaction rolls back: nothing above stays
        raise AlreadyHandled(
            f"only a {ours} that could not be delivered can be left unsent "
            f"(it is {state_words(message.state, ours=message.direction == 'out')})"
        )
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=item.draft_id,
            user_id=user.id,
            action="unsent",
            reason=reason,
        )
    )
    audit(  # a new message staff wrote is not a reply: the log says which was left
        session,
        user.username,
        "message.leave_unsent" if message.direction == "out" else "reply.leave_unsent",
        "message",
        message_id,
        reason=reason,
        error=refused,
    )
    return message


def can_edit_again(message_state: str, outbox_state: str | None) -> bool:
    """Whether the page offers Edit and send again (`edit_again` checks it once more)."""
    return message_state == State.FAILED and outbox_state in NOT_DELIVERED


def edit_again(session: Session, message_id: int, user: StaffUser) -> Message:
    """Back in review with the reply's text as its draft and its files pending again, as Undo
    puts an approved reply back; approving it queues a new reply (a new Message-ID). The
    failed reply's record goes, its error kept in the history and the audit log. A
    compare-and-set on the message's state and the reply's, so a Retry pressed meanwhile wins
    and the reply is never both resent and queued anew."""
    message = inbound_message(session, message_id)
    item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    if item is None or not can_edit_again(message.state, item.state):
        raise AlreadyHandled(_refusal(message, item))
    failed = {"error": item.last_error or message.state_reason, "attempts": item.attempts}
    body, outbox_id, draft_id = item.body, item.id, item.draft_id
    taken = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.state == State.FAILED)
        .values(
            state=State.IN_REVIEW,
            version=Message.version + 1,
            state_reason="",
            attempts=0,
            next_attempt_at=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        update(ReplyFile).where(ReplyFile.outbox_id == outbox_id).values(outbox_id=None)
    )
    gone = session.execute(
        delete(OutboxItem)
        .where(OutboxItem.id == outbox_id, OutboxItem.state.in_(NOT_DELIVERED))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expunge(item)
    session.refresh(message)
    if taken != 1 or gone != 1:  # the transaction rolls back: nothing above stays
        raise AlreadyHandled(_refusal(message, item))
    draft = current_draft(session, message_id)
    if draft is None or draft.id != draft_id or draft.body.strip() != body.strip():
        draft = save_draft(session, message_id, user, body, expected_version=None)
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=draft.id,
            user_id=user.id,
            action="edit_again",
            reason=failed["error"],
            detail={"outbox_id": outbox_id, "attempts": failed["attempts"]},
        )
    )
    audit(session, user.username, "reply.edit_again", "message", message_id, **failed)
    return message


def _refusal(message: Message, item: OutboxItem | None) -> str:
    if item is not None and item.state == "uncertain":
        return (
            "the reply may have gone out, so it is not sent again with edits: check the "
            "customer's copy, then retry only if it never arrived, or leave it unsent"
        )
    return (
        "only a reply that was not delivered can be edited and sent again "
        f"(it is {state_words(message.state)})"
    )
