"""A person's call on an automatic acknowledgement that did not go out (listed under Needs
attention): send it again, or leave it unsent. The rules are in `responder.acknowledge`."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect

from responder.acknowledge import settle
from responder.db.session import transaction
from responder.pipeline.notify import announce_work
from responder.review import ReviewError
from responder.web.auth import requires_agent
from responder.web.state import runtime, signed_in

Decision = Literal["send-again", "dismiss"]
SHOWN = {
    "send-again": "The acknowledgement goes out with the next round.",
    "dismiss": "Left unsent.",
}


def _settle(request: Request, ack_id: int, decision: Decision) -> None:
    send_again = decision == "send-again"
    if send_again and not runtime(request).settings.acknowledge.enabled:
        raise ReviewError(
            "acknowledgements are switched off ([acknowledge] enabled = false): nothing would "
            "send it; leave it unsent, or switch them on first"
        )
    with transaction(runtime(request).factory) as session:
        settle(
            session,
            runtime(request).settings,
            ack_id,
            signed_in(request).username,
            send_again=send_again,
        )
        if send_again:
            announce_work(session)  # a worker's next round sends it


@post("/acknowledgements/{ack_id:int}/{decision:str}", sync_to_thread=True, guards=[requires_agent])
def decide_form(request: Request, ack_id: FromPath[int], decision: FromPath[Decision]) -> Redirect:
    try:
        _settle(request, ack_id, decision)
    except ReviewError as exc:
        return Redirect("/problems", query_params={"error": str(exc)})
    return Redirect("/problems", query_params={"notice": SHOWN[decision]})


@post(
    "/api/acknowledgements/{ack_id:int}/{decision:str}",
    sync_to_thread=True,
    guards=[requires_agent],
)
def api_decide(
    request: Request, ack_id: FromPath[int], decision: FromPath[Decision]
) -> dict[str, Any]:
    try:
        _settle(request, ack_id, decision)
    except ReviewError as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    return {"id": ack_id, "state": "queued" if decision == "send-again" else "dismissed"}


ACKNOWLEDGEMENT_ROUTES: list[object] = [decide_form, api_decide]
