"""Retraining a classifier from the supervisor page: in the background, then a decision.

A job row holds the progress (so any web process can show it) and then the new version, which
is stored inactive: the supervisor compares its held-out metrics with the active model's and
activates or discards it. Training runs in a thread of the web process that started it; a job
that stops reporting (the process died) counts as failed, so a new retrain can start.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from responder.classify.definitions import ClassifierDefinition, DefinitionError
from responder.classify.embedder import Embedder
from responder.classify.service import definition_or_none, train_named
from responder.classify.store import activate, active_examples, active_model
from responder.classify.training import HELD_OUT, holdout_evaluation
from responder.db.models import (
    AuditEntry,
    ClassifierExample,
    ClassifierModel,
    ClassifierTrainingJob,
    utcnow,
)
from responder.db.row_locks import lock_rows
from responder.db.session import transaction

RUNNING, TRAINED, FAILED, ACTIVATED, DISCARDED = (
    "running",
    "trained",
    "failed",
    "activated",
    "discarded",
)
# A running job reports at least once per embedding chunk; silence this long means it died.
STALE_AFTER = timedelta(minutes=15)
EMBED_CHUNK = 64
# How far along each step of `train_named` is (its progress lines start with these words).
_STEP_PERCENT = {"the same examples": 90, "measuring": 75, "fitting": 88}

#: A label needs an example to learn from and one held out to score it on: with one left the
#: held-out split cannot be drawn (scikit-learn refuses), with none the new version lacks it.
MIN_PER_LABEL = 2

_THREADS: dict[int, threading.Thread] = {}


class RetrainError(Exception):
    """Refused: the message says why; `status_code` is what the web answers."""

    def __init__(self, message: str, status_code: int = 409) -> None:
        super().__init__(message)
        self.status_code = status_code


class LabelsLost(RetrainError):
    """Making this version active would leave labels no mail could be given: asked first."""

    def __init__(self, name: str, version: int, labels: list[str]) -> None:
        words = ", ".join(labels)
        super().__init__(
            f"version {version} of {name} has no {words} label, which the active version or "
            "the current examples have: made active, no mail would be given "
            f"{'it' if len(labels) == 1 else 'them'}"
        )
        self.version = version
        self.labels = labels


def wanted_labels(session: Session, name: str) -> set[str]:
    """The labels mail can be given now, or is to be taught: the active version's and those
    with an active example."""
    active = session.scalar(
        select(ClassifierModel.labels).where(
            ClassifierModel.name == name, ClassifierModel.active.is_(True)
        )
    )
    taught = session.scalars(
        select(ClassifierExample.label)
        .where(ClassifierExample.classifier == name, ClassifierExample.status == "active")
        .distinct()
    )
    return {str(label) for label in active or ()} | {str(label) for label in taught}


def lacking(labels: Iterable[Any] | None, wanted: set[str]) -> tuple[str, ...]:
    return tuple(sorted(wanted - {str(label) for label in labels or ()}))


def refuse_lost_labels(session: Session, model: ClassifierModel, lose_labels: bool) -> list[str]:
    """The labels mail can be given now that `model` lacks: LabelsLost unless `lose_labels`
    says to go ahead. Both ways a version becomes active (a retrain's Activate, Make active
    again) ask it, under their lock, against what is active then."""
    lost = list(lacking(model.labels, wanted_labels(session, model.name)))
    if lost and not lose_labels:
        raise LabelsLost(model.name, model.version, lost)
    return lost


@dataclass(frozen=True)
class ModelSummary:
    id: int
    version: int
    created_at: datetime
    created_by: str
    examples: int
    holdout: dict[str, Any]
    # Which rows it was fitted on: the held-out split is drawn from them, so two versions were
    # scored on the same held-out examples only when these are equal.
    rows_key: str = ""
    labels: tuple[str, ...] = ()

    @property
    def held_out(self) -> int:
        return int(self.holdout.get("count", 0))

    def same_split(self, other: ModelSummary | None) -> bool:
        return other is not None and bool(self.rows_key) and self.rows_key == other.rows_key

    @property
    def per_class(self) -> dict[str, tuple[float, int]]:
        return {str(c): (float(f), int(n)) for c, f, n in self.holdout.get("per_class", [])}


@dataclass(frozen=True)
class JobView:
    id: int
    classifier: str
    state: str
    stage: str
    percent: int
    error: str
    version: int | None
    started_by: str
    started_at: datetime
    new: ModelSummary | None = None
    current: ModelSummary | None = None
    labels: list[str] = field(default_factory=list)
    #: Labels the active version or the current examples have and the new version, awaiting a
    #: decision, lacks: activated, no mail would be given them any more (nor could agents
    #: correct a message to them). Activate asks first (`refuse_lost_labels`).
    missing: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def model(summary: ModelSummary | None) -> dict[str, Any] | None:
            if summary is None:
                return None
            return {
                "id": summary.id,
                "version": summary.version,
                "examples": summary.examples,
                "holdout": summary.holdout,
                "labels": list(summary.labels),
            }

        return {
            "id": self.id,
            "classifier": self.classifier,
            "state": self.state,
            "stage": self.stage,
            "percent": self.percent,
            "error": self.error,
            "version": self.version,
            "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
            "new": model(self.new),
            "current": model(self.current),
            "missing_labels": self.missing,
        }


def _summary(model: ClassifierModel | None) -> ModelSummary | None:
    if model is None:
        return None
    return ModelSummary(
        id=model.id,
        version=model.version,
        created_at=model.created_at,
        created_by=model.created_by,
        examples=int((model.training_set or {}).get("count", 0)),
        holdout=dict((model.metrics or {}).get("holdout") or {}),
        rows_key=_rows_key(model),
        labels=tuple(str(label) for label in model.labels or ()),
    )


def _rows_key(model: ClassifierModel) -> str:
    rows = (model.training_set or {}).get("rows") or []
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest() if rows else ""


def measure_active(session: Session, embedder: Embedder, name: str) -> None:
    """A version trained without a held-out measure (the one trained at first start) is measured
    now on its own training rows, and the figures are stored with it, so the supervisor can
    compare it with the new version instead of reading a dash."""
    model = active_model(session, name)
    if model is None or (model.metrics or {}).get("holdout"):
        return
    rows = (model.training_set or {}).get("rows") or []
    texts, labels = [str(r[0]) for r in rows], [str(r[1]) for r in rows]
    if not texts:
        return
    try:
        measured = holdout_evaluation(
            texts, embedder.encode(texts), labels, float(model.threshold)
        ).as_json()
    except ValueError:  # a label with a single example cannot be split: left unmeasured
        return
    model.metrics = {**(model.metrics or {}), "holdout": measured}


def _is_stale(job: ClassifierTrainingJob, now: datetime) -> bool:
    return job.state == RUNNING and now - job.updated_at > STALE_AFTER


def view(session: Session, job: ClassifierTrainingJob) -> JobView:
    new = session.get(ClassifierModel, job.model_id) if job.model_id else None
    current = _summary(active_model(session, job.classifier))
    stale = _is_stale(job, utcnow())
    labels = sorted(set(new.labels if new else []) | set(current.per_class if current else {}))
    return JobView(
        id=job.id,
        classifier=job.classifier,
        state=FAILED if stale else job.state,
        stage=job.stage,
        percent=job.percent,
        error="training stopped reporting (was the web process restarted?)" if stale else job.error,
        version=job.version,
        started_by=job.started_by,
        started_at=job.started_at,
        new=_summary(new),
        current=current,
        labels=labels,
        missing=list(lacking(new.labels, wanted_labels(session, job.classifier)))
        if new is not None and job.state == TRAINED
        else [],
    )


def job_view(session: Session, job_id: int) -> JobView:
    job = session.get(ClassifierTrainingJob, job_id)
    if job is None:
        raise RetrainError(f"training job {job_id} not found", 404)
    return view(session, job)


def latest_job(session: Session, name: str) -> JobView | None:
    job = session.scalar(
        select(ClassifierTrainingJob)
        .where(ClassifierTrainingJob.classifier == name)
        .order_by(ClassifierTrainingJob.id.desc())
        .limit(1)
    )
    return view(session, job) if job is not None else None


def current_model(session: Session, name: str) -> ModelSummary | None:
    return _summary(active_model(session, name))


def _audit(
    session: Session, actor: str, action: str, job: ClassifierTrainingJob, **detail: Any
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            object_type="classifier",
            object_id=job.classifier,
            detail={"job": job.id, **detail},
        )
    )


def _held_out_needs(labels: int) -> int:
    """The fewest examples whose held-out share and the rest can each hold every label once."""
    total = labels
    while math.ceil(HELD_OUT * total) < labels or total - math.ceil(HELD_OUT * total) < labels:
        total += 1
    return total


def check_examples(session: Session, name: str, definition: ClassifierDefinition | None) -> None:
    """Refuses (422) a retrain whose examples would drop a label or cannot be measured.

    The labels held to it are the definition's (without one, the active version's): a label
    taken out of the definition may lose its examples on purpose. Each needs MIN_PER_LABEL, not
    the definition's `min_examples`, which is the bar for the hand-written seed file: held to
    it, a label at that bar could not lose a wrong example before a retrain, the very thing a
    supervisor removes examples for. With no examples in the database the definition's file is
    trained on, which was held to its bar when it was read."""
    counts = {
        str(label): int(n)
        for label, n in session.execute(
            select(ClassifierExample.label, func.count())
            .where(ClassifierExample.classifier == name, ClassifierExample.status == "active")
            .group_by(ClassifierExample.label)
        )
    }
    if not counts:
        return
    model = active_model(session, name)
    expected = set(definition.labels) if definition else set(model.labels if model else ())
    short = {
        label: counts.get(label, 0)
        for label in sorted(expected | set(counts))
        if counts.get(label, 0) < MIN_PER_LABEL
    }
    if short:
        said = [f"{label} has {n or 'none'}" for label, n in short.items()]
        listed = ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]
        raise RetrainError(
            f"not retrained: each {name} label needs at least {MIN_PER_LABEL} examples (one to "
            f"learn from, one held out to score it); {listed}. Add examples to "
            f"{'them' if len(said) > 1 else 'it'} first: a version without a label never gives "
            "mail that label",
            422,
        )
    needed, total = _held_out_needs(len(counts)), sum(counts.values())
    if total < needed:
        raise RetrainError(
            f"not retrained: the {HELD_OUT:.0%} of examples held out to score the new version, "
            f"and the rest, must each hold an example of all {len(counts)} {name} labels: that "
            f"takes at least {needed} examples, and there are {total}",
            422,
        )


def start(session: Session, folder: Path, name: str, actor: str) -> ClassifierTrainingJob:
    """A job row for `name`, refused while another retrain of it runs or awaits a decision,
    or when its examples would drop a label."""
    try:
        definition = definition_or_none(folder, name)
    except DefinitionError as exc:
        raise RetrainError(str(exc), 422) from exc
    if definition is None and not active_examples(session, name):
        raise RetrainError(f"no classifier named {name!r}", 404)
    now = utcnow()
    for job in session.scalars(
        select(ClassifierTrainingJob).where(
            ClassifierTrainingJob.classifier == name,
            ClassifierTrainingJob.state.in_([RUNNING, TRAINED]),
        )
    ):
        if _is_stale(job, now):
            job.state, job.finished_at = FAILED, now
            job.error = "training stopped reporting (was the web process restarted?)"
        elif job.state == RUNNING:
            raise RetrainError(f"{name} is already being retrained (started by {job.started_by})")
        else:
            raise RetrainError(
                f"version {job.version} of {name} awaits a decision: activate or discard it first"
            )
    check_examples(session, name, definition)
    job = ClassifierTrainingJob(
        classifier=name, stage="waiting to start", started_by=actor, started_at=now, updated_at=now
    )
    session.add(job)
    session.flush()
    _audit(session, actor, "classifier.retrain", job)
    return job


def _report(factory: sessionmaker[Session], job_id: int, stage: str, percent: int | None) -> None:
    with transaction(factory) as session:
        job = session.get(ClassifierTrainingJob, job_id)
        if job is None:
            return
        job.stage = stage
        if percent is not None:
            job.percent = max(job.percent, min(percent, 99))
        job.updated_at = utcnow()


def run(factory: sessionmaker[Session], embedder: Embedder, folder: Path, job_id: int) -> None:
    """The training itself: embeds in chunks (reporting each), measures, fits, stores inactive."""
    with factory() as session:
        job = session.get(ClassifierTrainingJob, job_id)
        assert job is not None
        name, actor = job.classifier, job.started_by
        texts = [r.text for r in active_examples(session, name)]

    def say(line: str) -> None:
        if line.startswith("stored"):
            return  # said inside the storing transaction: SQLite allows one writer at a time
        step = next((p for word, p in _STEP_PERCENT.items() if line.startswith(word)), None)
        _report(factory, job_id, line, step)

    try:
        for begin in range(0, len(texts), EMBED_CHUNK):
            done = min(begin + EMBED_CHUNK, len(texts))
            embedder.encode(texts[begin:done])
            stage = f"embedded {done}/{len(texts)} examples"
            _report(factory, job_id, stage, 5 + 65 * done // len(texts))
        _report(factory, job_id, "measuring the active version", None)
        with transaction(factory) as session:
            measure_active(session, embedder, name)
        with transaction(factory) as session:
            # Examples removed while this job embedded are held to the same check as at start.
            check_examples(session, name, definition_or_none(folder, name))
            result = train_named(
                session, embedder, folder, name, created_by=actor, progress=say, make_active=False
            )
            job = session.get(ClassifierTrainingJob, job_id)
            assert job is not None
            job.state, job.percent, job.stage = TRAINED, 100, "trained: awaiting a decision"
            job.model_id, job.version = result.model.id, result.model.version
            job.metrics = dict(result.model.metrics or {})
            job.updated_at = job.finished_at = utcnow()
    except Exception as exc:  # any failure is shown on the page, never lost in a thread
        with transaction(factory) as session:
            job = session.get(ClassifierTrainingJob, job_id)
            if job is not None:
                said = str(exc) if isinstance(exc, RetrainError) else f"{type(exc).__name__}: {exc}"
                job.state, job.error = FAILED, said
                job.updated_at = job.finished_at = utcnow()
                _audit(session, "system", "classifier.retrain_failed", job, error=job.error)


def launch(
    factory: sessionmaker[Session], embedder: Embedder, folder: Path, name: str, actor: str
) -> int:
    """Records the job, then trains in a background thread; returns the job id at once."""
    with transaction(factory) as session:
        job_id = start(session, folder, name, actor).id
    thread = threading.Thread(
        target=run, args=(factory, embedder, folder, job_id), name=f"retrain-{name}", daemon=True
    )
    _THREADS[job_id] = thread
    thread.start()
    return job_id


def wait(job_id: int, timeout: float | None = None) -> bool:
    """For tests and scripts: True once the job's thread (in this process) has finished."""
    thread = _THREADS.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    if thread.is_alive():
        return False
    _THREADS.pop(job_id, None)
    return True


def _awaiting(session: Session, job_id: int) -> ClassifierTrainingJob:
    """The job, locked until the decision commits: of an Activate and a Discard of it at the
    same moment the second waits for the first, then finds it decided (read unlocked, a discard
    deleted the version an activate had just made active)."""
    lock_rows(session, ClassifierTrainingJob.updated_at, ClassifierTrainingJob.id == job_id)
    job = session.scalar(
        select(ClassifierTrainingJob)
        .where(ClassifierTrainingJob.id == job_id)
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise RetrainError(f"training job {job_id} not found", 404)
    if job.state in (ACTIVATED, DISCARDED):
        raise RetrainError(
            f"version {job.version} of {job.classifier} was already {job.state}: "
            "nothing was changed"
        )
    if job.state != TRAINED or job.model_id is None:
        raise RetrainError(f"training job {job_id} has no model awaiting a decision ({job.state})")
    return job


def activate_job(
    session: Session, job_id: int, actor: str, *, lose_labels: bool = False
) -> ClassifierModel:
    """The new version becomes the one classifying; the previous active one steps down.
    LabelsLost when it lacks a label mail can be given now, unless `lose_labels` says to go
    ahead: checked once the job is locked (no other version is made active while it awaits a
    decision)."""
    job = _awaiting(session, job_id)
    new = session.get(ClassifierModel, job.model_id, populate_existing=True)
    if new is None:
        raise RetrainError(f"training job {job_id} has no model awaiting a decision")
    lost = refuse_lost_labels(session, new, lose_labels)
    previous = active_model(session, job.classifier)
    model = activate(session, new.id)
    job.state, job.updated_at = ACTIVATED, utcnow()
    _audit(
        session,
        actor,
        "classifier.activate",
        job,
        version=model.version,
        previous=previous.version if previous else None,
        holdout=(model.metrics or {}).get("holdout"),
        **({"labels_lost": lost} if lost else {}),
    )
    return model


def discard_job(session: Session, job_id: int, actor: str) -> int:
    """Removes the new version (its metrics stay on the job row); the active one is untouched."""
    job = _awaiting(session, job_id)
    model = session.get(ClassifierModel, job.model_id)
    job.state, job.model_id, job.updated_at = DISCARDED, None, utcnow()
    session.flush()
    if model is not None:
        session.delete(model)
    _audit(session, actor, "classifier.discard", job, version=job.version)
    return int(job.version or 0)
