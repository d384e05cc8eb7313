"""The review page's "Redraft" for a draft written for another customer than the message has
now (before a link), before its network incident changed, or for an intent a supervisor took
back by rejecting the correction; the rule is in
`responder.drafting.customer_known`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body, FromPath, JSONBody
from litestar.response import Redirect
from msgspec import Struct

from responder.db.session import transaction
from responder.drafting.customer_known import FOR_INTENT, redraft_for_customer
from responder.drafting.service import Redraft, embed_before_writing
from responder.review import ReviewError
from responder.web.auth import requires_agent
from responder.web.next_draft import to_draft
from responder.web.state import runtime, signed_in


class RedraftForm(Struct):
    version: int | None = None


def _redraft(request: Request, message_id: int, version: int | None) -> Redraft:
    """A person asked: their edited text gives way (it stays a version in the history)."""
    rt = runtime(request)
    embed_before_writing(rt, message_id)
    with transaction(rt.factory) as session:
        return redraft_for_customer(
            rt, session, message_id, signed_in(request), keep_edits=False, expected_version=version
        )


@post("/messages/{message_id:int}/redraft", sync_to_thread=True, guards=[requires_agent])
def redraft_form(
    request: Request,
    message_id: FromPath[int],
    data: Annotated[RedraftForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    try:
        done = _redraft(request, message_id, data.version)
    except ReviewError as exc:
        return to_draft(request, message_id, error=str(exc))
    because = done.because
    if because == FOR_INTENT:
        because = f"{because} {request.app.state.titles(done.intent)}"
    notice = (
        f"The draft was written again {because} (v{done.draft_version})."
        if done.draft_version is not None
        else "The draft is already written for this message's customer, intent and incidents."
    )
    return to_draft(request, message_id, notice=notice)


@post("/api/messages/{message_id:int}/redraft", sync_to_thread=True, guards=[requires_agent])
def api_redraft(
    request: Request, message_id: FromPath[int], data: JSONBody[RedraftForm]
) -> dict[str, Any]:
    """`draft_version` is None when the draft was already written for the message's customer."""
    try:
        done = _redraft(request, message_id, data.version)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": message_id, "draft_version": done.draft_version}


REDRAFT_ROUTES = [redraft_form, api_redraft]
