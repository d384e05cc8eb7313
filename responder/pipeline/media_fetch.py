"""Social DM files into the attachments table, so staff open a customer's photo of a bill or a
broken phone on the review page, and still can after the platform's link has expired.

A file is owed a fetch (`fetch_due_at`) once its message is to be drafted (an ignored or
blocked sender's files are never fetched). The workers fetch owed files between rounds, one
row at a time under `FOR UPDATE SKIP LOCKED`, so several workers share them and a file is
stored once; the platform's refusal is kept on the row for staff, a temporary failure is
tried again with backoff, and after MAX_ATTEMPTS the last problem stands.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from responder.channels.delivery import backoff
from responder.channels.social.events import MediaRef
from responder.channels.social.media import MediaFetcher, MediaNotYet, MediaUnavailable
from responder.db.models import Attachment, utcnow
from responder.db.session import transaction
from responder.ops.metrics import MEDIA_FETCHES

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 30.0
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def attachment_row(message_id: int, platform: str, media: MediaRef) -> Attachment:
    """The row for a DM's file; its bytes come later, from the platform."""
    remote: dict[str, str] | None = None
    if media.url:
        remote = {"platform": platform, "url": media.url}
    elif media.media_id:
        remote = {"platform": platform, "media_id": media.media_id}
    return Attachment(
        message_id=message_id,
        filename=media.filename[:500] or None,
        content_type=(media.mime_type or media.kind)[:200],
        size=0,
        remote=remote,
    )


def fetch_due(factory: sessionmaker[Session], fetcher: MediaFetcher, limit: int = 10) -> int:
    """Fetch up to `limit` owed files; returns how many were tried."""
    tried = 0
    for _ in range(limit):
        with transaction(factory) as session:
            row = session.scalars(
                select(Attachment)
                .where(Attachment.fetch_due_at <= utcnow())
                .order_by(Attachment.fetch_due_at, Attachment.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                break
            fetch_into(row, fetcher)
            tried += 1
    return tried


def fetch_into(row: Attachment, fetcher: MediaFetcher) -> None:
    row.fetch_attempts += 1
    platform = str((row.remote or {}).get("platform") or "unknown")
    try:
        fetched = fetcher.fetch(row.remote or {})
    except MediaUnavailable as exc:
        MEDIA_FETCHES.labels(platform, "refused").inc()
        row.fetch_error = str(exc)[:500]
        row.fetch_due_at = None
        log.warning("attachment %s not fetched: %s", row.id, row.fetch_error)
        return
    except Exception as exc:  # MediaNotYet, or anything unforeseen: never a poison pill
        if not isinstance(exc, MediaNotYet):
            log.exception("attachment %s: fetching failed unexpectedly", row.id)
        MEDIA_FETCHES.labels(platform, "retry").inc()
        row.fetch_error = (str(exc) or type(exc).__name__)[:500]
        if row.fetch_attempts >= MAX_ATTEMPTS:
            row.fetch_due_at = None
            log.warning("attachment %s given up after %d tries", row.id, row.fetch_attempts)
        else:
            delay = backoff(RETRY_BASE_SECONDS, row.fetch_attempts)
            row.fetch_due_at = utcnow() + timedelta(seconds=delay)
        return
    MEDIA_FETCHES.labels(platform, "fetched").inc()
    row.content = fetched.content
    row.size = len(fetched.content)
    served = fetched.content_type.split(";")[0].strip().lower()
    if served not in GENERIC_TYPES:
        row.content_type = served[:200]
    row.fetch_error = None
    row.fetch_due_at = None
    log.info("attachment %s fetched (%d bytes)", row.id, row.size)
