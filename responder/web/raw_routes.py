"""The bytes a message arrived as, for staff: what to look at when it could not be read."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from sqlalchemy import select

from responder.channels import EMAIL_KINDS
from responder.db.models import Channel, Message
from responder.web.attachment_routes import FILE_HEADERS
from responder.web.auth import requires_agent
from responder.web.state import runtime


@get("/messages/{message_id:int}/raw", sync_to_thread=True, guards=[requires_agent])
def raw_message(request: Request, message_id: FromPath[int]) -> Response[bytes]:
    """Always a download (a mail's HTML is never rendered from here): an .eml for mail, the
    platform's event as .json for a direct message."""
    with runtime(request).read_factory() as session:
        found = session.execute(
            select(Message.raw, Channel.kind)
            .join(Channel, Channel.id == Message.channel_id)
            .where(Message.id == message_id, Message.direction == "in")
        ).first()
    if found is None:
        raise NotFoundException(f"message {message_id} not found")
    raw, kind = found
    email = kind in EMAIL_KINDS
    name = f"message-{message_id}.{'eml' if email else 'json'}"
    return Response(
        bytes(raw),
        media_type="message/rfc822" if email else "application/json",
        headers={**FILE_HEADERS, "content-disposition": f'attachment; filename="{name}"'},
    )


RAW_ROUTES: list[object] = [raw_message]
