"""Which snippets a draft used: those whose whole text, as rendered for it, the draft holds.

One rule for every version of a draft, whoever wrote it: the one Responder composes, one a
person saved or approved with an edit, one an action's paragraph was added to. A person who
deleted a snippet's paragraph no longer uses it; one who kept it still does. Holding is judged
as `paragraph.holds` judges it (spacing, line breaks and case aside), never by a first line.

Each snippet record in a draft's grounding keeps the `text` it was rendered as, so a later
version is judged without rendering anything again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from responder.drafting.paragraph import holds


def marked_used(
    records: Sequence[Mapping[str, Any]], body: str, texts: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """`records` each marked used when `body` holds its text: its own rendered `text`, else
    (a record written before texts were kept) `texts[key]`, the snippet as rendered now; a
    record with neither keeps the flag it had, since nothing tells it was deleted."""
    found = texts or {}
    marked = []
    for record in records:
        text = record.get("text") or found.get(record.get("key") or "")
        used = holds(body, text) if text else bool(record.get("used"))
        marked.append({**record, "used": used})
    return marked


def regrounded(grounding: Mapping[str, Any], body: str) -> dict[str, Any]:
    """`grounding` (copied from the version a person edited) with its snippets marked used
    as `body`, the text they saved, holds them."""
    out = dict(grounding)
    if grounding.get("snippets"):
        out["snippets"] = marked_used(grounding["snippets"], body)
    if grounding.get("action_snippet"):
        out["action_snippet"] = marked_used([grounding["action_snippet"]], body)[0]
    return out
