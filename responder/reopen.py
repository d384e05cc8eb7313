"""Reopen: a rejected message back in the review queue, as a helpdesk reopens a closed ticket.

Its draft comes back as it was (drafts are versions nobody overwrites, and a rejection leaves
them alone); a draft that holds no reply (drafting failed) is written afresh. Refused where a
reply now would do harm: the sender is blocked (lifting a block is a supervisor's call), or the
customer's later message in the conversation was already answered (they would get two replies).
The message a person marked as spam is not spam once reopened; the block its Spam click set
stays until a supervisor lifts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from responder.blocklist import Pattern, block_covering
from responder.conversations import answered_after, written_again
from responder.db.models import (
    BlockedSender,
    BlockRejection,
    Draft,
    Message,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.drafting.service import embed_before_writing, redraft_keeping_action
from responder.due_times import closed_times, due_for
from responder.pipeline.states import State, state_words
from responder.review import AlreadyHandled, ReviewError, audit, current_draft, inbound_message
from responder.runtime import Runtime
from responder.users import role_at_least

REASON_LIMIT = 500
#: Where a supervisor lifts a block (the refusal names it; the review page links it).
BLOCKED_PAGE = "/supervisor/blocked"


@dataclass(frozen=True)
class Refusal:
    """Why a rejected message cannot be reopened, for the page to say before anyone clicks."""

    reason: str
    blocked: str = ""  # the block that stops the sender, as shown
    answered: tuple[int, ...] = ()  # the later messages already answered


@dataclass(frozen=True)
class Reopened:
    draft_version: int | None
    redrafted: bool  # the old draft held no reply: a new one was written
    stale: bool  # the customer wrote again after the draft was made
    block_stays: str  # marked as spam: the block its Spam click set, which stays
    due_at: datetime | None


def _shown(entry: BlockedSender) -> str:
    return Pattern(entry.kind, entry.value).shown


def spam_block(session: Session, message_id: int) -> BlockedSender | None:
    """The block a Spam click on this message set (or met), while it stands."""
    return session.scalar(
        select(BlockedSender)
        .join(BlockRejection, BlockRejection.blocked_sender_id == BlockedSender.id)
        .where(BlockRejection.message_id == message_id, BlockRejection.spam_marked_by != "")
    )


def refusal(session: Session, message: Message, *, supervising: bool = True) -> Refusal | None:
    """None when this rejected message can go back to the queue. A sender blocked by the Spam
    click on this very message does not stop it: the person reopening says it was not spam.
    `supervising`: said to a supervisor, who is pointed at the page that lifts blocks (an agent
    cannot open it, so is told to ask one)."""
    if message.state != State.REJECTED:
        return Refusal(
            f"only a rejected message can be reopened (this one is {state_words(message.state)})"
        )
    entry = block_covering(session, message.sender_address)
    if entry is not None and spam_block(session, message.id) is None:
        since = f"by {entry.blocked_by} on {entry.created_at:%Y-%m-%d}"
        lift = (
            f"a supervisor can lift the block under Blocked senders ({BLOCKED_PAGE})"
            if supervising
            else "ask a supervisor to lift the block (under Blocked senders)"
        )
        return Refusal(
            f"the sender is blocked ({_shown(entry)}, {since}): {lift}, which reopens what it "
            "rejected",
            blocked=_shown(entry),
        )
    answered = answered_after(session, message)
    if answered:
        listed = ", ".join(f"message {i}" for i in answered)
        return Refusal(
            f"the customer wrote again and {listed} already has its reply: a reply to this "
            "one would be their second, so answer there (a note on the conversation reaches "
            "whoever does)",
            answered=tuple(answered),
        )
    return None


def reopen_offer(
    session: Session, message: Message, *, supervising: bool = True
) -> dict[str, Any] | None:
    """What the page (and the API's message) of a rejected message says beside its Reopen
    button, or instead of it; None for a message in any other state."""
    if message.state != State.REJECTED:
        return None
    refused = refusal(session, message, supervising=supervising)
    stays = spam_block(session, message.id)
    return {
        "refused": refused.reason if refused else None,
        "blocked": refused.blocked if refused else "",
        "answered": list(refused.answered) if refused else [],
        "block_stays": _shown(stays) if stays else "",
    }


def holds_no_reply(draft: Draft | None) -> bool:
    """A draft that cannot be approved as it is: none, or drafting failed and left it empty."""
    return draft is None or bool(draft.error) or not draft.body.strip()


def prepare(rt: Runtime, message_id: int) -> None:
    """Embed the message before the write transaction when its draft is to be written again."""
    with rt.read_factory() as session:
        message = session.get(Message, message_id)
        needed = message is not None and message.state == State.REJECTED
        if needed and holds_no_reply(current_draft(session, message_id)):
            embed_before_writing(rt, message_id)


def _rejected_at(session: Session, message: Message) -> datetime:
    last = session.scalar(
        select(ReviewAction.created_at)
        .where(ReviewAction.message_id == message.id, ReviewAction.action == "reject")
        .order_by(ReviewAction.id.desc())
        .limit(1)
    )
    return last or message.updated_at


def reopen(
    rt: Runtime,
    session: Session,
    message_id: int,
    user: StaffUser,
    reason: str = "",
    *,
    expected_version: int | None = None,
) -> Reopened:
    """Back in review with its draft, its due time moved on by the time it spent rejected (that
    time does not count against the team); in its history and the audit log with `reason`."""
    reason = " ".join(reason.split())
    if len(reason) > REASON_LIMIT:
        raise ReviewError(f"keep the reason under {REASON_LIMIT} characters")
    message = inbound_message(session, message_id)
    refused = refusal(session, message, supervising=role_at_least(user.role, "supervisor"))
    if refused is not None:
        raise AlreadyHandled(refused.reason)
    rejected_as = message.state_reason
    stays = spam_block(session, message_id)
    now = utcnow()
    conditions = [Message.id == message_id, Message.state == State.REJECTED]
    if expected_version is not None:
        conditions.append(Message.version == expected_version)
    moved = session.execute(
        update(Message)
        .where(*conditions)
        .values(
            state=State.IN_REVIEW,
            state_reason="",
            viewer_id=None,
            snoozed_until=None,  # back because a person reopened it, not from a snooze
            version=Message.version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise AlreadyHandled(
            "this message changed since you opened it; reload to see where it is now"
        )
    closed = now - _rejected_at(session, message)
    session.refresh(message)
    # Not spam any more, and not the block's to put back: the block stays as it is.
    session.execute(delete(BlockRejection).where(BlockRejection.message_id == message_id))
    draft = current_draft(session, message_id)
    detail: dict[str, object] = {
        "closed_seconds": max(closed.total_seconds(), 0.0),
        "rejected_as": rejected_as,
    }
    if stays is not None:
        detail["block_stays"] = _shown(stays)
    session.add(
        ReviewAction(
            message_id=message_id,
            draft_id=draft.id if draft else None,
            user_id=user.id,
            action="reopen",
            reason=reason,
            detail=detail,
        )
    )
    said = {"reason": reason} if reason else {}
    audit(session, user.username, "message.reopen", "message", message_id, **said)
    session.flush()
    redrafted = holds_no_reply(draft)
    if redrafted:
        why = ("redraft", {"reopened": True})
        draft = redraft_keeping_action(rt, session, message, draft, user=user, why=why)
    stale = bool(draft and message.id in written_again(session, [message]))
    if stale and draft is not None:
        draft.stale = True
    waited = closed_times(session, [message_id]).get(message_id)
    if waited is not None:
        message.due_at = due_for(message, draft, rt.settings.queue, waited)
    return Reopened(
        draft_version=draft.version if draft else None,
        redrafted=redrafted,
        stale=stale,
        block_stays=_shown(stays) if stays is not None else "",
        due_at=message.due_at,
    )
