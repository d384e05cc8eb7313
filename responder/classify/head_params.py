"""What a head is and how it is fitted, apart from the head itself.

The store and the pages read these; importing scikit-learn (seconds) waits for a fit or a load.
"""

from __future__ import annotations

from dataclasses import dataclass

KIND = "char+word+embedding/svm/sigmoid-calibrated"


@dataclass(frozen=True)
class HeadParams:
    """Chosen on a validation split of Banking77's train set (bench/banking77.py)."""

    c: float = 0.5
    embedding_weight: float = 2.0
    char_ngrams: tuple[int, int] = (2, 5)
    word_ngrams: tuple[int, int] | None = (1, 2)
    word_weight: float = 1.0
    calibration_folds: int = 3
