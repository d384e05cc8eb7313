"""Leave unsent, and Edit and send again, on a failed reply's page and in the API; the rules are
in `responder.unsent`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect
from msgspec import Struct

from responder.db.session import transaction
from responder.review import ReviewError
from responder.unsent import edit_again, leave_unsent
from responder.web.auth import requires_agent
from responder.web.next_draft import to_draft
from responder.web.state import runtime, signed_in


class UnsentForm(Struct):
    reason: str = ""


def _leave(request: Request, message_id: int, reason: str) -> None:
    with transaction(runtime(request).factory) as session:
        leave_unsent(session, message_id, signed_in(request), reason)


@post("/messages/{message_id:int}/leave-unsent", sync_to_thread=True, guards=[requires_agent])
def leave_unsent_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[UnsentForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """Back to the message's page, in the queue view it was opened in."""
    try:
        _leave(request, message_id, data.reason)
    except ReviewError as exc:
        return to_draft(request, message_id, error=f"Not changed: {exc}.")
    return to_draft(
        request,
        message_id,
        notice="Left unsent: it will not be sent, and is off Needs attention.",
    )


@post("/api/messages/{message_id:int}/leave-unsent", sync_to_thread=True, guards=[requires_agent])
def api_leave_unsent(
    request: Request, message_id: FromPath[int], data: JSONBody[UnsentForm]
) -> dict[str, Any]:
    """A failed or held reply stays unsent for good (400 without a reason, 409 if not failed)."""
    try:
        _leave(request, message_id, data.reason)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": message_id, "state": "unsent"}


def _edit_again(request: Request, message_id: int) -> None:
    with transaction(runtime(request).factory) as session:
        edit_again(session, message_id, signed_in(request))


@post("/messages/{message_id:int}/edit-again", sync_to_thread=True, guards=[requires_agent])
def edit_again_form(request: Request, message_id: FromPath[int]) -> Redirect:
    try:
        _edit_again(request, message_id)
    except ReviewError as exc:
        return Redirect(f"/messages/{message_id}", query_params={"error": f"Not changed: {exc}."})
    notice = (
        "Back to edit: the reply that was not delivered is the draft again. Mend it and approve "
        "to send it as a new reply."
    )
    return Redirect(f"/messages/{message_id}", query_params={"notice": notice})


@post("/api/messages/{message_id:int}/edit-again", sync_to_thread=True, guards=[requires_agent])
def api_edit_again(request: Request, message_id: FromPath[int]) -> dict[str, Any]:
    """A reply refused or held (outbox `failed`, `held`) goes back to review with its text as the
    draft (409 for any other, an `uncertain` one included: it may have gone out)."""
    try:
        _edit_again(request, message_id)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": message_id, "state": "in_review"}


UNSENT_ROUTES: list[object] = [leave_unsent_form, api_leave_unsent, edit_again_form, api_edit_again]
