"""Webhook deliveries a person should know of, with what became of each in words.

The platform was answered before a body was split, so it never sends one again: a body that
kept failing is given up (`failed_at`) and waits under Needs attention for a person to retry it
once the error it names is fixed. Bodies that could not be read, or held events Responder does
not use (a postback, a story mention), are not work but are listed for supervisors, so a
platform's change of format is seen rather than lost in the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from responder.channels.social.ingest import (
    IGNORED_MARK,
    MALFORMED_MARK,
    IngestOutcome,
    note_failure,
    process_delivery,
)
from responder.db.models import WebhookDelivery
from responder.db.session import transaction
from responder.review import AlreadyHandled, NotFound, ReviewError, audit

SOURCES = {"meta": "Meta", "x": "X"}

_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.source,
    WebhookDelivery.received_at,
    WebhookDelivery.processed_at,
    WebhookDelivery.failed_at,
    WebhookDelivery.attempts,
    WebhookDelivery.outcome,
)


class RetryFailed(ReviewError):
    """Splitting it raised again: the error, in the person's words."""

    status_code = 409


def outcome_words(
    processed_at: datetime | None, failed_at: datetime | None, attempts: int, outcome: str
) -> tuple[str, str]:
    """(code, words): what became of a delivery, as a person reads it."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if processed_at is None:
        if failed_at is not None:
            return "failed", f"Not taken in: given up after {tries}. {outcome}"
        if attempts:
            return "retrying", f"Not taken in yet: {tries} so far, tried again soon. {outcome}"
        return "waiting", "Stored, not split yet."
    if outcome.startswith(MALFORMED_MARK):
        reason = outcome.removeprefix(MALFORMED_MARK)
        return "malformed", f"Could not be read ({reason}); answered 400, the body is kept."
    taken, _, ignored = outcome.partition(IGNORED_MARK)
    if ignored:
        unused = "; ".join(ignored.split(IGNORED_MARK))
        return "ignored", f"Taken in ({taken}); not used: {unused}."
    return "done", f"Taken in ({outcome})."


def _row(columns: Any) -> dict[str, Any]:
    code, words = outcome_words(
        columns.processed_at, columns.failed_at, columns.attempts, columns.outcome
    )
    return {
        "id": columns.id,
        "source": columns.source,
        "platform": SOURCES.get(columns.source, columns.source),
        "received_at": columns.received_at.isoformat(),
        "attempts": columns.attempts,
        "outcome": code,
        "words": words,
        "detail": columns.outcome,
    }


def _failed() -> Any:
    return WebhookDelivery.processed_at.is_(None) & WebhookDelivery.failed_at.is_not(None)


def failed_count(session: Session) -> int:
    """For the Needs attention badge: read from the failed_at index."""
    query = select(func.count()).select_from(WebhookDelivery).where(_failed())
    return int(session.scalar(query) or 0)


def failed_deliveries(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Bodies given up unsplit, oldest first (the order they are best retried in)."""
    rows = session.execute(
        select(*_COLUMNS).where(_failed()).order_by(WebhookDelivery.id).limit(limit)
    ).all()
    return [_row(r) for r in rows]


def notable_deliveries(
    session: Session, *, before_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first: bodies not split (yet), that could not be read, or with events not used."""
    query = select(*_COLUMNS).where(
        or_(
            WebhookDelivery.processed_at.is_(None) & (WebhookDelivery.attempts > 0),
            WebhookDelivery.outcome.startswith(MALFORMED_MARK),
            WebhookDelivery.outcome.contains(IGNORED_MARK),
        )
    )
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    rows = session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()
    return [_row(r) for r in rows]


def retry_delivery(
    factory: sessionmaker[Session], delivery_id: int, actor: str, max_attempts: int
) -> IngestOutcome:
    """A person's retry of a body given up: split now; if it raises again, the attempt is
    counted and its error is the refusal. Audited either way (`webhook.retry`)."""
    with factory() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        if delivery.processed_at is not None:
            raise AlreadyHandled(f"webhook delivery {delivery_id} has been taken in already")
    try:
        outcome = process_delivery(factory, delivery_id)
    except Exception as exc:
        attempts = note_failure(factory, delivery_id, exc, max_attempts)
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        with transaction(factory) as session:
            audit(session, actor, "webhook.retry", "webhook_delivery", delivery_id, error=error)
        raise RetryFailed(
            f"webhook delivery {delivery_id} failed again (attempt {attempts}): {error}"
        ) from exc
    with transaction(factory) as session:
        audit(
            session,
            actor,
            "webhook.retry",
            "webhook_delivery",
            delivery_id,
            outcome=outcome.summary(),
        )
    return outcome
