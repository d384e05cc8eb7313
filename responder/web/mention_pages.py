"""Where a staff member finds the notes that name them; the rules are in `responder.mentions`."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from responder.db.session import transaction
from responder.mentions import mark_seen, mention_rows
from responder.web.auth import requires_agent
from responder.web.state import runtime, signed_in


def _rows(request: Request) -> list[dict[str, Any]]:
    with runtime(request).read_factory() as session:
        return mention_rows(session, signed_in(request).id)


@get("/mentions", sync_to_thread=True, guards=[requires_agent])
def mentions_page(request: Request) -> Template:
    context = {"user": request.user, "items": _rows(request)}
    return Template("mentions.html", context=context)


@get("/api/mentions", sync_to_thread=True, guards=[requires_agent])
def api_mentions(request: Request) -> list[dict[str, Any]]:
    return _rows(request)


@post("/mentions/seen", sync_to_thread=True, guards=[requires_agent])
def all_seen(request: Request) -> Redirect:
    with transaction(runtime(request).factory) as session:
        mark_seen(session, signed_in(request).id)
    return Redirect("/mentions")


ROUTES: list[object] = [mentions_page, api_mentions, all_seen]
