"""Churn risk with its reasons: a plain function over plain signals, so it is easy to check.

Each signal adds configured points; the score is their sum capped at 1, and the level (high,
medium, low) comes from configured cut-offs. The reasons say which signals fired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from responder.config import ChurnSettings
from responder.customers.value import parse_day


@dataclass(frozen=True)
class ChurnSignals:
    intent: str | None = None
    text: str = ""
    contacts_in_window: int = 0
    sentiments: tuple[str, ...] = ()  # latest inbound message first
    contract_ends: tuple[str, ...] = ()  # ISO dates of live contracts
    open_case_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChurnReason:
    code: str
    text: str
    points: float


@dataclass(frozen=True)
class ChurnRisk:
    score: float = 0.0
    level: str = "low"
    reasons: tuple[ChurnReason, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "risk": self.level,
            "reasons": [{"code": r.code, "text": r.text, "points": r.points} for r in self.reasons],
        }


def competitors_named(text: str, competitors: tuple[str, ...] | list[str]) -> list[str]:
    return [
        name
        for name in competitors
        if name.strip() and re.search(rf"(?<!\w){re.escape(name.strip())}(?!\w)", text, re.I)
    ]


def assess_churn(signals: ChurnSignals, settings: ChurnSettings, today: date) -> ChurnRisk:
    reasons: list[ChurnReason] = []
    if signals.intent and signals.intent in settings.leaving_intents:
        what = "port-out" if signals.intent == "port_out" else signals.intent
        reasons.append(
            ChurnReason("leaving_intent", f"{what} intent", settings.leaving_intent_points)
        )
    named = competitors_named(signals.text, settings.competitors)
    if named:
        reasons.append(
            ChurnReason(
                "competitor", f"competitor named: {', '.join(named)}", settings.competitor_points
            )
        )
    if signals.contacts_in_window >= settings.repeat_contact_count:
        reasons.append(
            ChurnReason(
                "repeat_contacts",
                f"{signals.contacts_in_window} contacts in {settings.repeat_contact_days} days",
                settings.repeat_contact_points,
            )
        )
    run = settings.negative_sentiment_run
    recent = signals.sentiments[:run]
    if run > 0 and len(recent) == run and all(s == "negative" for s in recent):
        reasons.append(
            ChurnReason(
                "negative_sentiment",
                f"{run} negative messages in a row",
                settings.negative_sentiment_points,
            )
        )
    ending = [
        end
        for end in (parse_day(d) for d in signals.contract_ends)
        if end is not None and 0 <= (end - today).days <= settings.contract_end_days
    ]
    if ending:
        first = min(ending)
        reasons.append(
            ChurnReason(
                "contract_ending",
                f"contract ends {first.isoformat()} (in {(first - today).days} days)",
                settings.contract_end_points,
            )
        )
    complaints = [c for c in signals.open_case_categories if c in settings.complaint_categories]
    if complaints:
        reasons.append(
            ChurnReason("open_complaint", "open complaint case", settings.complaint_case_points)
        )
    score = round(min(sum(r.points for r in reasons), 1.0), 2)
    level = "high" if score >= settings.high else "medium" if score >= settings.medium else "low"
    return ChurnRisk(score, level, tuple(reasons))
