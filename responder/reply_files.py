"""Files staff send with an email reply (a statement, a form to sign, a coverage map).

Attached on the review page while the draft waits, kept with the message until the reply is
queued, then fixed into that reply's bytes: a retried send carries the same files. Social
replies carry text only (the send APIs here post text), so a file is refused there with what
to do instead. What a file is declared as comes from its bytes, else its name.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import filetype
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from responder.attachments import SIGNATURE_BYTES, download_name
from responder.channels import EMAIL_KINDS
from responder.channels.social import PLATFORM
from responder.db.models import Channel, Message, OutboxItem, ReplyFile
from responder.pipeline.states import State


class ReplyFileError(ValueError):
    status_code = 422


class NoSuchMessage(ReplyFileError):
    status_code = 404


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


def declared_type(filename: str, content: bytes) -> str:
    found = filetype.guess_mime(content[:SIGNATURE_BYTES])
    return found or mimetypes.guess_type(filename)[0] or "application/octet-stream"


def pending(session: Session, message_id: int, *, with_content: bool = False) -> list[ReplyFile]:
    query = (
        select(ReplyFile)
        .where(ReplyFile.message_id == message_id, ReplyFile.outbox_id.is_(None))
        .order_by(ReplyFile.id)
    )
    if with_content:
        query = query.options(undefer(ReplyFile.content))
    return list(session.scalars(query))


def listed(files: Sequence[ReplyFile]) -> list[dict[str, Any]]:
    return [
        {
            "id": f.id,
            "filename": f.filename,
            "content_type": f.content_type,
            "size": f.size,
            "added_by": f.added_by,
            "added_at": f.added_at.isoformat(),
        }
        for f in files
    ]


def _waiting_email(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.direction != "in":
        raise NoSuchMessage(f"message {message_id} not found")
    if message.state != State.IN_REVIEW:
        raise ReplyFileError(
            f"files can be added to a reply only while its draft waits for review (this "
            f"message is {message.state})"
        )
    channel = session.get(Channel, message.channel_id)
    kind = channel.kind if channel else ""
    if kind not in EMAIL_KINDS:
        platform = PLATFORM.get(kind, kind)
        raise ReplyFileError(
            f"{platform} replies carry text only: send the file from {platform} itself, or "
            "put a link to it in the reply"
        )
    return message


def attach(
    session: Session, message_id: int, uploads: Sequence[Upload], added_by: str, limit: int
) -> list[ReplyFile]:
    """All or nothing: one file over the limit refuses the lot, naming it."""
    uploads = [u for u in uploads if u.filename or u.content]
    if not uploads:
        return []
    _waiting_email(session, message_id)
    total = session.scalar(
        select(func.coalesce(func.sum(ReplyFile.size), 0)).where(
            ReplyFile.message_id == message_id, ReplyFile.outbox_id.is_(None)
        )
    )
    added = []
    for number, upload in enumerate(uploads, start=1):
        if not upload.content:
            raise ReplyFileError(f"{upload.filename or 'the file'} is empty")
        total += len(upload.content)
        if total > limit:
            raise ReplyFileError(
                f"with {upload.filename or 'this file'} the reply's files come to {total:,} "
                f"bytes; one reply carries at most {limit:,} ([outbound] max_reply_files_bytes)"
            )
        content_type = declared_type(upload.filename, upload.content)
        row = ReplyFile(
            message_id=message_id,
            filename=download_name(upload.filename, content_type, number)[:255],
            content_type=content_type,
            size=len(upload.content),
            content=upload.content,
            added_by=added_by,
        )
        session.add(row)
        added.append(row)
    session.flush()
    return added


def changed(session: Session, message_id: int) -> None:
    """Files changed outside the draft form (the API): a page drawn before the change can no
    longer approve, so nobody sends a file they have not seen or misses one they removed."""
    message = session.get(Message, message_id)
    if message is not None:
        message.version += 1


def remove(session: Session, message_id: int, file_ids: Collection[int]) -> list[str]:
    """Take pending files off the reply; a file already sent stays part of what was sent."""
    removed = []
    for row in pending(session, message_id):
        if row.id in file_ids:
            removed.append(row.filename)
            session.delete(row)
    session.flush()
    return removed


def sent_files_of(session: Session, sent_ids: Sequence[int]) -> list[tuple[int, dict[str, Any]]]:
    """The files each of our sent replies (outbound messages) carried, shaped like a
    customer's attachments so the conversation lists them the same way."""
    if not sent_ids:
        return []
    rows = session.execute(
        select(Message.id, ReplyFile)
        .join(OutboxItem, OutboxItem.message_id_header == Message.message_id_header)
        .join(ReplyFile, ReplyFile.outbox_id == OutboxItem.id)
        .where(Message.id.in_(list(sent_ids)))
        .order_by(ReplyFile.id)
    )
    return [
        (
            sent_id,
            {
                "id": f.id,
                "filename": f.filename,
                "content_type": f.content_type,
                "served_as": f.content_type,
                "size": f.size,
                "kept": True,
                "why_not_kept": None,
                "previewable": False,
                "url": f"/messages/{f.message_id}/reply-files/{f.id}",
            },
        )
        for sent_id, f in rows
    ]
