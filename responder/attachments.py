"""A customer's attachments, handed to staff without letting a file act in their browser.

The declared content type is the sender's word: a file only keeps an image type (and may be
shown on the page) when its own bytes say it is that image; everything else is a download,
and an unknown kind goes out as `application/octet-stream`, so no attachment can ever be
rendered as HTML or script under our origin.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import filetype
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.channels.social import PLATFORM
from responder.db.models import Attachment

SHOWN_INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Raster images a browser decodes without running anything (SVG is not one of them)."""

TEXT_DOWNLOADS = frozenset({"text/plain", "text/csv"})
"""Text has no signature to check: it keeps its declared type, as a download, so the staff
member's computer opens it in the right program (a PDF keeps its type when its bytes are one)."""

SIGNATURE_BYTES = 262
"""How much of a file `filetype` reads to recognise it."""


class AttachmentUnavailable(Exception):
    """An attachment that is not there, or was never kept; the text says which."""

    status_code = 404


@dataclass(frozen=True)
class AttachmentFile:
    filename: str
    media_type: str
    content: bytes
    inline: bool


def attachments_of(session: Session, message_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The review page's lists, by message, in one query. Only each file's first bytes are read
    (enough to tell what it really is), never the files themselves, which may be megabytes."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(
            Attachment.id,
            Attachment.message_id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
            Attachment.remote,
            Attachment.fetch_due_at,
            Attachment.fetch_error,
            func.substr(Attachment.content, 1, SIGNATURE_BYTES).label("head"),
        )
        .where(Attachment.message_id.in_(list(message_ids)))
        .order_by(Attachment.id)
    )
    listed: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        kept = row.head is not None
        served, inline = served_type(row.content_type, bytes(row.head)) if kept else ("", False)
        listed.setdefault(row.message_id, []).append(
            {
                "id": row.id,
                "filename": row.filename,
                "content_type": row.content_type,
                "served_as": served,
                "size": row.size,
                "kept": kept,
                "why_not_kept": None if kept else not_kept_reason(row),
                "previewable": inline,
                "url": f"/messages/{row.message_id}/attachments/{row.id}",
            }
        )
    return listed


def not_kept_reason(row: Any) -> str:
    """Why staff cannot open a file: too large, owed from the platform, or refused by it."""
    remote = row.remote or {}
    platform = PLATFORM.get(str(remote.get("platform")), "the social channel")
    if row.fetch_due_at is not None:
        problem = f" (the last try: {row.fetch_error})" if row.fetch_error else ""
        return f"being fetched from {platform}{problem}; reload the page in a moment"
    if row.fetch_error:
        return f"not fetched from {platform}: {row.fetch_error}"
    if row.size > 0:
        return "not kept: larger than [pipeline] max_attachment_bytes when it arrived"
    if remote:
        return f"not fetched: it stays on {platform} (the message was ignored or marked spam)"
    return "not fetched: it stays on the social channel"


def open_attachment(session: Session, message_id: int, attachment_id: int) -> AttachmentFile:
    row = session.get(Attachment, attachment_id)
    if row is None or row.message_id != message_id:
        raise AttachmentUnavailable(f"message {message_id} has no attachment {attachment_id}")
    if row.content is None:
        raise AttachmentUnavailable(f"attachment {attachment_id}: {not_kept_reason(row)}")
    media_type, inline = served_type(row.content_type, row.content)
    return AttachmentFile(
        filename=download_name(row.filename, media_type, attachment_id),
        media_type=media_type,
        content=row.content,
        inline=inline,
    )


def served_type(declared: str, content: bytes) -> tuple[str, bool]:
    """The type we vouch for and whether the browser may show it: the bytes decide."""
    declared = declared.split(";")[0].strip().lower()
    found = filetype.guess_mime(content[:SIGNATURE_BYTES])
    if found in SHOWN_INLINE:
        return found, True
    if found == "application/pdf":
        return found, False
    if found is None and declared in TEXT_DOWNLOADS:
        return declared, False
    return "application/octet-stream", False


def download_name(filename: str | None, media_type: str, attachment_id: int) -> str:
    """The sender's file name without folders or control characters, or one we make up."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if name:
        return name[:200]
    extension = mimetypes.guess_extension(media_type) or ""
    if media_type == "application/octet-stream":
        extension = ".bin"
    return f"attachment-{attachment_id}{extension}"
