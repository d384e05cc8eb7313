"""What an open queue page asks every little while: how many drafts are waiting in its view
now, and how many came in since it was drawn. The page says so and offers to show them; it
never reloads itself under an agent who is ticking rows (`static/queue_watch.js`)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.db.models import Message
from responder.web.auth import requires_agent
from responder.web.queue_view import filters_from, in_view
from responder.web.state import runtime, signed_in
from responder.web.views import queue_counts

RowId = Annotated[int, QueryParameter(ge=0, le=2**63 - 1)]


@get("/queue/changes", sync_to_thread=False, guards=[requires_agent])
def queue_changes(
    request: Request,
    after: RowId,
    channel: FromQuery[str] = "",
    intent: FromQuery[str | None] = None,
    tier: FromQuery[str | None] = None,
    assignee: FromQuery[str] = "",
    sentiment: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """`after`: the newest message when the page was drawn; `total` comes from the counts the
    queue page itself shows (a few seconds' cache), `new` is counted now. The filters are the
    page's, taken as it takes them."""
    filters = filters_from(channel, intent, tier, assignee, sentiment, me=signed_in(request).id)
    with runtime(request).read_factory() as session:
        total = queue_counts(session, filters, request.app.state.counts)["total"]
        new = session.scalar(
            select(func.count()).select_from(Message).where(*in_view(filters), Message.id > after)
        )
    return {"total": total, "new": new or 0}


def newest_message(session: Session) -> int:
    """The mark a queue page is drawn with: drafts of later messages are new to it."""
    return session.scalar(select(func.max(Message.id))) or 0


QUEUE_WATCH_ROUTES = [queue_changes]
