"""The review page's warning that a platform's reply window has closed, or soon will: before
the agent writes and approves, not after the reply is held.

The window itself is the sender's rule (`senders.window_closes_at`), read here, not repeated.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from responder.channels.social import PLATFORM
from responder.channels.social.senders import window_closes_at
from responder.config import SocialSettings
from responder.db.models import Channel, Message
from responder.pipeline.social import customer_last_wrote_at, template_sent

#: A window closing sooner than this is worth a warning: a reply written slowly misses it.
SOON = timedelta(hours=1)


def window_warning(
    session: Session, message_id: int, settings: SocialSettings, now: datetime
) -> dict[str, Any] | None:
    """What the page says about the window: None while it stays open for a while yet."""
    message = session.get(Message, message_id)
    channel = session.get(Channel, message.channel_id) if message else None
    if message is None or channel is None:
        return None
    wrote_at = customer_last_wrote_at(session, message)
    closes = window_closes_at(channel.kind, wrote_at, settings.window_hours)
    if closes is None or closes - now > SOON:
        return None
    template = settings.whatsapp_template if channel.kind == "whatsapp" else ""
    sent = template_sent(session, message, wrote_at) if template else None
    return {
        "platform": PLATFORM[channel.kind],
        "hours": f"{settings.window_hours:g}",
        "closes_at": closes,
        "closed": now > closes,
        "minutes_left": max(int((closes - now).total_seconds() // 60), 0),
        "template": template,
        # One went out already (this reply's, before Edit and send again, or another's), or may
        # have (its answer was lost): no second one is sent before the customer writes back.
        "template_sent_at": sent.at if sent else None,
        "template_uncertain": sent is not None and not sent.certain,
    }
