"""Mail that reached us long after it was written gets no automatic answer.

A mailbox connected with its history, a backlog fetched after an outage, an archive copied into
a watched folder: an acknowledgement ("we have your message") or a reply sent automatically
days or years after the customer wrote would mislead them, so a person answers such mail. The
Date header is the sender's own claim; it can only ever hold automatic mail back, never send
any.
"""

from __future__ import annotations

from datetime import timedelta

from responder.db.models import Message

#: How long after its Date a message may reach us and still be answered automatically.
LATE = timedelta(days=1)


def late_reason(message: Message) -> str:
    """Why no automatic mail may answer it ("" when its Date does not stop that): it was
    written more than a day before it reached us."""
    if message.sent_at is None or message.received_at - message.sent_at <= LATE:
        return ""
    days = (message.received_at - message.sent_at).days
    return (
        f"written {message.sent_at:%Y-%m-%d}, {days:,} day{'s' if days != 1 else ''} before it "
        "reached us: mail more than a day old when it arrives gets no automatic reply or "
        "acknowledgement"
    )
