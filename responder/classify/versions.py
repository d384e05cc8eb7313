"""A classifier's stored versions, and making an earlier one active again.

Every version keeps its head, so going back is only a switch of the active flag: the workers
read which version is active before each batch (`Runtime.classifiers`), as after a retrain's
Activate, and load the one named. Refused while a retrain awaits a decision, whose comparison is
made against the active version. A version without a label the active version or the current
examples have is made active only when asked to anyway: no mail would be given that label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.classify.retrain import (
    TRAINED,
    RetrainError,
    lacking,
    refuse_lost_labels,
    wanted_labels,
)
from responder.classify.store import activate, active_model, lock_versions
from responder.db.models import (
    AuditEntry,
    ClassifierModel,
    ClassifierTrainingJob,
)


@dataclass(frozen=True)
class StoredVersion:
    id: int
    version: int
    active: bool
    created_at: datetime
    created_by: str
    examples: int
    holdout: dict[str, Any]
    #: The new version of a retrain awaiting a decision: decided there, not here.
    awaiting: bool = False
    labels: tuple[str, ...] = ()
    #: Labels the active version or the current examples have and this version lacks.
    lacks: tuple[str, ...] = ()

    @property
    def accuracy(self) -> float | None:
        return self.holdout.get("accuracy")

    @property
    def macro_f1(self) -> float | None:
        return self.holdout.get("macro_f1")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "active": self.active,
            "awaiting_decision": self.awaiting,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "examples": self.examples,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "labels": list(self.labels),
            "missing_labels": list(self.lacks),
        }


def _awaiting_job(session: Session, name: str) -> ClassifierTrainingJob | None:
    return session.scalar(
        select(ClassifierTrainingJob)
        .where(ClassifierTrainingJob.classifier == name, ClassifierTrainingJob.state == TRAINED)
        .order_by(ClassifierTrainingJob.id.desc())
        .limit(1)
    )


def stored_versions(session: Session, name: str) -> list[StoredVersion]:
    """Newest first; the training rows and heads are left in the database (only the count of
    examples is read from the training set)."""
    job = _awaiting_job(session, name)
    wanted = wanted_labels(session, name)
    rows = session.execute(
        select(
            ClassifierModel.id,
            ClassifierModel.version,
            ClassifierModel.active,
            ClassifierModel.created_at,
            ClassifierModel.created_by,
            ClassifierModel.metrics,
            ClassifierModel.training_set["count"].as_integer(),
            ClassifierModel.labels,
        )
        .where(ClassifierModel.name == name)
        .order_by(ClassifierModel.version.desc())
    ).all()
    return [
        StoredVersion(
            id=model_id,
            version=version,
            active=bool(active),
            created_at=created_at,
            created_by=created_by or "",
            examples=int(count or 0),
            holdout=dict((metrics or {}).get("holdout") or {}),
            awaiting=job is not None and job.model_id == model_id,
            labels=tuple(str(label) for label in labels or ()),
            lacks=() if active else lacking(labels, wanted),
        )
        for model_id, version, active, created_at, created_by, metrics, count, labels in rows
    ]


def make_active_again(
    session: Session, name: str, model_id: int, actor: str, *, lose_labels: bool = False
) -> tuple[int, int]:
    """Version `model_id` of `name` becomes the one classifying; the active one steps down.
    Returns (that version, the one it replaced); audited as `classifier.activate`. LabelsLost
    when it lacks a label mail can be given now, unless `lose_labels` says to go ahead:
    checked under the versions' lock, against what is active then."""
    lock_versions(session, name)
    model = session.get(ClassifierModel, model_id, populate_existing=True)
    if model is None or model.name != name:
        raise RetrainError(f"{name} has no stored version with id {model_id}", 404)
    job = _awaiting_job(session, name)
    if job is not None:
        raise RetrainError(
            f"version {job.version} of {name} awaits a decision: activate or discard it first"
        )
    if model.active:
        raise RetrainError(f"version {model.version} of {name} is already active")
    lost = refuse_lost_labels(session, model, lose_labels)
    previous = active_model(session, name)
    activate(session, model.id)
    session.add(
        AuditEntry(
            actor=actor,
            action="classifier.activate",
            object_type="classifier",
            object_id=name,
            detail={
                "version": model.version,
                "previous": previous.version if previous else None,
                "made_active_again": True,
                "holdout": (model.metrics or {}).get("holdout"),
                **({"labels_lost": list(lost)} if lost else {}),
            },
        )
    )
    return model.version, previous.version if previous else 0
