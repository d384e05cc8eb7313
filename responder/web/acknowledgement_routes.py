"""A person's call on an automatic acknowledgement that did not go out (listed under Needs
attention): send it again, or let it be. The rules are in `responder.acknowledge`."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from responder.acknowledge import settle
from responder.db.session import transaction
from responder.pipeline.notify import announce_work
from responder.review import ReviewError
from responder.web.auth import requires_agent
from responder.web.state import runtime, signed_in


def _settle(request: Request, ack_id: int, send_again: bool) -> None:
    with transaction(runtime(request).factory) as session:
        settle(session, ack_id, signed_in(request).username, send_again=send_again)
        if send_again:
            announce_work(session)  # a worker's next round sends it


@post("/acknowledgements/{ack_id:int}/send-again", sync_to_thread=True, guards=[requires_agent])
def send_again_form(request: Request, ack_id: int) -> Redirect:
    try:
        _settle(request, ack_id, send_again=True)
    except ReviewError as exc:
        return Redirect("/problems", query_params={"error": str(exc)})
    return Redirect(
        "/problems", query_params={"notice": "The acknowledgement goes out with the next round."}
    )


@post("/acknowledgements/{ack_id:int}/dismiss", sync_to_thread=True, guards=[requires_agent])
def dismiss_form(request: Request, ack_id: int) -> Redirect:
    try:
        _settle(request, ack_id, send_again=False)
    except ReviewError as exc:
        return Redirect("/problems", query_params={"error": str(exc)})
    return Redirect("/problems", query_params={"notice": "Left unsent."})


@post("/api/acknowledgements/{ack_id:int}/send-again", sync_to_thread=True, guards=[requires_agent])
def api_send_again(request: Request, ack_id: int) -> dict[str, Any]:
    try:
        _settle(request, ack_id, send_again=True)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": ack_id, "state": "queued"}


@post("/api/acknowledgements/{ack_id:int}/dismiss", sync_to_thread=True, guards=[requires_agent])
def api_dismiss(request: Request, ack_id: int) -> dict[str, Any]:
    try:
        _settle(request, ack_id, send_again=False)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": ack_id, "state": "dismissed"}


ACKNOWLEDGEMENT_ROUTES: list[object] = [send_again_form, dismiss_form, api_send_again, api_dismiss]
