"""Finding an approved answer by words while editing a draft: every word must appear (in the
title, key, tags or text); title and tag hits rank above text hits. Plain words, not embeddings:
the agent types what they remember of the answer, and the web process need not load a model."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

_WORD = re.compile(r"\w+", re.UNICODE)


class SearchableSnippet(Protocol):
    key: str
    title: str
    tags: list
    language: str
    body: str


S = TypeVar("S", bound=SearchableSnippet)


def query_words(query: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(query)][:12]


def search_snippets(
    snippets: Sequence[S], query: str, language: str | None = None, limit: int = 10
) -> list[S]:
    words = query_words(query)
    if not words:
        return []
    scored: list[tuple[int, str, S]] = []
    for snippet in snippets:
        if language and snippet.language != language:
            continue
        heading = f"{snippet.title} {snippet.key} {' '.join(map(str, snippet.tags))}".casefold()
        body = snippet.body.casefold()
        if not all(w in heading or w in body for w in words):
            continue
        score = sum(3 * heading.count(w) + body.count(w) for w in words)
        scored.append((-score, snippet.title.casefold(), snippet))
    scored.sort(key=lambda item: item[:2])
    return [snippet for _, _, snippet in scored[:limit]]
