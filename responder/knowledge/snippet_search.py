"""Finding an approved answer while editing a draft. First by words: every word must appear (in
the title, key, tags or text), title and tag hits above text hits, since the agent often types
what they remember of the answer. Then by meaning: what the agent typed may be the customer's
problem in other words ("someone hacked my account" for the snippet about a compromised
account), so snippets whose embedding is close to the query's follow, marked as related."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np

# Cosine similarity from which a snippet counts as related to the query (all-MiniLM-L6-v2 on the
# shipped snippets: unrelated words score 0.05-0.15, a paraphrase of a snippet's problem
# 0.35-0.7).
RELATED_FLOOR = 0.3

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


def related_snippets(
    similarities: np.ndarray,
    snippets: Sequence[S],
    language: str | None = None,
    exclude: Sequence[str] = (),
    limit: int = 5,
    floor: float = RELATED_FLOOR,
) -> list[tuple[S, float]]:
    """Snippets by similarity to the query (one figure per snippet, in order), best first."""
    skip = set(exclude)
    ranked = sorted(
        (
            (snippet, float(similarity))
            for snippet, similarity in zip(snippets, similarities, strict=True)
            if similarity >= floor
            and snippet.key not in skip
            and (not language or snippet.language == language)
        ),
        key=lambda pair: -pair[1],
    )
    return ranked[:limit]
