"""A paragraph added to a draft a person edited, where a freshly written draft would have it.

Plain text in, plain text out: the person's words stay exactly as they typed them; only the
paragraph and the blank lines around it are added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_PARAGRAPH = re.compile(r"\S(?:.*?\S)??(?=[ \t]*\n[ \t]*\n|\s*\Z)", re.DOTALL)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0].strip()


def paragraphs(text: str) -> list[Span]:
    """The text's paragraphs (runs of lines between blank lines), with where each lies."""
    return [Span(m.start(), m.end(), m.group()) for m in _PARAGRAPH.finditer(text)]


def holds(text: str, paragraph: str) -> bool:
    """The text already has the paragraph (by its first line, as the drafting core tells)."""
    lines = [line.strip() for line in paragraph.strip().splitlines() if line.strip()]
    return bool(lines) and lines[0] in text


def _where(spans: Sequence[Span], first_line: str) -> Span | None:
    return next((s for s in spans if s.first_line == first_line), None)


def add_paragraph(edited: str, fresh: str, paragraph: str) -> str:
    """`edited` with `paragraph` where `fresh` (the draft as written now, holding it) has it:
    before the first paragraph that follows it in `fresh` and is still in `edited` (the
    sign-off, usually), else after the nearest one before it that is, else at the end."""
    paragraph = paragraph.strip()
    fresh_spans = paragraphs(fresh)
    added = paragraphs(paragraph)
    texts = [s.text.strip() for s in fresh_spans]
    size = len(added)
    at = next(
        (
            i
            for i in range(len(texts) - size + 1)
            if texts[i : i + size] == [a.text.strip() for a in added]
        ),
        None,
    )
    kept = paragraphs(edited)
    if at is not None:
        for following in fresh_spans[at + size :]:
            found = _where(kept, following.first_line)
            if found is not None:
                return f"{edited[: found.start]}{paragraph}\n\n{edited[found.start :]}"
        for preceding in reversed(fresh_spans[:at]):
            found = _where(kept, preceding.first_line)
            if found is not None:
                return f"{edited[: found.end]}\n\n{paragraph}{edited[found.end :]}"
    body = edited.rstrip()
    return f"{body}\n\n{paragraph}\n" if body else f"{paragraph}\n"
