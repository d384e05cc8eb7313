"""Customers' attachments for staff: a download, or an image shown in the page; the rules on
what a file may be served as are in `responder.attachments`."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from responder.attachments import AttachmentFile, AttachmentUnavailable, open_attachment
from responder.web.auth import requires_agent
from responder.web.state import runtime

FILE_HEADERS = {
    # The file is a document of its own when opened in a tab: nothing in it may load or run.
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, no-store",
}


def _file(request: Request, message_id: int, attachment_id: int) -> AttachmentFile:
    with runtime(request).read_factory() as session:
        try:
            return open_attachment(session, message_id, attachment_id)
        except AttachmentUnavailable as exc:
            raise NotFoundException(str(exc)) from exc


def file_response(file: AttachmentFile, disposition: str) -> Response[bytes]:
    ascii_name = file.filename.encode("ascii", "replace").decode().replace('"', "'")
    header = f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file.filename)}"
    return Response(
        file.content,
        media_type=file.media_type,
        headers={**FILE_HEADERS, "content-disposition": header},
    )


@get(
    "/messages/{message_id:int}/attachments/{attachment_id:int}",
    sync_to_thread=True,
    guards=[requires_agent],
)
def download(
    request: Request, message_id: FromPath[int], attachment_id: FromPath[int]
) -> Response[bytes]:
    return file_response(_file(request, message_id, attachment_id), "attachment")


@get(
    "/messages/{message_id:int}/attachments/{attachment_id:int}/view",
    sync_to_thread=True,
    guards=[requires_agent],
)
def view(
    request: Request, message_id: FromPath[int], attachment_id: FromPath[int]
) -> Response[bytes]:
    """An image whose bytes are one is shown; any other file is downloaded, never rendered."""
    file = _file(request, message_id, attachment_id)
    return file_response(file, "inline" if file.inline else "attachment")


@get(
    "/api/messages/{message_id:int}/attachments/{attachment_id:int}",
    sync_to_thread=True,
    guards=[requires_agent],
)
def api_download(
    request: Request, message_id: FromPath[int], attachment_id: FromPath[int]
) -> Response[bytes]:
    return file_response(_file(request, message_id, attachment_id), "attachment")


ATTACHMENT_ROUTES: list[object] = [download, view, api_download]
