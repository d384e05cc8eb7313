"""Where a staff member finds the notes that name them; the rules are in `responder.mentions`."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from responder.db.session import transaction
from responder.mentions import mark_seen, mention_list, mention_rows
from responder.web.auth import requires_agent
from responder.web.state import runtime, signed_in


@get("/mentions", sync_to_thread=True, guards=[requires_agent])
def mentions_page(request: Request, cursor: FromQuery[str | None] = None) -> Template:
    with runtime(request).read_factory() as session:
        page = mention_list(session, signed_in(request).id, cursor)
    context = {"user": request.user, "items": page.rows, "page": page}
    return Template("mentions.html", context=context)


@get("/api/mentions", sync_to_thread=True, guards=[requires_agent])
def api_mentions(request: Request, cursor: FromQuery[str | None] = None) -> list[dict[str, Any]]:
    """Newest first, a page at a time: `?cursor=` the last row's `cursor` for the next page
    (fewer rows than a page, or none, at the end)."""
    with runtime(request).read_factory() as session:
        return mention_rows(session, signed_in(request).id, cursor=cursor)


@post("/mentions/seen", sync_to_thread=True, guards=[requires_agent])
def all_seen(request: Request) -> Redirect:
    with transaction(runtime(request).factory) as session:
        mark_seen(session, signed_in(request).id)
    return Redirect("/mentions")


ROUTES: list[object] = [mentions_page, api_mentions, all_seen]
