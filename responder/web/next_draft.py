"""Where a reviewer lands after acting on a draft: the next one in the queue's order."""

from __future__ import annotations

from litestar import Request
from litestar.response import Redirect

from responder.web.state import runtime
from responder.web.views import queue_items


def after_action(
    request: Request, message_id: int, notice: str = "", *, undoable: bool = False
) -> Redirect:
    """`undoable`: the reply just approved waits out its undo window; the next page offers the
    Undo button for it (`approved=<id>`)."""
    with runtime(request).factory() as session:
        following = [i["id"] for i in queue_items(session, limit=1, after_id=message_id)]
    shown = {"notice": notice} if notice else {}
    if undoable:
        shown["approved"] = str(message_id)
    if following:
        return Redirect(
            f"/messages/{following[0]}", query_params={"from": str(message_id), **shown}
        )
    return Redirect("/queue", query_params=shown) if shown else Redirect("/queue")
