"""Trained models in the database: versioned per classifier name, one active at a time.

Each version keeps its metrics, the training set it was fitted on (example ids when they came
from the database, and the rows themselves) and the serialized head, so any version can be
inspected, reactivated or compared later.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from responder.classify.embedder import Embedder
from responder.classify.head_params import KIND, HeadParams
from responder.classify.predict import LoadedClassifier
from responder.classify.training import Progress, fit_head, holdout_evaluation
from responder.db.models import ClassifierExample, ClassifierModel
from responder.db.row_locks import lock_rows

if TYPE_CHECKING:
    from responder.classify.head import TextHead


@dataclass(frozen=True)
class TrainingRow:
    text: str
    label: str
    example_id: int | None = None


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class _Fitted:
    head: bytes
    classes: tuple[str, ...]
    holdout: dict[str, Any] | None


# Fitting is deterministic: the same rows and parameters give the same head, so a process that
# trains the same seed examples again (a second database, a test) reuses the fit.
_FITTED: OrderedDict[str, _Fitted] = OrderedDict()


def _fingerprint(
    model_path: str,
    texts: Sequence[str],
    labels: Sequence[str],
    threshold: float,
    params: HeadParams | None,
    holdout: bool,
) -> str:
    payload = json.dumps(
        [
            KIND,
            model_path,
            repr(params or HeadParams()),
            holdout,
            threshold if holdout else None,  # the threshold only shows in held-out metrics
            list(texts),
            list(labels),
        ]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def active_examples(session: Session, name: str) -> list[TrainingRow]:
    rows = session.execute(
        select(ClassifierExample.id, ClassifierExample.text, ClassifierExample.label)
        .where(ClassifierExample.classifier == name, ClassifierExample.status == "active")
        .order_by(ClassifierExample.id)
    ).all()
    return [TrainingRow(text=r.text, label=r.label, example_id=r.id) for r in rows]


def active_model(session: Session, name: str) -> ClassifierModel | None:
    return session.scalar(
        select(ClassifierModel)
        .where(ClassifierModel.name == name, ClassifierModel.active.is_(True))
        .order_by(ClassifierModel.version.desc())
        .limit(1)
    )


def active_model_ids(session: Session, names: Sequence[str]) -> dict[str, int]:
    rows = session.execute(
        select(ClassifierModel.name, func.max(ClassifierModel.id))
        .where(ClassifierModel.name.in_(list(names)), ClassifierModel.active.is_(True))
        .group_by(ClassifierModel.name)
    ).all()
    return {str(name): int(model_id) for name, model_id in rows}


@lru_cache(maxsize=16)
def _stored_head(blob: bytes) -> TextHead:
    """A stored head unpickled once per process: joblib unpickles in Python, a tenth of a
    second for the three heads, which every runtime loading the same models paid again (each
    web process's pages beside its worker; each of the test suite's runtimes). A head is only
    read once trained, so runtimes share it as a runtime's threads already do."""
    from responder.classify.head import TextHead

    return TextHead.from_bytes(blob)


def load_classifier(model: ClassifierModel) -> LoadedClassifier:
    return LoadedClassifier(
        model_id=model.id,
        name=model.name,
        version=model.version,
        threshold=float(model.threshold),
        head=_stored_head(bytes(model.head)),
    )


def lock_versions(session: Session, name: str) -> None:
    """Every version of `name` locked until the transaction ends, always in the same order:
    two activations of one classifier at the same moment queue (the second then reads what the
    first made active) instead of deadlocking."""
    lock_rows(session, ClassifierModel.active, ClassifierModel.name == name)


def activate(session: Session, model_id: int) -> ClassifierModel:
    """Makes this version the one in use; the others of the same name step down."""
    model = session.get(ClassifierModel, model_id)
    if model is None:
        raise ModelNotFound(f"no classifier model {model_id}")
    lock_versions(session, model.name)
    session.execute(
        update(ClassifierModel)
        .where(ClassifierModel.name == model.name, ClassifierModel.id != model.id)
        .values(active=False)
    )
    model.active = True
    session.flush()
    return model


def train_and_store(
    session: Session,
    embedder: Embedder,
    name: str,
    rows: Sequence[TrainingRow],
    *,
    threshold: float,
    source: str,
    created_by: str,
    params: HeadParams | None = None,
    holdout: bool = True,
    progress: Progress | None = None,
    extra_metrics: dict[str, Any] | None = None,
    make_active: bool = True,
) -> ClassifierModel:
    """Embeds, measures on a held-out split, fits on everything, stores and (unless told not
    to, as a retrain awaiting a supervisor's decision is) activates."""
    say = progress or (lambda _line: None)
    if not rows:
        raise ValueError(f"classifier {name!r} has no examples to train on")
    texts = [r.text for r in rows]
    labels = [r.label for r in rows]
    key = _fingerprint(embedder.model_path, texts, labels, threshold, params, holdout)
    if key in _FITTED:
        say("the same examples were trained in this process: reusing that fit")
        fitted = _FITTED[key]
    else:
        say(f"embedding {len(texts)} examples")
        vectors = embedder.encode(texts)
        evaluation = None
        if holdout:
            say("measuring on a held-out 20% split")
            evaluation = holdout_evaluation(texts, vectors, labels, threshold, params).as_json()
        say(f"fitting on all {len(texts)} examples")
        head = fit_head(texts, vectors, labels, params)
        fitted = _Fitted(head.to_bytes(), tuple(head.classes_), evaluation)
        _FITTED[key] = fitted
        while len(_FITTED) > 8:
            _FITTED.popitem(last=False)
    metrics: dict[str, Any] = {"holdout": fitted.holdout} if fitted.holdout else {}
    metrics.update(extra_metrics or {})
    version = (
        session.scalar(
            select(func.max(ClassifierModel.version)).where(ClassifierModel.name == name)
        )
        or 0
    ) + 1
    model = ClassifierModel(
        name=name,
        version=version,
        kind=KIND,
        threshold=threshold,
        labels=list(fitted.classes),
        metrics=metrics,
        training_set={
            "source": source,
            "count": len(rows),
            "example_ids": [r.example_id for r in rows if r.example_id is not None],
            "rows": [[r.text, r.label] for r in rows],
        },
        head=fitted.head,
        created_by=created_by,
    )
    session.add(model)
    session.flush()
    if make_active:
        activate(session, model.id)
        say(f"stored {name} version {version} (model {model.id}) and made it active")
    else:
        say(f"stored {name} version {version} (model {model.id}), not active")
    return model
