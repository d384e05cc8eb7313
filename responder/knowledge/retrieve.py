"""Snippet retrieval by meaning, nudged by the predicted intent and filtered by the customer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    tags: tuple[str, ...] = ()

    @property
    def embedding_text(self) -> str:
        """What is embedded for a snippet: title and body (adding the tags measured worse)."""
        return f"{self.title}. {self.body}"


@dataclass(frozen=True)
class ScoredSnippet:
    snippet: IndexedSnippet
    score: float
    similarity: float


def intent_weights(classification: Mapping[str, object] | None) -> dict[str, float]:
    """The classifier's label probabilities from Message.classification (empty when absent)."""
    intent = (classification or {}).get("intent")
    candidates = intent.get("candidates", []) if isinstance(intent, Mapping) else []
    return {str(label): float(p) for label, p in candidates}


def restrictions(filters: Mapping[str, object], plan: str, tier: str, today: date) -> list[str]:
    """Why a snippet is not for this customer on `today`, in words ("Best tier only", "ended 31
    Mar 2026"); empty when it applies. Drafting leaves such a snippet out (retrieved, or the
    one an action the agent picks adds, flagged with why), and the editor's insert list shows
    it marked, never ready to insert: one rule for all."""
    reasons = []
    plans, tiers = _names(filters, "plans"), _names(filters, "tiers")
    if plans and plan not in plans:
        reasons.append(f"{' or '.join(plans)} plan{'s' if len(plans) > 1 else ''} only")
    if tiers and tier not in tiers:
        reasons.append(f"{' or '.join(tiers)} tier only")
    start, end = filters.get("valid_from"), filters.get("valid_until")
    if start and today < (first := date.fromisoformat(str(start))):
        reasons.append(f"starts {_day(first)}")
    if end and today > (last := date.fromisoformat(str(end))):
        reasons.append(f"ended {_day(last)}")
    return reasons


def _names(filters: Mapping[str, object], key: str) -> list[str]:
    value = filters.get(key)
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def rank_snippets(
    query: np.ndarray,
    snippets: Sequence[IndexedSnippet],
    vectors: np.ndarray,
    *,
    intent: str | None,
    intent_weights: Mapping[str, float] | None = None,
    plan: str = "",
    tier: str = "",
    today: date | None = None,
    top_k: int = 3,
    min_score: float = 0.0,
) -> list[ScoredSnippet]:
    """Cosine similarity plus a bonus for snippets written for the message's intent.

    The bonus is INTENT_BONUS times the classifier's probability for the best of the snippet's
    intents (`intent_weights`, label -> probability), so a hesitant classifier nudges less and
    a runner-up intent still counts; without weights the predicted intent counts fully.
    """
    if not snippets:
        return []
    today = today or date.today()
    weights = dict(intent_weights or {})
    if intent and not weights:
        weights[intent] = 1.0
    similarities = vectors @ query
    scored = []
    for snippet, similarity in zip(snippets, similarities, strict=True):
        if restrictions(snippet.filters, plan, tier, today):
            continue
        bonus = INTENT_BONUS * max((weights.get(i, 0.0) for i in snippet.intents), default=0.0)
        score = float(similarity) + bonus
        if score >= min_score:
            scored.append(ScoredSnippet(snippet, round(score, 4), round(float(similarity), 4)))
    scored.sort(key=lambda s: -s.score)
    return scored[:top_k]
