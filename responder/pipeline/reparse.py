"""Sending stored messages through the pipeline again from their raw bytes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from responder.db.models import Attachment, Message, utcnow
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State


def parse_again(session: Session, message_ids: Sequence[int], *, override: bool = False) -> int:
    """Ignored messages back to `received`; the parse stage makes their attachment rows again
    from the raw, so the old ones go. With `override`, the ignore rules are skipped for them."""
    if not message_ids:
        return 0
    session.execute(delete(Attachment).where(Attachment.message_id.in_(message_ids)))
    moved = session.execute(
        update(Message)
        .where(Message.id.in_(message_ids), Message.state == State.IGNORED)
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
    ).rowcount
    announce_work(session)
    return moved
