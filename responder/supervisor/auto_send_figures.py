"""What a supervisor should see before letting an intent's drafts go out unreviewed.

Per mailbox and intent: the drafts staff decided in the last 30 days and what they made of them
(counted by the dashboard's own `decisions`, so a reopened rejection still counts), the active
intent classifier's held-out F1 for the intent, and each of those drafts' classifier confidence,
so the page can say how many would have gone out unreviewed at a threshold. A draft is grouped
under the intent the classifier gave it, with the classifier's confidence, not under a label an
agent corrected it to: that is what auto-send acts on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.classify.retrain import current_model
from responder.dashboard import (
    AUTO_SEND,
    OUTCOMES,
    HistoryScope,
    MessageRow,
    decisions,
    outcome_shares,
)
from responder.db.models import Message

DAYS = 30
WORDS = ("sent unchanged", "edited", "rejected")  # OUTCOMES as the page says them
_CHUNK = 500


@dataclass(frozen=True)
class IntentFigures:
    """One mailbox and intent: staff's recent decisions and how sure the classifier was."""

    decided: int = 0
    approved: int = 0
    edited: int = 0
    rejected: int = 0
    f1: float | None = None  # the active model's held-out F1 for the intent, if it has one
    f1_support: int = 0  # held-out examples of the intent it was measured on
    drafts: tuple[tuple[float, str], ...] = ()  # (classifier confidence, outcome) each

    def share(self, outcome: str) -> float:
        return getattr(self, outcome) / self.decided if self.decided else 0.0

    def would_send(self, threshold: float) -> list[str]:
        """The outcomes of the drafts sure enough to have gone out unreviewed at `threshold`."""
        return [outcome for confidence, outcome in self.drafts if confidence >= threshold]


def scope(now: datetime) -> HistoryScope:
    """The messages `intent_figures` can count: those a person acted on in the window, so the
    page does not read a year of mail to show a month."""
    return HistoryScope(acted_since=now - timedelta(days=DAYS))


def intent_figures(
    session: Session,
    rows: Sequence[MessageRow],
    now: datetime,
    pairs: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], IntentFigures]:
    """For each (mailbox name, intent) pair asked for, decided in the window or not."""
    since = now - timedelta(days=DAYS)
    recent = [
        row
        for row in decisions(rows)
        if row.outcome in OUTCOMES
        and row.decided_by not in ("", AUTO_SEND)
        and row.decided_at is not None
        and row.decided_at >= since
    ]
    classified = _as_classified(session, {row.id for row in recent})
    groups: dict[tuple[str, str], list[tuple[MessageRow, float]]] = defaultdict(list)
    for row in recent:
        intent, confidence = classified.get(row.id, (row.intent, 0.0))
        groups[(row.channel, intent)].append((replace(row, intent=intent), confidence))
    model = current_model(session, "intent")
    per_class = model.per_class if model else {}
    figures = {}
    for key in pairs:
        f1, support = per_class.get(key[1], (None, 0))
        members = groups.get(key, [])
        if not members:
            figures[key] = IntentFigures(f1=f1, f1_support=support)
            continue
        (counts,) = outcome_shares(row for row, _ in members)
        figures[key] = IntentFigures(
            decided=int(counts["decided"]),  # type: ignore[call-overload]
            approved=int(counts["approved"]),  # type: ignore[call-overload]
            edited=int(counts["edited"]),  # type: ignore[call-overload]
            rejected=int(counts["rejected"]),  # type: ignore[call-overload]
            f1=f1,
            f1_support=support,
            drafts=tuple(sorted(((c, str(row.outcome)) for row, c in members), reverse=True)),
        )
    return figures


def _as_classified(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, float]]:
    """The intent and confidence the classifier gave each message, before any correction."""
    found: dict[int, tuple[str, float]] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), _CHUNK):
        for message_id, intent, confidence, classification in session.execute(
            select(
                Message.id, Message.intent, Message.intent_confidence, Message.classification
            ).where(Message.id.in_(wanted[start : start + _CHUNK]))
        ):
            found[message_id] = _predicted(intent, confidence, classification)
    return found


def _predicted(
    intent: str | None, confidence: float | None, classification: Any
) -> tuple[str, float]:
    given = (classification or {}).get("intent") if isinstance(classification, dict) else None
    if isinstance(given, dict) and given.get("corrected_by"):
        before = given.get("predicted")
        if isinstance(before, dict) and before.get("label"):
            return str(before["label"]), float(before.get("confidence") or 0.0)
    return intent or "", float(confidence or 0.0)


def summary(mailbox: str, intent: str, figures: IntentFigures) -> str:
    """The figures in words, for the question asked before auto-send is turned on."""
    if figures.decided:
        parts = ", ".join(
            f"{getattr(figures, outcome)} {word} ({figures.share(outcome):.0%})"
            for outcome, word in zip(OUTCOMES, WORDS, strict=True)
        )
        decided = (
            f"In the last {DAYS} days staff decided {figures.decided} {intent} "
            f"draft{'s' if figures.decided != 1 else ''} in {mailbox}: {parts}."
        )
    else:
        decided = (
            f"In the last {DAYS} days staff decided no {intent} drafts in {mailbox}: "
            "there is nothing to judge the drafts by."
        )
    if figures.f1 is None:
        measured = f"The intent classifier has no held-out figure for {intent}."
    else:
        measured = (
            f"The intent classifier's F1 for {intent} on held-out examples is "
            f"{figures.f1:.0%} ({figures.f1_support} examples)."
        )
    return f"{decided} {measured}"
