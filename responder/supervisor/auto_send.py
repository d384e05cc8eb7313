"""Auto-send policy: per mailbox and intent, a confidence above which a draft goes out unreviewed.

Off unless a supervisor turns it on (Channel.auto_send holds intent -> minimum confidence; the
route stage reads it). Every change is audit-logged with the old and the new value.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Channel, ClassifierExample
from responder.db.row_locks import lock_rows
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
    """The form takes a percentage ("90" or "90%"), stored as a fraction (0.9). A bare number up
    to 1 is refused rather than guessed at: "0.9" may mean 90% or a typo for 9%. Blank is off;
    under half is a guess, so not allowed."""
    typed = text.strip()
    if not typed:
        return None
    number = typed.removesuffix("%").strip()
    try:
        value = float(number)
    except ValueError:
        raise PolicyError(
            f"{typed!r} is not a number: give the confidence in percent, like 90"
        ) from None
    if not typed.endswith("%") and 0 < value <= 1:
        raise PolicyError(
            f"{typed!r} looks like a fraction: give the confidence in percent, "
            f"like {value * 100:g} for {value * 100:g}%"
        )
    if not 50 <= value <= 100:
        raise PolicyError("the confidence must be between 50% and 100% (or blank for off)")
    return round(value / 100, 4)


def as_percent(value: float | None) -> str:
    """A stored threshold as the form shows it: 0.92 is "92"."""
    return "" if value is None else f"{round(float(value) * 100, 2):g}"


def _locked(session: Session, channel_id: int) -> Channel:
    """The mailbox, locked until the change commits: the policy is one JSON value, so of two
    changes at the same moment (another intent, or the same one) the second must read what the
    first wrote, or it writes its stale copy back and the first is lost while the audit log
    records both."""
    lock_rows(session, Channel.auto_send, Channel.id == channel_id)
    channel = session.get(Channel, channel_id, populate_existing=True)
    if channel is None:
        raise PolicyError(f"mailbox {channel_id} not found")
    return channel


def set_auto_send(
    session: Session, channel_id: int, intent: str, threshold: str, actor: str
) -> float | None:
    channel = _locked(session, channel_id)
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
