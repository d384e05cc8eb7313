"""Auto-send policy: per mailbox and intent, a confidence above which a draft goes out unreviewed.

Off unless a supervisor turns it on (Channel.auto_send holds intent -> minimum confidence; the
route stage reads it). Every change is audit-logged with the old and the new value.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Channel, ClassifierExample
from responder.review import ReviewError, audit


class PolicyError(ReviewError):
    pass


def intents(session: Session) -> list[str]:
    return sorted(
        set(
            session.scalars(
                select(ClassifierExample.label).where(ClassifierExample.classifier == "intent")
            )
        )
    )


def policies(session: Session) -> list[dict[str, object]]:
    return [
        {"id": c.id, "name": c.name, "kind": c.kind, "auto_send": dict(c.auto_send or {})}
        for c in session.scalars(select(Channel).order_by(Channel.name))
    ]


def parse_threshold(text: str) -> float | None:
    """Blank means off; otherwise a confidence between 0.5 and 1 (below half is a guess)."""
    text = text.strip().rstrip("%")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise PolicyError(f"{text!r} is not a number: give a confidence like 0.9") from None
    if value > 1:
        value /= 100
    if not 0.5 <= value <= 1:
        raise PolicyError("the confidence must be between 0.5 and 1 (or blank for off)")
    return round(value, 4)


def set_auto_send(
    session: Session, channel_id: int, intent: str, threshold: str, actor: str
) -> float | None:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise PolicyError(f"mailbox {channel_id} not found")
    if intent not in intents(session):
        raise PolicyError(f"{intent!r} is not an intent")
    value = parse_threshold(threshold)
    policy = dict(channel.auto_send or {})
    previous = policy.get(intent)
    if value is None:
        policy.pop(intent, None)
    else:
        policy[intent] = value
    if previous == value:
        return value
    channel.auto_send = policy
    audit(
        session,
        actor,
        "auto_send.set",
        "channel",
        channel.name,
        intent=intent,
        previous=previous,
        threshold=value,
    )
    return value
