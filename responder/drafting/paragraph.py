"""A paragraph added to a draft a person edited, where a freshly written draft would have it.

Plain text in, plain text out: the person's words stay exactly as they typed them; only the
paragraph and the blank lines around it are added.

Whether a text already holds a paragraph is judged on the whole paragraph, with spacing, line
breaks and case set aside: a person who kept its first line and rewrote the rest does not hold
it, nor does a different paragraph that opens the same way.
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


#: Closing words a person may sign off with, in the languages the templates are written in
#: (compared whole, case and trailing punctuation aside: "Thanks for writing" is no sign-off).
VALEDICTIONS = frozenset(
    {
        "all the best", "best", "best regards", "best wishes", "cheers", "kind regards",
        "many thanks", "regards", "sincerely", "take care", "thank you", "thanks",
        "warm regards", "warmest regards", "with thanks", "yours", "yours faithfully",
        "yours sincerely", "beste grüße", "freundliche grüße", "herzliche grüße",
        "liebe grüße", "mfg", "mit freundlichen grüßen", "viele grüße",
    }
)  # fmt: skip
#: A sign-off further from the end than this many non-blank lines is not the letter's own.
SIGNATURE_LINES = 6
_SHORT = 4  # words on a line of a signature block (a name, a title, "Thanks for everything,")


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _line_key(line: str) -> str:
    return _folded(line).rstrip(" ,.!:;")


def holds(text: str, paragraph: str) -> bool:
    """The text already has the whole paragraph (spacing, line breaks and case aside)."""
    wanted = _folded(paragraph)
    return bool(wanted) and wanted in _folded(text)


def _where(spans: Sequence[Span], first_line: str) -> Span | None:
    return next((s for s in spans if s.first_line == first_line), None)


def _sign_off_at(edited: str, closings: Sequence[str], signatures: Sequence[str]) -> int | None:
    """Where the sign-off and signature block at the end of `edited` starts, if one is known:
    the last closing line (`closings`, or a common valediction), else the first signature line
    (`signatures`: the configured signature, the template's closing) with the short lines
    above it in its paragraph (a name, the person's own "Thanks for everything,")."""
    lines = edited.splitlines(keepends=True)
    starts = [sum(len(line) for line in lines[:i]) for i in range(len(lines))]
    filled = [i for i, line in enumerate(lines) if line.strip()]
    tail = filled[-(SIGNATURE_LINES + 1) :]
    closing = {_line_key(c) for c in closings if c.strip()} | VALEDICTIONS
    signed = {_line_key(s) for s in signatures if s.strip()}
    found = [i for i in tail if _line_key(lines[i]) in closing]
    if found:
        return starts[found[-1]]
    signature = next((i for i in tail if _line_key(lines[i]) in signed), None)
    if signature is None:
        return None
    while signature > 0 and _opens_signature(lines[signature - 1]):
        signature -= 1
    return starts[signature]


def _opens_signature(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= _SHORT and not line.rstrip().endswith((".", "?"))


def _insert_at(edited: str, at: int, paragraph: str) -> str:
    """`paragraph` as a paragraph of its own just before the line starting at `at`."""
    head = edited[:at]
    gap = head[len(head.rstrip()) :].count("\n") if head.strip() else 2
    breaks = "\n" * max(0, 2 - gap)
    return f"{head}{breaks}{paragraph}\n\n{edited[at:]}"


def add_paragraph(edited: str, fresh: str, paragraph: str, sign_offs: Sequence[str] = ()) -> str:
    """`edited` with `paragraph` where `fresh` (the draft as written now, holding it) has it:
    before the first paragraph that follows it in `fresh` and is still in `edited` (the
    sign-off, usually), else after the nearest one before it that is, else before the
    sign-off and signature block `edited` ends with (its closing words and signature as
    `fresh` has them after the paragraph, a common valediction, or one of `sign_offs`, the
    configured signature lines), else at the end."""
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
    closing = fresh_spans[at + size :] if at is not None else []
    at_sign_off = _sign_off_at(
        edited,
        [s.first_line for s in closing],
        [*sign_offs, *(line for s in closing for line in s.text.splitlines()[1:])],
    )
    if at_sign_off is not None:
        return _insert_at(edited, at_sign_off, paragraph)
    body = edited.rstrip()
    return f"{body}\n\n{paragraph}\n" if body else f"{paragraph}\n"
