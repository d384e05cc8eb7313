"""What a supervisor sees of the automatic acknowledgements: whether and when they go out, what a
customer reads, and how many went out lately. Read from `[acknowledge]` (changed only in
config.toml) and the acknowledgements table; the sending rules are in `responder.acknowledge`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.acknowledge import UNSENT
from responder.acknowledgement_text import acknowledgement_body, opens_words, text_locale
from responder.business_hours import WEEKDAYS
from responder.classify.language import language_name
from responder.config import Settings, business_calendar
from responder.db.models import Acknowledgement
from responder.mail.compose import reply_subject

SAMPLE_NAME = "Aoife Murphy"
SAMPLE_SUBJECT = "Roaming charges on my bill"
WINDOW = timedelta(days=7)
#: The keys under [acknowledge] in config.toml, in the order the file has them.
KEYS = ("enabled", "when", "social", "once_per_hours", "text", "texts")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DIRECT_MESSAGES = "Messenger, Instagram, WhatsApp, X"


def _hours(value: float) -> str:
    return f"{value:g} hour{'' if value == 1 else 's'}"


def when_sent(settings: Settings) -> str:
    """The rule in one sentence, as a supervisor would say it."""
    ack = settings.acknowledge
    if not ack.enabled:
        return "Customers get no automatic acknowledgement, only the reply a person sends."
    what = "email" + (" or direct message" if ack.social else "")
    if ack.when == "always":
        moment = f"Every {what} that waits for a person gets one, at any hour"
    else:
        moment = (
            f"Only an {what} that arrives while the team is closed (outside the opening hours "
            "below, on a public holiday or a closed day) gets one"
        )
    if ack.once_per_hours > 0:
        limit = f"at most one per customer in {_hours(ack.once_per_hours)}"
    else:
        limit = "every message, however often the customer writes"
    return (
        f"{moment}; {limit}. Mail the ignore rules stop (auto-replies, bounces, lists, blocked "
        "senders) never gets one."
    )


def opening_hours(settings: Settings) -> list[dict[str, str]]:
    """Each weekday's hours in the team's zone; empty without business hours."""
    hours = settings.queue.business_hours
    if not hours:
        return []
    return [
        {"day": DAY_NAMES[index], "hours": hours.get(name, "").strip() or "closed"}
        for index, name in enumerate(WEEKDAYS)
    ]


def channels(settings: Settings) -> list[dict[str, str]]:
    """Email and direct messages, each with whether and how it is acknowledged."""
    ack = settings.acknowledge
    off = "No (acknowledgements are off)"
    email = (
        "Yes: a reply in the customer's thread, subject “Re: …”, marked Auto-Submitted so "
        "their own auto-reply does not answer it"
    )
    direct = "Yes: the text alone, sent back in the conversation (each line break shows)"
    return [
        {"channel": "Email", "behaviour": email if ack.enabled else off},
        {
            "channel": f"Direct messages ({DIRECT_MESSAGES})",
            "behaviour": (direct if ack.social else "No (acknowledge.social = false)")
            if ack.enabled
            else off,
        },
    ]


def sample_opening(settings: Settings, now: datetime) -> datetime | None:
    """The `opens` the next acknowledgement would get: the next opening when they go out only
    while closed; none when they always go out (the text then says "soon")."""
    calendar = business_calendar(settings.queue)
    if settings.acknowledge.when != "closed" or calendar is None:
        return None
    is_open, change = calendar.status(now)
    return calendar.next_opening(change) if is_open and change else change


def texts(settings: Settings, now: datetime) -> list[dict[str, str]]:
    """The default text and each language's, with what a sample customer receives (`opens`
    in that text's language)."""
    ack = settings.acknowledge
    opening = sample_opening(settings, now)

    def opens(code: str) -> str:
        locale = text_locale(settings.drafting.locales, code)
        return opens_words(opening, settings.queue.timezone, locale) if opening else ""

    shown = [("", "Default (any other language)", "acknowledge.text", ack.text)]
    shown += [
        (code, language_name(code), f"acknowledge.texts.{code}", ack.texts[code])
        for code in sorted(ack.texts)
    ]
    return [
        {
            "language": code,
            "label": label,
            "key": key,
            "raw": raw,
            "subject": reply_subject(SAMPLE_SUBJECT),
            "rendered": acknowledgement_body(
                raw,
                name=SAMPLE_NAME,
                subject=SAMPLE_SUBJECT,
                opens=opens(code),
                signature=settings.drafting.signature,
            ),
        }
        for code, label, key, raw in shown
    ]


def recent_counts(session: Session, now: datetime) -> dict[str, int]:
    """The last seven days: `sent`, `failed` (refused, out of attempts or maybe sent twice,
    including those a person has since left unsent), `needs_attention` (still listed there)
    and `returned` (sent, then returned by the recipient's server: nothing to do but know)."""
    since = now - WINDOW
    sent = session.scalar(
        select(func.count())
        .select_from(Acknowledgement)
        .where(Acknowledgement.state == "sent", Acknowledgement.sent_at > since)
    )
    rows = session.execute(
        select(Acknowledgement.state, func.count())
        .where(
            Acknowledgement.state.in_((*UNSENT, "dismissed", "bounced")),
            Acknowledgement.created_at > since,
        )
        .group_by(Acknowledgement.state)
    ).all()
    by_state = {state: count for state, count in rows}
    returned = by_state.pop("bounced", 0)
    return {
        "sent": sent or 0,
        "failed": sum(by_state.values()),
        "needs_attention": sum(by_state.get(state, 0) for state in UNSENT),
        "returned": returned,
    }


def overview(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    ack = settings.acknowledge
    return {
        "enabled": ack.enabled,
        "when": ack.when,
        "social": ack.social,
        "once_per_hours": ack.once_per_hours,
        "summary": when_sent(settings),
        "timezone": settings.queue.timezone,
        "opening_hours": opening_hours(settings) if ack.when == "closed" else [],
        "holidays_country": settings.queue.holidays_country,
        "closed_dates": list(settings.queue.closed_dates),
        "channels": channels(settings),
        "sample": {"name": SAMPLE_NAME, "subject": SAMPLE_SUBJECT},
        "texts": texts(settings, now),
        "last_7_days": recent_counts(session, now),
        "settings_keys": [f"acknowledge.{key}" for key in KEYS],
    }
