"""Every classifier over a batch of texts in one pass: the embeddings and the n-gram counts
are computed once and shared by all heads; the language comes from the detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from responder.classify.language import DetectedLanguage, LanguageIdentifier
from responder.classify.predict import UNKNOWN, LoadedClassifier, Prediction

if TYPE_CHECKING:  # the n-gram counter needs scikit-learn, imported when a message is classified
    from responder.classify.ngrams import SharedNgrams

# One union vocabulary per set of active models; a new version makes a new key. Small: a worker
# holds one set, a few more while supervisors retrain.
_SHARED: dict[tuple[int, ...], SharedNgrams] = {}
_SHARED_KEPT = 4


def shared_ngrams(classifiers: Mapping[str, LoadedClassifier]) -> SharedNgrams:
    key = tuple(sorted(c.model_id for c in classifiers.values()))
    found = _SHARED.get(key)
    if found is None:
        from responder.classify.ngrams import SharedNgrams

        found = SharedNgrams([v for c in classifiers.values() for v in c.head.vectorizers()])
        while len(_SHARED) >= _SHARED_KEPT:
            _SHARED.pop(next(iter(_SHARED)), None)
        _SHARED[key] = found
    return found


def classification_text(subject: str, body: str) -> str:
    """What the classifiers read: the subject and the new part of the body, bounded."""
    return f"{subject}\n{body}"[:4000]


@dataclass(frozen=True)
class Classification:
    predictions: dict[str, Prediction]
    language: DetectedLanguage
    models: dict[str, int]  # classifier name -> model version used

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {name: p.as_json() for name, p in self.predictions.items()}
        found["language"] = self.language.as_json()
        found["models"] = dict(self.models)
        return found


def classify_texts(
    classifiers: Mapping[str, LoadedClassifier],
    languages: LanguageIdentifier,
    texts: Sequence[str],
    vectors: np.ndarray,
    intent_threshold: float = 0.0,
) -> list[Classification]:
    ngrams = shared_ngrams(classifiers).counts(texts)
    per_name = {name: c.predict(texts, vectors, ngrams) for name, c in classifiers.items()}
    if "intent" in per_name and intent_threshold > 0:
        per_name["intent"] = [
            replace(p, label=UNKNOWN) if p.confidence < intent_threshold else p
            for p in per_name["intent"]
        ]
    detected = languages.detect(texts)
    versions = {name: c.version for name, c in classifiers.items()}
    return [
        Classification(
            predictions={name: found[i] for name, found in per_name.items()},
            language=detected[i],
            models=versions,
        )
        for i in range(len(texts))
    ]
