"""The live snippets a person's version of a draft holds, whether or not Responder offered them.

An answer an agent put in with the review page's "insert an approved answer"
(`responder/web/snippet_insert.py`), or pasted, has no record in the grounding copied from the
version they edited, so `used.regrounded` cannot see it. Each live snippet is rendered for the
message as that insert renders it and judged by the one rule (`used.marked_used`: the text
holds its whole rendered text), so a saved or edited approved version counts every snippet it
holds in "Snippets used" and in its `draft_snippets` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from responder.config import Settings
from responder.content import live_snippets
from responder.db.models import Snippet
from responder.drafting.compose import used_snippet_keys
from responder.drafting.paragraph import holds
from responder.supervisor.content_edit import PreviewSource, preview_source, render_snippet


def with_held_snippets(
    session: Session, settings: Settings, message_id: int, grounding: Mapping[str, Any], body: str
) -> dict[str, Any]:
    """`grounding` (already judged against `body` by `used.regrounded`) with every live snippet
    `body` holds marked used: its record when it has one, else a new record keeping the text it
    was judged by, so a later version is judged by the same text."""
    used = used_snippet_keys(grounding)  # one record per snippet, whichever version it has
    source: PreviewSource | None = None
    held: dict[int, tuple[Snippet, str]] = {}
    for snippet in live_snippets(session):
        # The text before its first placeholder is in every rendering: a body without it
        # cannot hold the snippet, and most snippets are passed over without rendering.
        head = snippet.body.split("{", 1)[0]
        if snippet.key in used or (head.strip() and not holds(body, head)):
            continue
        source = source or preview_source(session, settings, message_id)
        rendered = render_snippet(snippet.body, snippet.key, source, settings, snippet.language)
        text = rendered.text.strip()
        if text and holds(body, text):
            held[snippet.id] = (snippet, text)
    if not held:
        return dict(grounding)
    out = dict(grounding)
    action = grounding.get("action_snippet") or {}
    if action.get("id") in held:
        out["action_snippet"] = {**action, "used": True, "text": held.pop(action["id"])[1]}
    records = []
    for record in grounding.get("snippets") or []:
        if record.get("id") in held:
            record = {**record, "used": True, "text": held.pop(record["id"])[1]}
        records.append(record)
    for snippet, text in held.values():
        records.append(
            {
                "key": snippet.key,
                "version": snippet.version,
                "id": snippet.id,
                "language": snippet.language,
                "text": text,
                "used": True,
                "inserted": True,
            }
        )
    out["snippets"] = records
    return out
