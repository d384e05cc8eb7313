"""Where a reviewer lands after acting on a draft: the next one in the queue's order."""

from __future__ import annotations

from litestar import Request
from litestar.response import Redirect
from sqlalchemy import select

from responder.db.models import Message, OutboxItem, utcnow
from responder.display import headline
from responder.pipeline.states import State
from responder.web.params import row_id_in
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


def waiting_to_send(request: Request, shown: int | None = None) -> dict[str, object] | None:
    """The reply named by `approved=<id>` (else the page's own message, `shown`) while it still
    waits out its undo window: whom it goes to, for the Undo bar. Once it is out or undone, or
    its window is over, the bar is not offered."""
    asked = row_id_in(request.query_params.get("approved", ""))
    if asked is not None:
        shown = asked
    if shown is None:
        return None
    with runtime(request).factory() as session:
        message = session.get(Message, shown)
        if (
            message is None
            or message.state != State.APPROVED
            or message.next_attempt_at is None
            or message.next_attempt_at <= utcnow()
            or session.scalar(select(OutboxItem.attempts).where(OutboxItem.message_id == shown))
        ):  # a reply already tried waits for its retry, not in an undo window
            return None
        return {
            "id": message.id,
            "to": message.sender_name or message.sender_address,
            "subject": headline(message.subject, message.new_text or message.text),
            "until": message.next_attempt_at,
        }
