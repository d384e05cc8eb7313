"""Mail the ignore rules stopped, where a person can spot a real customer among the machines
and ask for a draft after all; the rules are in `responder.ignored`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from responder.db.session import transaction
from responder.ignored import draft_anyway
from responder.pipeline.states import State
from responder.review import ReviewError
from responder.web.auth import requires_agent
from responder.web.next_draft import to_draft
from responder.web.params import RowId
from responder.web.state import runtime, signed_in
from responder.web.views import problem_items

Words = Annotated[str, QueryParameter(max_length=200)]


def _items(request: Request, before: int | None, q: str) -> list[dict[str, Any]]:
    rt = runtime(request)
    with rt.read_factory() as session:
        return problem_items(
            session,
            before_id=before,
            limit=rt.settings.queue.page_size,
            states=(State.IGNORED,),
            contains=q,
        )


@get("/ignored", sync_to_thread=True, guards=[requires_agent])
def ignored_page(request: Request, before: RowId = None, q: Words = "") -> Template:
    items = _items(request, before, q)
    page_size = runtime(request).settings.queue.page_size
    context = {
        "items": items,
        "user": request.user,
        "q": q,
        "older": items[-1]["id"] if len(items) == page_size else None,
        "paged": before is not None,
    }
    return Template("ignored.html", context=context)


@get("/api/ignored", sync_to_thread=True, guards=[requires_agent])
def api_ignored(request: Request, before: RowId = None, q: Words = "") -> dict[str, Any]:
    return {"items": _items(request, before, q)}


def _draft_anyway(request: Request, message_id: int) -> str:
    with transaction(runtime(request).factory) as session:
        return draft_anyway(session, message_id, signed_in(request))


@post("/messages/{message_id:int}/draft-anyway", sync_to_thread=True, guards=[requires_agent])
def draft_anyway_form(request: Request, message_id: FromPath[int]) -> Redirect:
    """Back to the message's page, in the queue view it was opened in (none from /ignored)."""
    try:
        reason = _draft_anyway(request, message_id)
    except ReviewError as exc:
        return to_draft(request, message_id, error=f"Not drafted: {exc}.")
    notice = (
        f"It was ignored as: {reason}. It goes through the pipeline again without the ignore "
        "rules; its draft comes into the queue in a moment (reload this page to see it)."
    )
    return to_draft(request, message_id, notice=notice)


@post("/api/messages/{message_id:int}/draft-anyway", sync_to_thread=True, guards=[requires_agent])
def api_draft_anyway(request: Request, message_id: FromPath[int]) -> dict[str, Any]:
    try:
        reason = _draft_anyway(request, message_id)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": message_id, "state": State.RECEIVED.value, "was_ignored_as": reason}


ROUTES: list[object] = [ignored_page, api_ignored, draft_anyway_form, api_draft_anyway]
