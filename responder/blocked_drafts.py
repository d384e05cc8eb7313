"""The drafts waiting from a sender when it is blocked: rejected with the block's reason and
remembered with how they stood, so the block's list counts them and lifting a block set by
mistake puts them back in the queue as they were. The message a person marked as spam is
remembered the same way, and put back only when the supervisor lifting the block asks."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from responder.db.like import escape_like
from responder.db.models import (
    BlockedSender,
    BlockRejection,
    Message,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.pipeline.states import AWAITING_REVIEW, State
from responder.review import AlreadyHandled, audit, current_draft, reject


def reject_reason(entry: BlockedSender) -> str:
    """What the draft's history says: the reason the person typed when blocking."""
    return f"sender blocked: {entry.reason}" if entry.reason else "sender blocked"


def reject_waiting_from(
    session: Session, entry: BlockedSender, user: StaffUser, *, besides: int | None = None
) -> list[int]:
    """Reject the drafts still waiting from a sender just blocked (an address, or every address
    of a domain); one a colleague handled meanwhile is left to them."""
    sender = func.lower(Message.sender_address)
    matches = (
        sender.like(f"%@{escape_like(entry.value)}", escape="\\")
        if entry.kind == "domain"
        else sender == entry.value
    )
    query = (
        select(Message.id, Message.state, Message.state_reason, Message.version)
        .where(Message.state.in_(AWAITING_REVIEW), Message.direction == "in", matches)
        .order_by(Message.id)
    )
    if besides is not None:
        query = query.where(Message.id != besides)
    rejected = []
    for other, state, reason, version in session.execute(query).all():
        try:  # at the version read, so the state remembered is the one it left
            reject(session, other, user, reject_reason(entry), expected_version=version)
        except AlreadyHandled:
            continue
        session.add(
            BlockRejection(
                blocked_sender_id=entry.id, message_id=other, from_state=state, from_reason=reason
            )
        )
        rejected.append(other)
    return rejected


def rejected_counts(session: Session, block_ids: Iterable[int]) -> dict[int, int]:
    """How many waiting drafts each block rejected when it was set, in one query."""
    ids = sorted(set(block_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(BlockRejection.blocked_sender_id, func.count())
        .where(BlockRejection.blocked_sender_id.in_(ids), BlockRejection.spam_marked_by == "")
        .group_by(BlockRejection.blocked_sender_id)
    )
    return {block_id: count for block_id, count in rows}


def remember_marked_spam(
    session: Session, entry: BlockedSender, message_id: int, state: str, reason: str, by: str
) -> None:
    """The message a person marked as spam, with how it stood, under the block it set or met."""
    session.execute(delete(BlockRejection).where(BlockRejection.message_id == message_id))
    session.add(
        BlockRejection(
            blocked_sender_id=entry.id,
            message_id=message_id,
            from_state=state,
            from_reason=reason,
            spam_marked_by=by,
        )
    )


def marked_spam(session: Session, block_ids: Iterable[int]) -> dict[int, list[dict[str, object]]]:
    """The messages marked as spam under each block and still rejected: the unblock form
    offers to put them back."""
    ids = sorted(set(block_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(BlockRejection, Message.subject)
        .join(Message, Message.id == BlockRejection.message_id)
        .where(
            BlockRejection.blocked_sender_id.in_(ids),
            BlockRejection.spam_marked_by != "",
            Message.state == State.REJECTED,
        )
        .order_by(BlockRejection.message_id)
    )
    found: dict[int, list[dict[str, object]]] = {}
    for link, subject in rows:
        found.setdefault(link.blocked_sender_id, []).append(
            {
                "message_id": link.message_id,
                "subject": subject,
                "marked_by": link.spam_marked_by,
                "marked_at": link.rejected_at.isoformat(),
            }
        )
    return found


def restore_rejected(
    session: Session,
    entry: BlockedSender,
    why: str,
    actor: str,
    user: StaffUser | None = None,
    *,
    with_spam: bool = False,
) -> list[int]:
    """The drafts this block rejected go back to review (or to sleep, if snoozed then), each
    with `why` in its history and the audit log; one no longer rejected is left as it is.
    `with_spam`: the message marked as spam goes back too (else it stays rejected)."""
    query = select(BlockRejection).where(BlockRejection.blocked_sender_id == entry.id)
    if not with_spam:
        query = query.where(BlockRejection.spam_marked_by == "")
    links = session.scalars(query.order_by(BlockRejection.message_id)).all()
    restored = []
    for link in links:
        back = session.execute(
            update(Message)
            .where(Message.id == link.message_id, Message.state == State.REJECTED)
            .values(
                state=link.from_state,
                state_reason=link.from_reason,
                version=Message.version + 1,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if back.rowcount != 1:
            continue
        draft = current_draft(session, link.message_id)
        session.add(
            ReviewAction(
                message_id=link.message_id,
                draft_id=draft.id if draft else None,
                user_id=user.id if user else None,
                action="restore",
                reason=why,
                detail={"by": actor, "blocked_sender": entry.id},
            )
        )
        audit(session, actor, "draft.restore", "message", link.message_id, reason=why)
        restored.append(link.message_id)
    # The block goes next; its ids may be given again (SQLite), so nothing may point at it.
    session.execute(delete(BlockRejection).where(BlockRejection.blocked_sender_id == entry.id))
    return restored
