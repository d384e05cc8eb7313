"""The templates and snippets page narrowed by words: a supervisor looking for "the cruise one"
among fifty snippets types a word of its title, tags, id or text."""

from __future__ import annotations

from collections.abc import Iterable

from responder.search_fold import fold


def words_of(query: str | None) -> list[str]:
    return fold(query or "").split()


def matches(words: list[str], texts: Iterable[object]) -> bool:
    """Every word appears somewhere in the texts (capitals and accents aside)."""
    if not words:
        return True
    haystack = fold(" ".join(str(t) for t in texts if t))
    return all(word in haystack for word in words)
