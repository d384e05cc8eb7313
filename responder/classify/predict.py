"""Predictions from a stored head: a label with its probability, or `unknown` below threshold.

`unknown` sends a message to a person without a template guess (drafting withholds the draft).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scikit-learn takes seconds to import; pages that show labels need none of it
    from responder.classify.head import TextHead
    from responder.classify.ngrams import NgramCounts

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    scores: tuple[tuple[str, float], ...]  # best first, at most five

    def as_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "candidates": [[label, round(p, 4)] for label, p in self.scores],
        }


@dataclass(frozen=True)
class LoadedClassifier:
    """The active model of one classifier, as a process holds it."""

    model_id: int
    name: str
    version: int
    threshold: float
    head: TextHead

    def predict(
        self, texts: Sequence[str], vectors: np.ndarray, ngrams: NgramCounts | None = None
    ) -> list[Prediction]:
        if not len(texts):
            return []
        return predictions_from(
            self.head.predict_proba(texts, vectors, ngrams), self.head.classes_, self.threshold
        )


def predictions_from(
    probabilities: np.ndarray, classes: Sequence[str], threshold: float
) -> list[Prediction]:
    found = []
    for row in probabilities:
        order = np.argsort(-row)[:5]
        ranked = tuple((str(classes[i]), float(row[i])) for i in order)
        label, confidence = ranked[0]
        found.append(
            Prediction(
                label=UNKNOWN if confidence < threshold else label,
                confidence=confidence,
                scores=ranked,
            )
        )
    return found
