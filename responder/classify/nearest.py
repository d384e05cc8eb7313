"""Nearest-example classification over unit vectors: the first, honest baseline.

Each label scores the mean cosine of its k most similar examples; the scores are turned into
a confidence with a softmax, so a message between two labels gets a low confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    scores: tuple[tuple[str, float], ...]  # best first


class NearestExampleClassifier:
    def __init__(self, k: int = 3, temperature: float = 0.05, threshold: float = 0.0) -> None:
        self.k = k
        self.temperature = temperature
        self.threshold = threshold
        self.labels: list[str] = []
        self._by_label: list[np.ndarray] = []

    def fit(self, vectors: np.ndarray, labels: Sequence[str]) -> NearestExampleClassifier:
        self.labels = sorted(set(labels))
        label_array = np.asarray(labels)
        self._by_label = [vectors[label_array == label] for label in self.labels]
        return self

    def predict(self, vectors: np.ndarray) -> list[Prediction]:
        if not self.labels:
            raise RuntimeError("classifier has no examples")
        per_label = []
        for examples in self._by_label:
            sims = vectors @ examples.T
            k = min(self.k, sims.shape[1])
            top = np.sort(sims, axis=1)[:, -k:]
            per_label.append(top.mean(axis=1))
        scores = np.stack(per_label, axis=1)
        logits = (scores - scores.max(axis=1, keepdims=True)) / self.temperature
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        predictions = []
        for row in probs:
            order = np.argsort(-row)
            ranked = tuple((self.labels[i], float(row[i])) for i in order[:5])
            label, confidence = ranked[0]
            if confidence < self.threshold:
                label = UNKNOWN
            predictions.append(Prediction(label=label, confidence=confidence, scores=ranked))
        return predictions
