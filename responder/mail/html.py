"""HTML bodies: sanitised for display, converted to text for classification and quoting.

Customer HTML is hostile input: nh3 keeps only safe markup before any page shows it, and
inscriptis renders the text the way a reader would see it (lists, tables, line breaks).
"""

from __future__ import annotations

import html as entities
import re

import nh3
from inscriptis import get_text

# Above this size the HTML is not laid out, only stripped of tags, and the copy shown to staff
# is cut to this size: the sanitiser's tree costs about 30 bytes of memory per byte of HTML.
_MAX_LAYOUT_CHARS = 2_000_000
# [^<>]: a stray "<" never makes the search rescan the rest of the text (linear, not quadratic).
_TAG = re.compile(r"<[^<>]*>")
_BLANK_RUNS = re.compile(r"\n{3,}")


def sanitise_html(html: str) -> str:
    """Return HTML safe to embed in a staff page (no scripts, handlers or remote tricks).

    Huge HTML is cut before sanitising; the sanitiser closes whatever the cut left open.
    """
    return nh3.clean(html[:_MAX_LAYOUT_CHARS])


def html_to_text(html: str) -> str:
    """Render HTML as plain text; falls back to tag stripping if rendering fails."""
    if len(html) > _MAX_LAYOUT_CHARS:
        return _tidy(entities.unescape(_TAG.sub(" ", html)))
    cleaned = nh3.clean(
        html,
        tags={
            "br",
            "p",
            "div",
            "li",
            "ul",
            "ol",
            "table",
            "tr",
            "td",
            "th",
            "blockquote",
            "pre",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "hr",
            "a",
            "b",
            "i",
            "em",
            "strong",
            "span",
            "tbody",
            "thead",
        },
    )
    try:
        text = get_text(cleaned)
    except Exception:  # the renderer is a fallback path: any failure means "strip tags"
        text = _TAG.sub(" ", cleaned)
    return _tidy(text)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
