"""When a message needs its answer: the queue is ordered by this due time.

One number folds urgency, value tier, churn risk and time waiting together: a high-urgency
message from a Best-tier customer about to leave is due soonest, and anything left waiting
eventually comes to the top because its due time does not move. With `[queue] business_hours`
the SLA minutes count open time only (`responder/business_hours.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from responder.config import QueueSettings, business_calendar


def due_at(
    received_at: datetime,
    *,
    urgency: str,
    tier: str,
    churn_high: bool,
    settings: QueueSettings,
) -> datetime:
    minutes = {
        "high": settings.sla_minutes_high,
        "low": settings.sla_minutes_low,
    }.get(urgency, settings.sla_minutes_normal)
    factor = 1.0
    if tier and tier == settings.best_tier_name:
        factor *= settings.best_tier_factor
    if churn_high:
        factor *= settings.churn_risk_factor
    calendar = business_calendar(settings)
    if calendar is None or urgency in settings.round_the_clock_urgencies:
        return received_at + timedelta(minutes=minutes * factor)
    return calendar.add_minutes(received_at, minutes * factor)


def urgency_of(classification: dict[str, object]) -> str:
    urgency = classification.get("urgency")
    if isinstance(urgency, dict):
        return str(urgency.get("label") or "normal")
    return "normal"


def sentiment_of(classification: dict[str, object]) -> str:
    sentiment = classification.get("sentiment")
    if isinstance(sentiment, dict):
        return str(sentiment.get("label") or "")[:10]
    return ""


def churn_is_high(grounding: dict[str, object]) -> bool:
    """Churn risk as the customer view recorded it in the draft's grounding."""
    customer = grounding.get("customer")
    churn = customer.get("churn") if isinstance(customer, dict) else None
    return isinstance(churn, dict) and churn.get("risk") == "high"
