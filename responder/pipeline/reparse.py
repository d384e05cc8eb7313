"""Sending stored messages through the pipeline again from their raw bytes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from responder.db.models import Attachment, Message, utcnow
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State


def parse_again(session: Session, message_ids: Sequence[int], *, override: bool = False) -> int:
    """Ignored messages back to `received`; the parse stage makes their attachment rows again
    from the raw, so the old ones go. With `override`, the ignore rules are skipped for them."""
    still_ignored = session.scalars(
        select(Message.id)
        .where(Message.id.in_(message_ids), Message.state == State.IGNORED)
        .with_for_update()
    ).all()
    if not still_ignored:
        return 0
    session.execute(delete(Attachment).where(Attachment.message_id.in_(still_ignored)))
    session.execute(
        update(Message)
        .where(Message.id.in_(still_ignored))
        .values(
            state=State.RECEIVED,
            state_reason="",
            attempts=0,
            next_attempt_at=None,
            guard_override=override,
            version=Message.version + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    announce_work(session)
    return len(still_ignored)
