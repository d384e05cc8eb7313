"""Supervisors curate classifier examples: add, move, remove, and accept or reject corrections.

Agents' corrections arrive as `candidate` examples; only `active` ones are trained on, so a
supervisor decides what the model learns. Every change is audit-logged with the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from responder.classify.titles import LabelTitles
from responder.config import QueueSettings
from responder.corrections import (
    accepted_example,
    current_label,
    follow_accepted,
    restore_after_rejection,
)
from responder.db.models import ClassifierExample, ClassifierModel, Message
from responder.review import ReviewError, audit


class ExampleError(ReviewError):
    pass


class CorrectionChanged(ExampleError):
    """An agent corrected the message again after the supervisor's page showed the candidate
    (the candidate row follows the newest correction): a decision taken on what the page
    showed would accept, or reject, a label the supervisor never saw. Its text names the label
    by its code; `said` words it for the page."""

    status_code = 409

    def __init__(self, classifier: str, label: str) -> None:
        super().__init__(self._words(label))
        self.classifier = classifier
        self.label = label

    @staticmethod
    def _words(label: str) -> str:
        return (
            f"the correction changed since this page showed it: it now says {label}; "
            "check it and decide again"
        )

    def said(self, titles: Callable[[object, str], str]) -> str:
        return self._words(titles(self.label, self.classifier))


@dataclass(frozen=True)
class ExampleView:
    id: int
    label: str
    text: str
    source: str
    created_by: str
    message_id: int | None
    # What the model said before the agent corrected it (label, confidence), when known.
    predicted: tuple[str, float | None] | None = None
    # The label of the example accepted from an earlier correction of the same message.
    accepted: str | None = None


def _view(
    row: ClassifierExample,
    predicted: tuple[str, float | None] | None = None,
    accepted: str | None = None,
) -> ExampleView:
    return ExampleView(
        row.id, row.label, row.text, row.source, row.created_by, row.message_id, predicted, accepted
    )


def _predicted(classification: Any, classifier: str) -> tuple[str, float | None] | None:
    """The model's own answer, kept under `predicted` once a person corrected the message."""
    found = (classification or {}).get(classifier)
    if not isinstance(found, dict):
        return None
    original = found.get("predicted", found) if found.get("corrected_by") else found
    if not isinstance(original, dict) or not original.get("label"):
        return None
    confidence = original.get("confidence")
    return str(original["label"]), float(confidence) if confidence is not None else None


def classifier_names(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(ClassifierExample.classifier).distinct())))


def labels(session: Session, classifier: str) -> dict[str, int]:
    """Active examples per label (labels that only have candidates, or only the active model
    knows, are listed with 0: a label whose last example was removed can be taught again, and a
    retrain refused for it names a label the page offers); counted by the database, since each
    new template or snippet checked at start asks it."""
    active = func.sum(case((ClassifierExample.status == "active", 1), else_=0))
    counts = session.execute(
        select(ClassifierExample.label, active)
        .where(ClassifierExample.classifier == classifier)
        .group_by(ClassifierExample.label)
    )
    found = {str(label): int(n) for label, n in counts}
    modelled = session.scalar(
        select(ClassifierModel.labels)
        .where(ClassifierModel.name == classifier, ClassifierModel.active.is_(True))
        .order_by(ClassifierModel.version.desc())
        .limit(1)
    )
    for label in modelled or ():
        found.setdefault(str(label), 0)
    return dict(sorted(found.items()))


def examples(
    session: Session, classifier: str, label: str, status: str = "active"
) -> list[ExampleView]:
    rows = session.scalars(
        select(ClassifierExample)
        .where(
            ClassifierExample.classifier == classifier,
            ClassifierExample.label == label,
            ClassifierExample.status == status,
        )
        .order_by(ClassifierExample.id)
    )
    return [_view(r) for r in rows]


def candidates(session: Session, classifier: str) -> list[ExampleView]:
    """Corrections waiting, each with what the model had said and the label an earlier
    correction of the message was accepted under, so a supervisor sees the change."""
    rows = session.execute(
        select(ClassifierExample, Message.classification)
        .outerjoin(Message, Message.id == ClassifierExample.message_id)
        .where(ClassifierExample.classifier == classifier, ClassifierExample.status == "candidate")
        .order_by(ClassifierExample.created_at.desc(), ClassifierExample.id.desc())
    ).all()
    messages = {row.message_id for row, _ in rows if row.message_id is not None}
    accepted: dict[int, str] = {}
    if messages:
        for message_id, label in session.execute(
            select(ClassifierExample.message_id, ClassifierExample.label)
            .where(
                ClassifierExample.classifier == classifier,
                ClassifierExample.status == "active",
                ClassifierExample.message_id.in_(messages),
            )
            .order_by(ClassifierExample.id)
        ):
            accepted.setdefault(message_id, label)  # the first, as `accepted_example` picks
    return [
        _view(
            row,
            _predicted(classification, classifier),
            accepted.get(row.message_id) if row.message_id is not None else None,
        )
        for row, classification in rows
    ]


def _known_label(session: Session, classifier: str, label: str) -> str:
    label = label.strip()
    if not label:
        raise ExampleError("choose a label")
    if label not in labels(session, classifier):
        raise ExampleError(f"{label!r} is not one of the {classifier} labels")
    return label


def _example(session: Session, example_id: int) -> ClassifierExample:
    row = session.get(ClassifierExample, example_id)
    if row is None:
        raise ExampleError(f"example {example_id} not found")
    return row


def add_example(
    session: Session, classifier: str, label: str, text: str, actor: str
) -> ClassifierExample:
    text = text.replace("\x00", "").strip()  # PostgreSQL text refuses NUL, as notes drop it
    if not text:
        raise ExampleError("the example text is empty")
    label = _known_label(session, classifier, label)
    row = ClassifierExample(
        classifier=classifier, label=label, text=text, source="supervisor", created_by=actor
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "example.add",
        "classifier_example",
        row.id,
        classifier=classifier,
        label=label,
        text=text,
    )
    return row


def move_example(session: Session, example_id: int, label: str, actor: str) -> ClassifierExample:
    row = _example(session, example_id)
    label = _known_label(session, row.classifier, label)
    previous, row.label = row.label, label
    audit(
        session,
        actor,
        "example.move",
        "classifier_example",
        row.id,
        classifier=row.classifier,
        previous=previous,
        label=label,
    )
    return row


def remove_example(session: Session, example_id: int, actor: str) -> None:
    row = _example(session, example_id)
    audit(
        session,
        actor,
        "example.remove",
        "classifier_example",
        row.id,
        classifier=row.classifier,
        label=row.label,
        text=row.text,
    )
    session.delete(row)


#: A decided correction in words, for a second decision on it.
DECIDED = {"active": "accepted", "merged": "accepted", "rejected": "rejected"}


def _candidate(session: Session, example_id: int, shown: str | None) -> ClassifierExample:
    """The correction to decide on, locked until the decision commits: a second decision on it
    at the same moment waits for the first, then finds it decided. `shown`: the label the
    supervisor's page showed (None: not known, nothing to compare)."""
    row = session.get(ClassifierExample, example_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise ExampleError(f"example {example_id} not found")
    if row.status != "candidate":
        decided = DECIDED.get(row.status, row.status)
        raise ExampleError(
            f"this correction was already {decided} (example {example_id}): nothing was changed"
        )
    if shown and row.label != shown:
        raise CorrectionChanged(row.classifier, row.label)
    return row


def accept_candidate(
    session: Session,
    example_id: int,
    actor: str,
    label: str | None = None,
    *,
    queue: QueueSettings | None = None,
    shown: str | None = None,
) -> tuple[ClassifierExample, str | None]:
    """The correction becomes a training example, optionally under another label, which the
    message then takes too (see `corrections.follow_accepted`; `queue` for an urgency's due
    time): the model must not learn one thing while the message says another. A message with
    an example accepted from an earlier correction keeps that one example, moved to this
    label: the same text is never an example of two labels (the candidate stays on record as
    `merged`). The example trained on, and the label it was moved from (None: no earlier
    example; the label itself: it already had it)."""
    row = _candidate(session, example_id, shown)
    if label:
        row.label = _known_label(session, row.classifier, label)
        if row.message_id is not None:
            follow_accepted(session, row.message_id, row.classifier, row.label, actor, queue=queue)
    earlier = accepted_example(session, row.classifier, row.message_id)
    kept = row if earlier is None else earlier
    previous = None if earlier is None else earlier.label
    row.status = "active" if earlier is None else "merged"
    if earlier is not None and earlier.label != row.label:
        earlier.label = row.label
        audit(
            session,
            actor,
            "example.move",
            "classifier_example",
            earlier.id,
            classifier=row.classifier,
            previous=previous,
            label=row.label,
            message=row.message_id,
            correction=row.id,
        )
    audit(
        session,
        actor,
        "example.accept",
        "classifier_example",
        row.id,
        classifier=row.classifier,
        label=row.label,
        message=row.message_id,
        **({} if earlier is None else {"example": earlier.id}),
    )
    return kept, previous


def acceptance_notice(
    row: ClassifierExample,
    moved_from: str | None,
    titles: Callable[[object, str], str] | None = None,
) -> str:
    """What a supervisor is told on accepting a correction (`row` and `moved_from` as
    `accept_candidate` answers): plainly accepted, or the message's earlier example moved."""
    if moved_from is None:
        return "Correction accepted as a training example."
    said = titles or LabelTitles()
    now = said(row.label, row.classifier)
    start = f"Correction accepted: message {row.message_id} already had a training example"
    if moved_from == row.label:
        return f"{start} under {now}, which stays its only one (none was added)."
    was = said(moved_from, row.classifier)
    return f"{start}, under {was}: it was moved to {now} rather than a second one added."


def reject_candidate(
    session: Session,
    example_id: int,
    actor: str,
    *,
    queue: QueueSettings | None = None,
    shown: str | None = None,
) -> tuple[ClassifierExample, str | None]:
    """Not a training example; the agent's correction the message still carries is taken back
    with it (see `corrections.restore_after_rejection`; `queue` for an urgency's due time).
    The row, and the label the message went back to (None: it was left as it is)."""
    row = _candidate(session, example_id, shown)
    row.status = "rejected"
    restored = None
    if row.source == "correction" and row.message_id is not None:
        restored = restore_after_rejection(
            session, row.message_id, row.classifier, row.label, actor, queue=queue
        )
    audit(
        session,
        actor,
        "example.reject",
        "classifier_example",
        row.id,
        classifier=row.classifier,
        label=row.label,
        message=row.message_id,
        restored=restored,
    )
    return row, restored


def rejection_notice(
    session: Session,
    row: ClassifierExample,
    restored: str | None,
    titles: Callable[[object, str], str] | None = None,
) -> str:
    """What a supervisor is told on rejecting a correction: what became of its message, in the
    terms of `corrections.restore_after_rejection` (back to its accepted example's label or
    the model's, or left as it is and why). `titles`: the labels in words (the app's
    `LabelTitles`; codes in words without)."""
    said = titles or LabelTitles()
    if row.source != "correction" or row.message_id is None:
        return "Correction rejected."
    message = session.get(Message, row.message_id)
    if message is None:
        return f"Correction rejected; message {row.message_id} is no longer there."
    start = f"Correction rejected: message {row.message_id}"
    accepted = accepted_example(session, row.classifier, row.message_id)
    if restored:
        back = said(restored, row.classifier)
        if accepted is not None and accepted.label == restored:
            return (
                f"{start} is back to {back}, the {row.classifier} of the training example"
                " accepted from an earlier correction."
            )
        return f"{start} is back to {back}, the {row.classifier} the model gave it."
    now = current_label(message, row.classifier)
    if now != row.label:
        kept = said(now, row.classifier) if now else "not classified"
        return f"{start} keeps its {row.classifier} {kept} (it changed since the correction)."
    found = (message.classification or {}).get(row.classifier) or {}
    predicted = found.get("predicted") if isinstance(found, dict) else None
    if accepted is not None and accepted.label == now:
        why = "its accepted training example says so too"
    elif isinstance(predicted, dict) and predicted.get("label") == now:
        why = "the model said so too"
    else:
        why = "what the model said is not known"
    return f"{start} keeps its {row.classifier} {said(now, row.classifier)} ({why})."
