"""Fitting and measuring heads: plain functions over texts, vectors and labels (no database).

Metrics are what a supervisor needs to trust a model: accuracy and macro F1 on examples the
model did not see, the classes it gets wrong most and the pairs it confuses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from responder.classify.head_params import HeadParams
from responder.classify.predict import UNKNOWN, predictions_from

if TYPE_CHECKING:  # scikit-learn is imported by what fits or scores, not by what imports this
    from responder.classify.head import TextHead

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    macro_f1: float
    count: int
    worst_classes: list[tuple[str, float, int]]  # label, F1, support
    confused_pairs: list[tuple[str, str, int]]  # expected, predicted, count
    in_scope_accuracy: float | None = None
    out_of_scope_recall: float | None = None
    unknown_rate: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    per_class: list[tuple[str, float, int]] = field(default_factory=list)  # label, F1, support

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "count": self.count,
            "unknown_rate": round(self.unknown_rate, 4),
            "worst_classes": [[c, round(f, 4), n] for c, f, n in self.worst_classes],
            "confused_pairs": [list(p) for p in self.confused_pairs],
            "per_class": [[c, round(f, 4), n] for c, f, n in self.per_class],
        }
        if self.in_scope_accuracy is not None:
            found["in_scope_accuracy"] = round(self.in_scope_accuracy, 4)
            found["out_of_scope_recall"] = round(self.out_of_scope_recall or 0.0, 4)
        found.update({k: round(v, 4) for k, v in self.extra.items()})
        return found

    def lines(self) -> list[str]:
        """The stable `key: value` output of `responder eval` and `responder train`."""
        out = [f"accuracy: {self.accuracy:.4f}", f"macro_f1: {self.macro_f1:.4f}"]
        if self.in_scope_accuracy is not None:
            out.append(f"in_scope_accuracy: {self.in_scope_accuracy:.4f}")
            out.append(f"out_of_scope_recall: {(self.out_of_scope_recall or 0.0):.4f}")
        out.append(f"examples: {self.count}")
        out.append(f"unknown_rate: {self.unknown_rate:.4f}")
        for label, f1, support in self.worst_classes:
            out.append(f"worst_class: {label} f1={f1:.4f} n={support}")
        for expected, predicted, count in self.confused_pairs:
            out.append(f"confused: {expected} -> {predicted} x{count}")
        return out


def fit_head(
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    params: HeadParams | None = None,
) -> TextHead:
    from responder.classify.head import TextHead

    return TextHead(params).fit(texts, vectors, labels)


def evaluate(
    expected: Sequence[str],
    predicted: Sequence[str],
    out_of_scope_label: str | None = None,
    worst: int = 5,
) -> Evaluation:
    """Scores predictions; rows labelled `out_of_scope_label` are expected back as `unknown`."""
    from sklearn.metrics import accuracy_score, f1_score

    wanted = [
        UNKNOWN if out_of_scope_label is not None and e == out_of_scope_label else e
        for e in expected
    ]
    labels = sorted(set(wanted) | (set(predicted) - {UNKNOWN}))
    per_class = f1_score(wanted, predicted, labels=labels, average=None, zero_division=0)
    support = Counter(wanted)
    scored = [(label, float(f), support[label]) for label, f in zip(labels, per_class, strict=True)]
    scored = [s for s in scored if s[2] > 0]
    in_scope = [lab for lab in labels if lab != UNKNOWN and support[lab] > 0]
    macro = float(np.mean([f for label, f, _ in scored if label in in_scope])) if in_scope else 0.0
    confusions = Counter((e, p) for e, p in zip(wanted, predicted, strict=True) if e != p)
    in_scope_accuracy = out_of_scope_recall = None
    if out_of_scope_label is not None:
        pairs = list(zip(wanted, predicted, strict=True))
        inside = [(e, p) for e, p in pairs if e != UNKNOWN]
        outside = [(e, p) for e, p in pairs if e == UNKNOWN]
        in_scope_accuracy = sum(e == p for e, p in inside) / len(inside) if inside else 0.0
        out_of_scope_recall = (
            sum(p == UNKNOWN for _, p in outside) / len(outside) if outside else 0.0
        )
    return Evaluation(
        accuracy=float(accuracy_score(wanted, predicted)) if wanted else 0.0,
        macro_f1=macro,
        count=len(wanted),
        worst_classes=sorted(scored, key=lambda s: (s[1], s[0]))[:worst],
        confused_pairs=[(e, p, n) for (e, p), n in confusions.most_common(worst)],
        in_scope_accuracy=in_scope_accuracy,
        out_of_scope_recall=out_of_scope_recall,
        unknown_rate=sum(p == UNKNOWN for p in predicted) / len(predicted) if predicted else 0.0,
        per_class=scored,
    )


def predict_labels(
    head: TextHead, texts: Sequence[str], vectors: np.ndarray, threshold: float
) -> list[str]:
    probabilities = head.predict_proba(texts, vectors)
    return [p.label for p in predictions_from(probabilities, head.classes_, threshold)]


#: The share of examples a held-out measure keeps back to score on (stratified: each label's).
HELD_OUT = 0.2


def holdout_evaluation(
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    threshold: float,
    params: HeadParams | None = None,
    test_size: float = HELD_OUT,
    seed: int = 0,
) -> Evaluation:
    """Trains on a stratified part and scores the rest: how the model does on unseen text."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(texts))
    train, test = train_test_split(index, test_size=test_size, random_state=seed, stratify=labels)
    head = fit_head([texts[i] for i in train], vectors[train], [labels[i] for i in train], params)
    predicted = predict_labels(head, [texts[i] for i in test], vectors[test], threshold)
    return evaluate([labels[i] for i in test], predicted)


def cross_validated_accuracy(
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str],
    folds: int = 5,
    params: HeadParams | None = None,
    progress: Progress | None = None,
    seed: int = 0,
) -> float:
    """Mean accuracy over stratified folds, without the unknown threshold (pure labelling)."""
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for number, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels), 1):
        head = fit_head(
            [texts[i] for i in train], vectors[train], [labels[i] for i in train], params
        )
        predicted = predict_labels(head, [texts[i] for i in test], vectors[test], 0.0)
        scores.append(accuracy_score([labels[i] for i in test], predicted))
        if progress:
            progress(f"cross-validation fold {number}/{folds}: {scores[-1]:.4f}")
    return float(np.mean(scores))
