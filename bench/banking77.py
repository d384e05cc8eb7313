"""Banking77 intent detection with the production classifier head.

Data: ../shared/data/banking77 (PolyAI task-specific-datasets, CC BY 4.0; Casanueva et al.,
"Efficient Intent Detection with Dual Sentence Encoders", NLP4ConvAI 2020).

- accuracy_full: the production head (responder.classify.head.TextHead: char TF-IDF joined with
  frozen all-MiniLM-L6-v2 embeddings, calibrated linear SVM) trained on all of train.csv,
  scored on test.csv: what `responder train NAME --examples train.csv` then
  `responder eval NAME --data test.csv` reproduce.
- accuracy_10shot: 10 examples per label (mean of 5 seeded draws from train.csv); the encoder is
  first fine-tuned contrastively on those examples (responder.classify.contrastive), then a
  logistic regression is fitted on the tuned embeddings alone (on a validation split, with ten
  examples per label the n-gram features and the 3-fold calibration of the production head cost
  1-3 points). accuracy_10shot_frozen is the same draws without fine-tuning.
- train_seconds (full: embedding + fit) and predictions_per_second (test set, embedding
  included, no cache) on this machine.

`--validate` holds out 20% of train.csv and reports the same figures on it instead of the test
set: choices are made there, never on test. `--draws N` and `--steps N` shorten a run.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from responder.classify.contrastive import fine_tune  # noqa: E402
from responder.classify.embedder import Embedder, packaged_model_path  # noqa: E402
from responder.classify.head import TextHead  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "banking77"


def read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def accuracy(head: TextHead, texts: list[str], vectors: np.ndarray, labels: list[str]) -> float:
    probabilities = head.predict_proba(texts, vectors)
    predicted = [head.classes_[i] for i in probabilities.argmax(axis=1)]
    return float(np.mean([p == y for p, y in zip(predicted, labels, strict=True)]))


def few_shot_accuracy(
    vectors: np.ndarray, labels: list[str], test_vectors: np.ndarray, test_labels: list[str]
) -> float:
    """Logistic regression on unit embeddings: the few-shot head chosen on validation."""
    model = LogisticRegression(C=100.0, max_iter=3000).fit(vectors, labels)
    return float(np.mean(model.predict(test_vectors) == np.asarray(test_labels)))


def draw(labels: list[str], shots: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    return sorted(i for label in sorted(by_label) for i in rng.sample(by_label[label], shots))


def say(line: str) -> None:
    print(f"# {line}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--validate", action="store_true", help="score on 20%% of train, not test")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200, help="contrastive steps per draw")
    parser.add_argument("--labels-per-step", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--skip-full", action="store_true")
    args = parser.parse_args()

    train_texts, train_labels = read(DATA / "train.csv")
    if args.validate:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(train_texts))
        kept, held = train_test_split(index, test_size=0.2, random_state=0, stratify=train_labels)
        test_texts = [train_texts[i] for i in held]
        test_labels = [train_labels[i] for i in held]
        train_texts = [train_texts[i] for i in kept]
        train_labels = [train_labels[i] for i in kept]
        print("split: validation (20% of train.csv)")
    else:
        test_texts, test_labels = read(DATA / "test.csv")
        print("split: test")

    embedder = Embedder()
    embedder.encode(["warm up"])
    if not args.skip_full:
        started = time.perf_counter()
        train_vectors = embedder.encode(train_texts)
        say(f"embedded {len(train_texts)} train texts")
        head = TextHead().fit(train_texts, train_vectors, train_labels)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        test_vectors = embedder.encode(test_texts)
        full = accuracy(head, test_texts, test_vectors, test_labels)
        per_second = len(test_texts) / (time.perf_counter() - started)
        print(f"accuracy_full: {full:.4f}", flush=True)
        print(f"train_seconds: {train_seconds:.1f}", flush=True)
        print(f"predictions_per_second: {per_second:.1f}", flush=True)
    else:
        test_vectors = embedder.encode(test_texts)

    frozen, tuned = [], []
    for seed in range(args.draws):
        chosen = draw(train_labels, args.shots, seed)
        texts = [train_texts[i] for i in chosen]
        labels = [train_labels[i] for i in chosen]
        frozen.append(few_shot_accuracy(embedder.encode(texts), labels, test_vectors, test_labels))
        started = time.perf_counter()
        model = fine_tune(
            packaged_model_path(),
            texts,
            labels,
            steps=args.steps,
            labels_per_step=args.labels_per_step,
            learning_rate=args.learning_rate,
            seed=seed,
        )
        tuned_seconds = time.perf_counter() - started

        def encode(batch: list[str], model: object = model) -> np.ndarray:
            return model.encode(batch, batch_size=64, normalize_embeddings=True)  # type: ignore[attr-defined]

        tuned.append(few_shot_accuracy(encode(texts), labels, encode(test_texts), test_labels))
        say(
            f"draw {seed}: frozen {frozen[-1]:.4f}, fine-tuned {tuned[-1]:.4f} "
            f"(tuning {tuned_seconds:.0f}s)"
        )
    if tuned:
        print(f"accuracy_10shot: {np.mean(tuned):.4f}")
        print(f"accuracy_10shot_frozen: {np.mean(frozen):.4f}")
        print(f"accuracy_10shot_draws: {' '.join(f'{a:.4f}' for a in tuned)}")


if __name__ == "__main__":
    main()
