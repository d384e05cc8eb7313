"""Customer-data CSVs uploaded on the web: checked, previewed by a dry run, kept until the
supervisor confirms, then imported by the same importer as `responder import`.

The file waits in the database (`pending_imports`), not on one web process's disk, since the
confirmation may reach another process; only its uploader may import or drop it.
"""

from __future__ import annotations

import logging
import re
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker, undefer

from responder.config import Settings
from responder.customers.csvcheck import encoding_problem, is_empty
from responder.customers.importer import KINDS, ImportSummary, import_csv
from responder.db.models import PendingImport, utcnow

log = logging.getLogger(__name__)

MB = 1024 * 1024
#: An upload not confirmed within this is dropped at the next upload.
KEPT_FOR = timedelta(days=1)
#: Skipped rows a preview or a result names; the count says the rest.
SHOWN_PROBLEMS = 20


class UploadError(ValueError):
    """The file cannot be imported as it stands; nothing on file changed."""


def safe_name(filename: str) -> str:
    """The name the browser sent, without folders or control characters (it is shown and
    audited, never used as a path)."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", filename.replace("\\", "/").rsplit("/", 1)[-1])
    return name.strip()[:200] or "upload.csv"


def upload_limit(settings: Settings) -> int:
    """The largest file the web takes, in bytes (`[customers] max_upload_mb`); a larger
    export goes through `responder import`, which streams it from disk."""
    return settings.customers.max_upload_mb * MB


def too_large(limit: int, size: int | None = None) -> str:
    said = f" is {size / MB:.1f} MB:" if size else " is too large:"
    return (
        f"the file{said} the web takes up to {limit // MB} MB. Split the export, or import it "
        "on the server with `responder import KIND FILE.csv`"
    )


def check_upload(kind: str, filename: str, content: bytes, limit: int) -> None:
    """Refuse what the importer cannot read, before anything is written: no file, an empty
    one, one over `limit` bytes, or one that is not UTF-8 text (the line of the first bad
    byte, as `responder import` says it)."""
    if kind not in KINDS:
        raise UploadError(f"choose what the file holds: one of {', '.join(KINDS)}")
    if len(content) > limit:
        raise UploadError(f"{filename}: {too_large(limit, len(content))}")
    if is_empty(content):
        raise UploadError(f"{filename}: the file is empty (no header row)")
    if problem := encoding_problem([content]):
        raise UploadError(
            f"{filename}: {problem}: save the export as CSV UTF-8 and upload it again"
        )


def run_import(
    factory: sessionmaker[Session],
    settings: Settings,
    kind: str,
    filename: str,
    content: bytes,
    actor: str,
    *,
    dry_run: bool,
) -> ImportSummary:
    """The importer on the uploaded bytes, its messages naming the uploaded file. Raises
    `ImportFileError` for a header without the required columns. An import whose audit entry
    was lost is logged too: the log is then its only record on the server."""
    check_upload(kind, filename, content, upload_limit(settings))
    with tempfile.TemporaryDirectory(prefix="responder-upload-") as folder:
        path = Path(folder) / "upload.csv"
        path.write_bytes(content)
        summary = import_csv(
            factory,
            kind,
            path,
            settings=settings,
            actor=actor,
            dry_run=dry_run,
            source=filename,
            via="web",
        )
    if summary.audit_failed:
        log.warning("customer data import by %s: %s", actor, summary.audit_failed)
    return summary


def outcome(summary: ImportSummary) -> dict[str, Any]:
    """Counts and the first skipped rows, each `file:line: problem` as the importer says it;
    `stopped` says where and why the database refused a batch ("" when the file was read);
    `audit_failed` that the rows are imported but its audit entry (and tiers) could not be
    written ("" when they were); `linked` the first provisional customers linked to the
    known customer a row names, each `file:line: ...`; `not_linked` those an agent kept apart
    from it (unlinked, or "not this customer"), who keep the address, with why; `redrafts`
    what became of the linked senders' waiting drafts ("" for none, and in a preview)."""
    return {
        "stopped": summary.stopped,
        "audit_failed": summary.audit_failed,
        "kind": summary.kind,
        "filename": summary.path,
        "rows": summary.rows,
        "created": summary.created,
        "updated": summary.updated,
        "skipped": summary.skipped,
        "problems": summary.errors[:SHOWN_PROBLEMS],
        "linked": summary.linked[:SHOWN_PROBLEMS],
        "not_linked": summary.not_linked[:SHOWN_PROBLEMS],
        "redrafts": summary.redrafts,
    }


def keep(
    session: Session, kind: str, filename: str, content: bytes, user: str, preview: dict[str, Any]
) -> str:
    """Keep a previewed upload for its confirmation; returns the token that names it. Uploads
    left unconfirmed for a day go."""
    session.execute(delete(PendingImport).where(PendingImport.created_at < utcnow() - KEPT_FOR))
    token = secrets.token_urlsafe(24)
    session.add(
        PendingImport(
            token=token,
            kind=kind,
            filename=filename,
            content=content,
            uploaded_by=user,
            preview=preview,
        )
    )
    return token


def waiting(session: Session, token: str, user: str) -> PendingImport | None:
    """The upload the token names, if this user made it and it is still waiting."""
    return session.scalar(
        select(PendingImport).where(
            PendingImport.token == token,
            PendingImport.uploaded_by == user,
            PendingImport.created_at >= utcnow() - KEPT_FOR,
        )
    )


def take(session: Session, token: str, user: str) -> PendingImport | None:
    """The waiting upload, removed in the same transaction: of two clicks on Import, only
    one finds it."""
    row = session.scalar(
        select(PendingImport)
        .options(undefer(PendingImport.content))
        .where(
            PendingImport.token == token,
            PendingImport.uploaded_by == user,
            PendingImport.created_at >= utcnow() - KEPT_FOR,
        )
        .with_for_update()
    )
    if row is None:
        return None
    gone = session.execute(delete(PendingImport).where(PendingImport.token == token))
    return row if gone.rowcount else None  # type: ignore[attr-defined]


def put_back(session: Session, kept: PendingImport) -> None:
    """A taken upload waiting again as it was (its day counted from the upload), when its
    import failed before it was done: confirmed again or dropped, never uploaded again."""
    session.add(
        PendingImport(
            token=kept.token,
            kind=kept.kind,
            filename=kept.filename,
            content=kept.content,
            uploaded_by=kept.uploaded_by,
            preview=kept.preview,
            created_at=kept.created_at,
        )
    )
