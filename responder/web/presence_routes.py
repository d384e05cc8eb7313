"""The review page's heartbeat: it keeps its reader present (`responder.presence`) and answers
with who else has the message open, in the words the page shows."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from msgspec import Meta, Struct

from responder.db.models import Message
from responder.db.session import transaction
from responder.presence import PAGE_ID_LENGTH, Present, leave, present, record
from responder.web.auth import requires_agent
from responder.web.clock import PageClock
from responder.web.state import runtime, signed_in


class PresenceForm(Struct):
    """`page`: the page view's id, drawn into the page (none from a page drawn before page views
    had ids); `editing`: "1" while the draft box holds unsaved typing; `left`: "1" when the page
    is left (sent by the browser's beacon as the page goes)."""

    page: Annotated[str, Meta(max_length=PAGE_ID_LENGTH)] = ""
    editing: str = ""
    left: str = ""


def presence_notice(others: list[Present], clock: PageClock) -> str:
    """What the review page says by the draft, e.g. "bob has this draft open (since 14:02
    UTC). Check with them before you act."; empty when nobody else has it open."""
    if not others:
        return ""
    said = []
    for p in others:
        since = f"{clock.time_of_day(p.since)} {clock.label}"
        said.append(
            f"{p.username} is editing the draft (open since {since})"
            if p.editing
            else f"{p.username} has this draft open (since {since})"
        )
    return "; ".join(said) + ". Check with them before you act."


def open_by(others: list[Present]) -> list[dict[str, Any]]:
    """As the JSON answers list them (UTC, as the API's times are)."""
    return [
        {"username": p.username, "since": p.since.isoformat(), "editing": p.editing} for p in others
    ]


@post(
    "/messages/{message_id:int}/presence",
    sync_to_thread=True,
    guards=[requires_agent],
    status_code=200,
)
def presence_beat(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[PresenceForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> dict[str, Any]:
    """The open page is still open (or was just left): who else has it open, and the notice."""
    user = signed_in(request)
    with transaction(runtime(request).factory) as session:
        if session.get(Message, message_id) is None:
            raise NotFoundException(f"message {message_id} not found")
        if data.left:
            leave(session, message_id, user.id, data.page)
            return {"open_by": [], "notice": ""}
        record(session, message_id, user.id, page=data.page, editing=bool(data.editing))
        others = present(session, [message_id], besides=user.id).get(message_id, [])
    return {
        "open_by": open_by(others),
        "notice": presence_notice(others, request.app.state.clock),
    }


PRESENCE_ROUTES = [presence_beat]
