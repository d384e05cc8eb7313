"""Sending stored messages through the pipeline again from their raw bytes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from responder.db.models import Attachment, Message, MessageSearchText, utcnow
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State


def forget_parse(
    session: Session, message_ids: Sequence[int], *, keep_platform_files: bool = False
) -> None:
    """The rows the parse stage made beside each message, so that parsing it again makes them
    once: its attachments and its search text. `keep_platform_files` keeps a social DM's files,
    which may have been fetched from a link that has expired since (the parse then leaves out
    the files it holds)."""
    files = delete(Attachment).where(Attachment.message_id.in_(message_ids))
    if keep_platform_files:
        files = files.where(Attachment.remote.is_(None))
    session.execute(files)
    session.execute(delete(MessageSearchText).where(MessageSearchText.message_id.in_(message_ids)))


def parse_again(session: Session, message_ids: Sequence[int], *, override: bool = False) -> int:
    """Ignored messages back to `received`, without what their first parse made. With
    `override`, the ignore rules are skipped for them."""
    still_ignored = session.scalars(
        select(Message.id)
        .where(Message.id.in_(message_ids), Message.state == State.IGNORED)
        .with_for_update()
    ).all()
    if not still_ignored:
        return 0
    forget_parse(session, still_ignored)
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
