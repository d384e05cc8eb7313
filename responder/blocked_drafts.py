"""The drafts waiting from a sender when it is blocked: rejected with the block's reason and
remembered with how they stood, so the block's list counts them and lifting a block set by
mistake puts them back in the queue as they were."""

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
        .where(BlockRejection.blocked_sender_id.in_(ids))
        .group_by(BlockRejection.blocked_sender_id)
    )
    return {block_id: count for block_id, count in rows}


def restore_rejected(
    session: Session, entry: BlockedSender, why: str, actor: str, user: StaffUser | None = None
) -> list[int]:
    """The drafts this block rejected go back to review (or to sleep, if snoozed then), each
    with `why` in its history and the audit log; one no longer rejected is left as it is."""
    links = session.scalars(
        select(BlockRejection)
        .where(BlockRejection.blocked_sender_id == entry.id)
        .order_by(BlockRejection.message_id)
    ).all()
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
