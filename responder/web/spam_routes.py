"""The review page's and the API's "spam" action; the rules are in `responder.spam`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect
from msgspec import Struct

from responder.blocklist import BlockError
from responder.db.session import transaction
from responder.review import ReviewError
from responder.spam import SpamMarked, mark_spam
from responder.web.auth import requires_agent
from responder.web.next_draft import after_action, to_draft
from responder.web.state import runtime, signed_in


class SpamForm(Struct):
    version: int | None = None


def _mark(request: Request, message_id: int, version: int | None) -> SpamMarked:
    rt = runtime(request)
    with transaction(rt.factory) as session:
        return mark_spam(
            session,
            message_id,
            signed_in(request),
            expected_version=version,
            own_addresses=rt.own_addresses,
        )


def notice(marked: SpamMarked) -> str:
    blocked = "is now blocked" if marked.newly_blocked else "was already blocked"
    others = len(marked.also_rejected)
    also = (
        f"; {others} more waiting draft{'s' if others != 1 else ''} from it rejected"
        if others
        else ""
    )
    return (
        f"Rejected as spam: {marked.sender} {blocked}, its mail will be stored and ignored{also}. "
        "Supervisors can lift the block under Blocked senders."
    )


@post("/messages/{message_id:int}/spam", sync_to_thread=True, guards=[requires_agent])
def spam_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[SpamForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    try:
        marked = _mark(request, message_id, data.version)
    except (ReviewError, BlockError) as exc:
        said = request.app.state.clock.refusal(exc)
        return to_draft(request, message_id, error=f"Not marked as spam: {said}.")
    return after_action(request, message_id, notice(marked))


@post("/api/messages/{message_id:int}/spam", sync_to_thread=True, guards=[requires_agent])
def api_spam(
    request: Request, message_id: FromPath[int], data: JSONBody[SpamForm]
) -> dict[str, Any]:
    try:
        marked = _mark(request, message_id, data.version)
    except (ReviewError, BlockError) as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {
        "id": message_id,
        "state": "rejected",
        "blocked": marked.sender,
        "newly_blocked": marked.newly_blocked,
        "also_rejected": marked.also_rejected,
    }


SPAM_ROUTES: list[object] = [spam_form, api_spam]
