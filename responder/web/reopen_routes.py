"""The review page's and the API's "Reopen" for a rejected message; the rules are in
`responder.reopen`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect
from msgspec import Struct

from responder.db.session import transaction
from responder.reopen import Reopened, prepare, reopen
from responder.review import ReviewError
from responder.web.auth import requires_agent
from responder.web.clock import PageClock
from responder.web.next_draft import to_draft
from responder.web.state import runtime, signed_in


class ReopenForm(Struct):
    """`reason`: optional, for the history and the audit log."""

    reason: str = ""
    version: int | None = None


def _reopen(request: Request, message_id: int, data: ReopenForm) -> Reopened:
    rt = runtime(request)
    prepare(rt, message_id)
    with transaction(rt.factory) as session:
        return reopen(
            rt, session, message_id, signed_in(request), data.reason, expected_version=data.version
        )


def notice(done: Reopened, clock: PageClock) -> str:
    said = "Reopened: back in the queue for review"
    if done.due_at is not None:
        said += f", due {clock.minute(done.due_at)} ({clock.label})"
    said += "."
    if done.redrafted:
        said += f" Its draft held no reply, so a new one was written (v{done.draft_version})."
    if done.stale:
        said += " The customer wrote again since: read the newer message before you answer."
    if done.block_stays:
        said += (
            f" It is no longer marked as spam; the block on {done.block_stays} stays (its new "
            "mail is still ignored) until a supervisor lifts it under Blocked senders."
        )
    return said


@post("/messages/{message_id:int}/reopen", sync_to_thread=True, guards=[requires_agent])
def reopen_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[ReopenForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    """Back to the message's page, in the queue view it was opened in."""
    try:
        done = _reopen(request, message_id, data)
    except ReviewError as exc:
        return to_draft(request, message_id, error=f"Not reopened: {exc}.")
    return to_draft(request, message_id, notice=notice(done, request.app.state.clock))


API_SAID = (
    "409 when it is not rejected, its sender is blocked (a supervisor lifts blocks on "
    "/supervisor/blocked), or the customer's later message in the conversation already has its "
    "reply. `reason` (optional) goes in the history and the audit log. The answer's "
    "`block_stays` names the block a Spam click on it set, which stays; `stale`: the customer "
    "wrote again after the draft was made; `redrafted`: the old draft held no reply, so a new "
    "one was written; `due_at`: moved on by the time it spent rejected."
)


@post(
    "/api/messages/{message_id:int}/reopen",
    sync_to_thread=True,
    guards=[requires_agent],
    summary="Put a rejected message back in the review queue with its draft",
    description=API_SAID,
)
def api_reopen(
    request: Request, message_id: FromPath[int], data: JSONBody[ReopenForm]
) -> dict[str, Any]:
    try:
        done = _reopen(request, message_id, data)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {
        "id": message_id,
        "state": "in_review",
        "draft_version": done.draft_version,
        "redrafted": done.redrafted,
        "stale": done.stale,
        "block_stays": done.block_stays or None,
        "due_at": done.due_at.isoformat() if done.due_at else None,
    }


REOPEN_ROUTES: list[object] = [reopen_form, api_reopen]
