"""`responder train`, `eval` and `classify`: their output is read by staff and by scripts, so
the `key: value` lines stay stable. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from responder.classify.definitions import DefinitionError, read_examples_csv
from responder.classify.embedder import Embedder
from responder.classify.message import classify_texts
from responder.classify.service import train_named
from responder.classify.store import active_model, load_classifier
from responder.classify.training import Progress, evaluate
from responder.config import Settings
from responder.db.session import transaction


def embed_with_progress(
    embedder: Embedder, texts: Sequence[str], say: Progress, chunk: int = 512
) -> np.ndarray:
    """Embeds in chunks, reporting as it goes (the embedder caches, so training reuses these)."""
    parts = []
    started = time.perf_counter()
    for start in range(0, len(texts), chunk):
        parts.append(embedder.encode(texts[start : start + chunk]))
        done = min(start + chunk, len(texts))
        if len(texts) > chunk:
            say(f"embedded {done}/{len(texts)} ({time.perf_counter() - started:.0f}s)")
    return np.concatenate(parts) if parts else embedder.encode([])


def train(settings: Settings, name: str, examples: str | None, progress: Progress) -> int:
    from responder.bootstrap import prepare

    rt = prepare(settings)
    csv_path = Path(examples) if examples else None
    try:
        if csv_path is not None:
            texts = [e.text for e in read_examples_csv(csv_path)]
            embed_with_progress(rt.embedder, texts, progress)
        with transaction(rt.factory) as session:
            result = train_named(
                session,
                rt.embedder,
                settings.path(settings.classify.definitions_dir),
                name,
                examples_csv=csv_path,
                cross_validate=csv_path is None,
                progress=progress,
            )
            model = result.model
            print(f"model: {model.name} version {model.version} (id {model.id}, active)")
            print(f"trained_on: {model.training_set['count']} examples")
            print(f"threshold: {model.threshold:.2f}")
            holdout = model.metrics.get("holdout", {})
            print(f"holdout_accuracy: {holdout.get('accuracy', 0.0):.4f}")
            print(f"holdout_macro_f1: {holdout.get('macro_f1', 0.0):.4f}")
            for label, f1, support in holdout.get("worst_classes", []):
                print(f"holdout_worst_class: {label} f1={f1:.4f} n={support}")
            if result.cross_validated_accuracy is not None:
                print(f"cross_validated_accuracy: {result.cross_validated_accuracy:.4f}")
    except (DefinitionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def evaluate_file(
    settings: Settings,
    name: str,
    data: str,
    out_of_scope_label: str | None,
    progress: Progress,
) -> int:
    from responder.bootstrap import prepare

    rt = prepare(settings)
    with rt.factory() as session:
        model = active_model(session, name)
        classifier = load_classifier(model) if model is not None else None
    if classifier is None:
        print(
            f"error: no trained model for {name!r}: run `responder train {name}`", file=sys.stderr
        )
        return 1
    try:
        rows = read_examples_csv(Path(data))
    except DefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    texts = [r.text for r in rows]
    started = time.perf_counter()
    vectors = embed_with_progress(rt.embedder, texts, progress)
    predicted = [p.label for p in classifier.predict(texts, vectors)]
    seconds = time.perf_counter() - started
    report = evaluate([r.label for r in rows], predicted, out_of_scope_label)
    progress(f"{name} version {classifier.version}: {len(rows)} rows in {seconds:.1f}s")
    for line in report.lines():
        print(line)
    return 0


def classify_text(settings: Settings, text: str) -> int:
    from responder.bootstrap import prepare

    rt = prepare(settings)
    names = rt.settings.classify.pipeline
    vectors = rt.embedder.encode([text])
    (result,) = classify_texts(
        rt.classifiers(names),
        rt.language_identifier,
        [text],
        vectors,
        settings.classify.intent_threshold,
    )
    for name, prediction in result.predictions.items():
        others = ", ".join(f"{label} {p:.4f}" for label, p in prediction.scores[1:3])
        print(f"{name}: {prediction.label} {prediction.confidence:.4f} (next: {others})")
    print(f"language: {result.language.code or 'unknown'} {result.language.confidence:.4f}")
    return 0
