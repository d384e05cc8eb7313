"""Files sent with an email reply (and whom it copies): the review form's file field and its
ticks for kept files and copied addresses, and the API; `responder.reply_files` holds the rules.

The review page's draft form is multipart, so an agent picks files and approves in one step
and unsaved edits to the text are never lost to a separate upload; the approve and save
handlers read it with `review_form` and apply the files in the same transaction as the
action, so a refused approval attaches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anyio import to_thread
from litestar import Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Operation, RequestBody, Schema
from litestar.openapi.spec import OpenAPIMediaType as MediaType
from litestar.params import FromPath
from sqlalchemy.orm import Session, undefer

from responder.attachments import AttachmentFile, served_type
from responder.config import MAX_REPLY_FILES_BYTES
from responder.db.models import ReplyFile, StaffUser
from responder.db.session import transaction
from responder.reply_files import (
    ReplyFileError,
    Upload,
    attach,
    changed,
    listed,
    pending,
    remove,
)
from responder.review import ReviewError, audit, choose_cc
from responder.web.attachment_routes import file_response
from responder.web.auth import requires_agent
from responder.web.state import runtime, signed_in

#: The largest review form or upload the web app reads: the most `[outbound]
#: max_reply_files_bytes` may be (checked when the config loads) plus room for the form.
FORM_BODY_LIMIT = MAX_REPLY_FILES_BYTES + 2_000_000


@dataclass
class ReviewForm:
    body: str = ""
    version: int | None = None
    #: The files the page listed and the agent unticked; a file a colleague added after the
    #: page was drawn is not among them.
    dropped: set[int] = field(default_factory=set)
    uploads: list[Upload] = field(default_factory=list)
    #: Copied addresses the page listed and the agent unticked.
    dropped_cc: set[str] = field(default_factory=set)
    #: Addresses the page listed as left off (unticked) and the agent ticked again.
    restored_cc: set[str] = field(default_factory=set)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


async def review_form(request: Request) -> ReviewForm:
    """The draft form, URL-encoded or multipart; a file field left empty adds nothing."""
    form = await request.form()
    uploads = []
    for item in form.getall("files") if "files" in form else []:
        if isinstance(item, UploadFile) and item.filename:
            uploads.append(Upload(item.filename, await item.read()))

    def values(name: str) -> list[object]:
        return form.getall(name) if name in form else []

    def numbers(name: str) -> set[int]:
        return {n for n in (_int(v) for v in values(name)) if n is not None}

    def addresses(name: str) -> set[str]:
        return {str(v).strip().lower() for v in values(name)} - {""}

    return ReviewForm(
        body=str(form.get("body") or ""),
        version=_int(form.get("version") or ""),
        dropped=numbers("listed_files") - numbers("keep_files"),
        uploads=uploads,
        dropped_cc=addresses("listed_cc") - addresses("keep_cc"),
        restored_cc=addresses("listed_cc_off") & addresses("keep_cc"),
    )


def apply_files(
    session: Session, message_id: int, form: ReviewForm, user: StaffUser, limit: int
) -> None:
    """Unticked files and copied addresses come off the reply, new files and addresses ticked
    again go on; all in the audit log."""
    uncopied, copied_again = choose_cc(session, message_id, form.dropped_cc, form.restored_cc)
    if uncopied:
        audit(session, user.username, "reply.cc_remove", "message", message_id, cc=uncopied)
    if copied_again:
        audit(session, user.username, "reply.cc_restore", "message", message_id, cc=copied_again)
    try:
        if form.dropped:
            removed = remove(session, message_id, form.dropped)
            if removed:
                audit(session, user.username, "reply.file_remove", "message", message_id,
                      files=removed)  # fmt: skip
        added = attach(session, message_id, form.uploads, user.username, limit)
    except ReplyFileError as exc:
        raise ReviewError(f"the files were not attached: {exc}") from exc
    if added:
        audit(session, user.username, "reply.file_add", "message", message_id,
              files=[f.filename for f in added])  # fmt: skip


@dataclass
class FilesUpload(Operation):
    """The handler reads its multipart form itself (see `review_form`), so Litestar cannot see
    the body from its signature: the schema at /schema is told here."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        files = Schema(type=OpenAPIType.ARRAY, items=binary, description="one or more files")
        body = Schema(type=OpenAPIType.OBJECT, properties={"files": files}, required=["files"])
        self.request_body = RequestBody(
            content={"multipart/form-data": MediaType(schema=body)},
            required=True,
            description="The files the email reply is to carry (`[outbound] "
            "max_reply_files_bytes` in all).",
        )


@post(
    "/api/messages/{message_id:int}/reply-files",
    guards=[requires_agent],
    request_max_body_size=FORM_BODY_LIMIT,
    operation_class=FilesUpload,
)
async def api_add(request: Request, message_id: FromPath[int]) -> list[dict[str, object]]:
    """Multipart, one or more `files` fields; answers the reply's files now pending."""
    form = await review_form(request)
    if not form.uploads:
        raise HTTPException(status_code=422, detail="no file given: send them as `files` fields")
    return await _in_thread(request, message_id, form)


async def _in_thread(
    request: Request, message_id: int, form: ReviewForm
) -> list[dict[str, object]]:

    return await to_thread.run_sync(_add, request, message_id, form)


def _add(request: Request, message_id: int, form: ReviewForm) -> list[dict[str, object]]:
    rt = runtime(request)
    user = signed_in(request)
    try:
        with transaction(rt.factory) as session:
            added = attach(
                session, message_id, form.uploads, user.username,
                rt.settings.outbound.max_reply_files_bytes,
            )  # fmt: skip
            audit(session, user.username, "reply.file_add", "message", message_id,
                  files=[f.filename for f in added])  # fmt: skip
            changed(session, message_id)
            return listed(pending(session, message_id))
    except ReplyFileError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc


@delete(
    "/api/messages/{message_id:int}/reply-files/{file_id:int}",
    sync_to_thread=True,
    guards=[requires_agent],
    status_code=200,
)
def api_remove(
    request: Request, message_id: FromPath[int], file_id: FromPath[int]
) -> list[dict[str, object]]:
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        removed = remove(session, message_id, {file_id})
        if not removed:
            raise NotFoundException(
                f"message {message_id} has no file {file_id} waiting to be sent"
            )
        audit(session, user.username, "reply.file_remove", "message", message_id, files=removed)
        changed(session, message_id)
        return listed(pending(session, message_id))


@get(
    "/messages/{message_id:int}/reply-files/{file_id:int}",
    sync_to_thread=True,
    guards=[requires_agent],
)
def download(
    request: Request, message_id: FromPath[int], file_id: FromPath[int]
) -> Response[bytes]:
    """What staff attached, to check it: served like a customer's file, as a download."""
    with runtime(request).read_factory() as session:
        row = session.get(ReplyFile, file_id, options=[undefer(ReplyFile.content)])
        if row is None or row.message_id != message_id:
            raise NotFoundException(f"message {message_id} has no reply file {file_id}")
        content, filename, declared = row.content, row.filename, row.content_type
    media_type, _ = served_type(declared, content)
    return file_response(AttachmentFile(filename, media_type, content, inline=False), "attachment")


REPLY_FILE_ROUTES: list[object] = [api_add, api_remove, download]
