"""Agents correct a message's classification; the correction becomes a candidate example.

Candidates are not trained on until a supervisor accepts them (status `active`), so one hasty
click cannot teach the model something wrong; who corrected what, and when, is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.classify.message import classification_text
from responder.classify.store import active_model
from responder.config import QueueSettings
from responder.db.models import ClassifierExample, Message, ReviewAction, StaffUser, utcnow
from responder.queue_order import churn_is_high, due_at
from responder.review import ReviewError, audit, current_draft, inbound_message


class AlreadyLabelled(ReviewError):
    """The "correction" names the label the message already has: nothing to teach the model.
    Its text names the label by its code (the API's `label`); `said` words it for a page."""

    status_code = 409
    UNCHANGED = "nothing was changed or recorded"

    def __init__(self, classifier: str, label: str) -> None:
        super().__init__(f"the {classifier} is already {label}: {self.UNCHANGED}")
        self.classifier = classifier
        self.label = label

    def said(self, titles: Callable[[str, str], str]) -> str:
        """The refusal with the label in words, as the review page shows labels."""
        words = titles(self.label, self.classifier)
        return f"the {self.classifier} is already {words}: {self.UNCHANGED}"


@dataclass(frozen=True)
class Correction:
    message_id: int
    classifier: str
    label: str
    previous: str | None
    example_id: int


def known_labels(session: Session, classifier: str) -> set[str]:
    model = active_model(session, classifier)
    if model is not None:
        return {str(label) for label in model.labels}
    rows = session.scalars(
        select(ClassifierExample.label).where(ClassifierExample.classifier == classifier).distinct()
    )
    return set(rows)


def current_label(message: Message, classifier: str) -> str | None:
    found = (message.classification or {}).get(classifier)
    return found.get("label") if isinstance(found, dict) else None


def set_label(
    session: Session,
    message: Message,
    classifier: str,
    label: str,
    by: str,
    *,
    queue: QueueSettings | None = None,
) -> None:
    """The message says `label` from now on, by a person: its classification (the model's own
    answer kept under `predicted`), its intent, sentiment or urgency column, and, with `queue`,
    the due time an urgency sets."""
    classification = dict(message.classification or {})
    before = classification.get(classifier)
    classification[classifier] = {
        "label": label,
        "confidence": 1.0,
        "candidates": [[label, 1.0]],
        "corrected_by": by,
        "corrected_at": utcnow().isoformat(),
        "predicted": before.get("predicted", before) if isinstance(before, dict) else None,
    }
    message.classification = classification
    _set_column(session, message, classifier, label, 1.0, queue)


def _set_column(
    session: Session,
    message: Message,
    classifier: str,
    label: str,
    confidence: float | None,
    queue: QueueSettings | None,
) -> None:
    """The column the queue filters and sorts on follows the classification."""
    if classifier == "intent":
        message.intent = label
        message.intent_confidence = confidence
    elif classifier == "sentiment":
        message.sentiment = label
    elif classifier == "urgency":
        message.urgency = label
        if queue is not None and message.due_at is not None:
            draft = current_draft(session, message.id)
            message.due_at = due_at(
                message.received_at,
                urgency=label,
                tier=message.customer_tier,
                churn_high=churn_is_high(draft.grounding if draft else {}),
                settings=queue,
            )


def follow_accepted(
    session: Session,
    message_id: int,
    classifier: str,
    label: str,
    actor: str,
    *,
    queue: QueueSettings | None = None,
) -> str | None:
    """A supervisor accepted an agent's correction under another label: the message takes the
    label accepted, so the queue, the dashboard and the next draft agree with the training
    data. The label it had before, or None when it already said so (or is gone)."""
    message = session.get(Message, message_id)
    if message is None:
        return None
    previous = current_label(message, classifier)
    if previous == label:
        return None
    set_label(session, message, classifier, label, actor, queue=queue)
    _record_supervisor_label(session, message_id, classifier, previous, label, actor, "accepted")
    return previous


def _record_label(
    session: Session,
    message_id: int,
    classifier: str,
    previous: str | None,
    label: str,
    actor: str,
    user_id: int | None,
    **marks: bool,
) -> None:
    """The history line and audit entry of a label change; a supervisor's decision on a
    correction is marked (`accepted`, `rejected`), which keeps it out of agents' corrections."""
    detail = {"classifier": classifier, "from": previous, "to": label, **marks}
    session.add(
        ReviewAction(message_id=message_id, user_id=user_id, action="reclassify", detail=detail)
    )
    audit(
        session,
        actor,
        "message.reclassify",
        "message",
        message_id,
        classifier=classifier,
        previous=previous,
        label=label,
        **marks,
    )


def _record_supervisor_label(
    session: Session,
    message_id: int,
    classifier: str,
    previous: str | None,
    label: str,
    actor: str,
    why: str,
) -> None:
    user_id = session.scalar(select(StaffUser.id).where(StaffUser.username == actor))
    _record_label(session, message_id, classifier, previous, label, actor, user_id, **{why: True})


def accepted_example(
    session: Session, classifier: str, message_id: int | None
) -> ClassifierExample | None:
    """The training example a supervisor accepted from an earlier correction of the message
    (the first, should there be more): what a person already stands by for it."""
    if message_id is None:
        return None
    return session.scalar(
        select(ClassifierExample)
        .where(
            ClassifierExample.classifier == classifier,
            ClassifierExample.message_id == message_id,
            ClassifierExample.status == "active",
        )
        .order_by(ClassifierExample.id)
        .limit(1)
    )


def restore_after_rejection(
    session: Session,
    message_id: int,
    classifier: str,
    rejected: str,
    actor: str,
    *,
    queue: QueueSettings | None = None,
) -> str | None:
    """A supervisor rejected an agent's correction to `rejected`: the message goes back to the
    label of the example accepted from an earlier correction of it, when there is one, else to
    the model's own answer (kept under `predicted`), so the queue, the dashboard and the next
    draft no longer follow a label nobody stands by. The label it went back to, or None when
    the message no longer says `rejected` (changed since) or neither label is known."""
    message = session.get(Message, message_id)
    found = (message.classification or {}).get(classifier) if message is not None else None
    if message is None or not isinstance(found, dict) or found.get("label") != rejected:
        return None
    if not found.get("corrected_by"):
        return None
    accepted = accepted_example(session, classifier, message_id)
    if accepted is not None:
        if accepted.label == rejected:
            return None
        set_label(session, message, classifier, accepted.label, actor, queue=queue)
        label = accepted.label
    else:
        predicted = found.get("predicted")
        label = str(predicted.get("label") or "") if isinstance(predicted, dict) else ""
        if not isinstance(predicted, dict) or not label or label == rejected:
            return None
        message.classification = {**(message.classification or {}), classifier: predicted}
        _set_column(session, message, classifier, label, predicted.get("confidence"), queue)
    _record_supervisor_label(session, message_id, classifier, rejected, label, actor, "rejected")
    return label


def reclassify(
    session: Session,
    message_id: int,
    user: StaffUser,
    classifier: str,
    label: str,
    *,
    queue: QueueSettings | None = None,
) -> Correction:
    """Corrects the message at once (an intent for the queue's filter, an urgency for its
    badge and, with `queue`, its due time) and keeps the correction as a candidate example."""
    message = inbound_message(session, message_id)
    classifier = classifier.replace("\x00", "")  # PostgreSQL text refuses NUL
    labels = known_labels(session, classifier)
    if not labels:
        raise ReviewError(f"unknown classifier {classifier!r}")
    if label not in labels:
        raise ReviewError(
            f"{label!r} is not one of the {classifier} labels: {', '.join(sorted(labels))}"
        )
    now = utcnow()
    previous = current_label(message, classifier)
    if previous == label:
        raise AlreadyLabelled(classifier, label)
    set_label(session, message, classifier, label, user.username, queue=queue)
    text = classification_text(message.subject, message.new_text or message.text)
    example = session.scalar(
        select(ClassifierExample).where(
            ClassifierExample.classifier == classifier,
            ClassifierExample.message_id == message_id,
            ClassifierExample.status == "candidate",
        )
    )
    if example is None:
        example = ClassifierExample(
            classifier=classifier, message_id=message_id, status="candidate", source="correction"
        )
        session.add(example)
    example.label = label
    example.text = text
    example.created_by = user.username
    example.created_at = now
    _record_label(session, message_id, classifier, previous, label, user.username, user.id)
    session.flush()
    return Correction(message_id, classifier, label, previous, example.id)
