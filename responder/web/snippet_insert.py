"""The review page's "insert an approved answer": the draft's suggested snippets, or the live
snippets matching typed words, rendered for this message's customer as drafting renders them,
as JSON for the page's script (cookie session, read only). The page writing a new message to
a customer offers the same, by words only.

A snippet that is not for this customer today (another tier or plan, before or after its
dates: drafting's own rule, `restrictions`) is never ready to insert: an agent who types
"loyalty" for a Worst-tier customer must not put the Best tier's 20% off into the reply. It is
still listed, last and with why ("Best tier only", "ended 31 Mar 2026"), without its text, so
the agent learns the answer exists and why it is not theirs to give rather than hunting for it
elsewhere and pasting it."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from sqlalchemy.orm import Session

from responder.business_hours import team_day
from responder.content import live_snippets
from responder.customers.view import load_context
from responder.db.models import Customer, Message, Snippet, utcnow
from responder.knowledge.retrieve import IndexedSnippet, restrictions
from responder.knowledge.snippet_search import query_words, related_snippets, search_snippets
from responder.review import current_draft
from responder.runtime import Runtime
from responder.supervisor.content_edit import PreviewSource, preview_source, render_snippet
from responder.web.auth import requires_agent
from responder.web.state import runtime

MAX_QUERY = 200
WORD_HITS = 10  # results at most: word hits first, then related ones up to this
RELATED_HITS = 5
NOT_FOR_HITS = 5  # word hits not for this customer, listed after the rest


def _item(
    snippet: Snippet,
    suggested: bool,
    source: PreviewSource,
    rt: Runtime,
    similarity: float | None = None,
) -> dict[str, Any]:
    """A snippet that no longer renders (a supervisor's edit for another field) is listed with
    its error and no text, so the agent sees why it cannot be inserted. `similarity` is set for
    a snippet found by meaning rather than by the words typed."""
    rendered = render_snippet(snippet.body, snippet.key, source, rt.settings, snippet.language)
    return {
        **_heading(snippet, suggested),
        "body": rendered.text.strip(),
        "error": rendered.error,
        "related": similarity is not None,
        "similarity": round(similarity, 2) if similarity is not None else None,
    }


def _not_for(snippet: Snippet, suggested: bool, reasons: list[str]) -> dict[str, Any]:
    """A snippet not for this customer: why, and no text that a script could insert."""
    return {
        **_heading(snippet, suggested),
        "body": "",
        "error": None,
        "not_for": reasons,
        "related": False,
        "similarity": None,
    }


def _heading(snippet: Snippet, suggested: bool) -> dict[str, Any]:
    return {
        "key": snippet.key,
        "title": snippet.title or snippet.key,
        "version": snippet.version,
        "language": snippet.language,
        "suggested": suggested,
        "not_for": [],
    }


@get("/messages/{message_id:int}/snippets", sync_to_thread=True, guards=[requires_agent])
def message_snippets(
    request: Request, message_id: FromPath[int], q: FromQuery[str] = ""
) -> dict[str, Any]:
    """With no words, the snippets retrieval ranked for this message; with words, any live
    snippet in the message's language that holds them all, then those close in meaning."""
    rt = runtime(request)
    query = q.replace("\x00", "")[:MAX_QUERY]
    with rt.factory() as session:
        message = session.get(Message, message_id)
        if message is None or message.direction != "in":
            raise NotFoundException(f"message {message_id} not found")
        draft = current_draft(session, message_id)
        suggested = [
            c["key"] for c in ((draft.grounding if draft else {}) or {}).get("candidates", [])
        ]
        source = preview_source(session, rt.settings, message_id)
        items = _listing(rt, session, query, message.language, suggested, source)
    return {"query": query, "items": items}


@get("/customers/{customer_id:int}/snippets", sync_to_thread=True, guards=[requires_agent])
def customer_snippets(
    request: Request, customer_id: FromPath[int], q: FromQuery[str] = ""
) -> dict[str, Any]:
    """For a new message to the customer: no message to suggest from, so the live snippets
    in the customer's language holding the words typed, then those close in meaning, rendered
    for this customer."""
    rt = runtime(request)
    query = q.replace("\x00", "")[:MAX_QUERY]
    with rt.factory() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFoundException(f"customer {customer_id} not found")
        context = load_context(session, customer, None, rt.settings, utcnow())
        source = PreviewSource("", "", None, context, ())
        items = _listing(rt, session, query, customer.language, [], source)
    return {"query": query, "items": items}


def _listing(
    rt: Runtime,
    session: Session,
    query: str,
    language: str | None,
    suggested: list[str],
    source: PreviewSource,
) -> list[dict[str, Any]]:
    """The suggested snippets when no words are typed; else the word hits in `language` (any
    language when no live snippet is in it), then related ones up to WORD_HITS. Those not for
    this customer come last, marked, found by words (or suggested) only: one close in meaning
    that the agent cannot use is noise."""
    live = live_snippets(session)
    today = team_day(utcnow(), rt.settings.queue.timezone)
    customer = source.customer
    barred = {
        s.key: reasons
        for s in live
        if (reasons := restrictions(s.filters or {}, customer.plan, customer.tier, today))
    }
    usable = [s for s in live if s.key not in barred]
    by_key = {s.key: s for s in live}
    related: list[tuple[Snippet, float]] = []
    if query.strip():
        language = language if language in {s.language for s in live} else None
        chosen = search_snippets(usable, query, language, limit=WORD_HITS)
        if query_words(query) and len(chosen) < WORD_HITS:
            found = [s.key for s in chosen] + list(barred)
            limit = min(RELATED_HITS, WORD_HITS - len(chosen))
            related = _related(rt, session, query, language, found, limit)
            related = [(by_key[s.key], sim) for s, sim in related if s.key in by_key]
        others = [s for s in live if s.key in barred]
        withheld = search_snippets(others, query, language, limit=NOT_FOR_HITS)
    else:
        chosen = [by_key[key] for key in suggested if key in by_key and key not in barred]
        withheld = [by_key[key] for key in suggested if key in barred]
    return (
        [_item(s, s.key in suggested, source, rt) for s in chosen]
        + [_item(s, s.key in suggested, source, rt, similarity) for s, similarity in related]
        + [_not_for(s, s.key in suggested, barred[s.key]) for s in withheld]
    )


def _related(
    rt: Runtime,
    session: Session,
    query: str,
    language: str | None,
    exclude: list[str],
    limit: int,
) -> list[tuple[IndexedSnippet, float]]:
    """The live snippets' embeddings are the runtime's cached index (drafting's own); the
    `exclude`d keys (found by words already, or not for this customer) are left out."""
    index = rt.snippet_index(session)
    if not index.snippets:
        return []
    vector = rt.embedder.encode([query])[0]
    return related_snippets(
        index.vectors @ vector,
        index.snippets,
        language,
        exclude,
        limit,
    )


SNIPPET_ROUTES: list[object] = [message_snippets, customer_snippets]
