"""How far a reviewer can trust a draft, from the two things that can go wrong.

A draft is right when the intent is right (so the template fits) and the retrieved snippet
answers the question. The classifier's confidence is a probability (softmax over labels); the
top snippet's cosine similarity is not, so it is mapped linearly onto [0, 1] between the
retrieval floor (`drafting.snippet_min_score`: below it nothing is offered) and
SUPPORTED_SIMILARITY, from which the labelled demo set's top snippet was the right one. The two
are treated as independent and multiplied: a draft is only as good as its weaker half. A draft
with no usable snippet still has its template's own text, worth TEMPLATE_ONLY_SUPPORT; a draft
that failed to render has confidence 0.
"""

from __future__ import annotations

SUPPORTED_SIMILARITY = 0.6
TEMPLATE_ONLY_SUPPORT = 0.5


def retrieval_support(top_similarity: float | None, floor: float) -> float:
    if top_similarity is None:
        return TEMPLATE_ONLY_SUPPORT
    span = max(SUPPORTED_SIMILARITY - floor, 1e-6)
    return min(max((top_similarity - floor) / span, 0.0), 1.0)


def draft_confidence(
    intent_confidence: float | None, top_similarity: float | None, floor: float, *, failed: bool
) -> dict[str, float]:
    """The combined figure and its two parts, as recorded in the draft's grounding."""
    intent = float(intent_confidence or 0.0)
    support = retrieval_support(top_similarity, floor)
    combined = 0.0 if failed else intent * support
    return {
        "intent": round(intent, 4),
        "retrieval": round(support, 4),
        "combined": round(combined, 4),
    }
