"""The review page's "insert an approved answer": the draft's suggested snippets, or the live
snippets matching typed words, rendered for this message's customer as drafting renders them,
as JSON for the page's script (cookie session, read only)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException

from responder.content import live_snippets
from responder.db.models import Message, Snippet
from responder.knowledge.snippet_search import search_snippets
from responder.review import current_draft
from responder.runtime import Runtime
from responder.supervisor.content_edit import PreviewSource, preview_source, render_snippet
from responder.web.auth import requires_agent
from responder.web.state import runtime

MAX_QUERY = 200


def _item(snippet: Snippet, suggested: bool, source: PreviewSource, rt: Runtime) -> dict[str, Any]:
    """A snippet that no longer renders (a supervisor's edit for another field) is listed with
    its error and no text, so the agent sees why it cannot be inserted."""
    rendered = render_snippet(snippet.body, snippet.key, source, rt.settings)
    return {
        "key": snippet.key,
        "title": snippet.title or snippet.key,
        "version": snippet.version,
        "language": snippet.language,
        "body": rendered.text.strip(),
        "error": rendered.error,
        "suggested": suggested,
    }


@get("/messages/{message_id:int}/snippets", sync_to_thread=True, guards=[requires_agent])
def message_snippets(request: Request, message_id: int, q: str = "") -> dict[str, Any]:
    """With no words, the snippets retrieval ranked for this message; with words, any live
    snippet in the message's language that holds them all."""
    rt = runtime(request)
    query = q.replace("\x00", "")[:MAX_QUERY]
    with rt.factory() as session:
        message = session.get(Message, message_id)
        if message is None or message.direction != "in":
            raise NotFoundException(f"message {message_id} not found")
        live = live_snippets(session)
        draft = current_draft(session, message_id)
        suggested = [
            c["key"] for c in ((draft.grounding if draft else {}) or {}).get("candidates", [])
        ]
        by_key = {s.key: s for s in live}
        if query.strip():
            languages = {s.language for s in live}
            language = message.language if message.language in languages else None
            chosen = search_snippets(live, query, language)
        else:
            chosen = [by_key[key] for key in suggested if key in by_key]
        source = preview_source(session, rt.settings, message_id)
        items = [_item(s, s.key in suggested, source, rt) for s in chosen]
    return {"query": query, "items": items}


SNIPPET_ROUTES: list[object] = [message_snippets]
