"""Snippet retrieval by meaning, nudged by the predicted intent and filtered by the customer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

INTENT_BONUS = 0.15


@dataclass(frozen=True)
class IndexedSnippet:
    id: int
    key: str
    version: int
    title: str
    body: str
    intents: tuple[str, ...]
    language: str
    filters: dict[str, object]


@dataclass(frozen=True)
class ScoredSnippet:
    snippet: IndexedSnippet
    score: float
    similarity: float


def _applies(snippet: IndexedSnippet, plan: str, tier: str, today: date) -> bool:
    plans = snippet.filters.get("plans")
    if plans and plan not in plans:  # type: ignore[operator]
        return False
    tiers = snippet.filters.get("tiers")
    if tiers and tier not in tiers:  # type: ignore[operator]
        return False
    start, end = snippet.filters.get("valid_from"), snippet.filters.get("valid_until")
    if start and today < date.fromisoformat(str(start)):
        return False
    return not (end and today > date.fromisoformat(str(end)))


def rank_snippets(
    query: np.ndarray,
    snippets: Sequence[IndexedSnippet],
    vectors: np.ndarray,
    *,
    intent: str | None,
    plan: str = "",
    tier: str = "",
    today: date | None = None,
    top_k: int = 3,
    min_score: float = 0.0,
) -> list[ScoredSnippet]:
    """Cosine similarity plus a bonus for snippets written for the predicted intent."""
    if not snippets:
        return []
    today = today or date.today()
    similarities = vectors @ query
    scored = []
    for snippet, similarity in zip(snippets, similarities, strict=True):
        if not _applies(snippet, plan, tier, today):
            continue
        bonus = INTENT_BONUS if intent and intent in snippet.intents else 0.0
        score = float(similarity) + bonus
        if score >= min_score:
            scored.append(ScoredSnippet(snippet, round(score, 4), round(float(similarity), 4)))
    scored.sort(key=lambda s: -s.score)
    return scored[:top_k]
