"""What the state of a reply or an automatic acknowledgement means to a helpdesk agent.

The outbox and acknowledgement tables keep short codes (`queued`, `uncertain`, ...) that the
API returns as they are; pages say them in words through the `delivery` filter. Each phrase
follows its subject ("Reply to alice@example.com: waiting to be sent", "Automatic
acknowledgement left unsent").
"""

from __future__ import annotations

DELIVERY_WORDS: dict[str, str] = {
    "queued": "waiting to be sent",
    "sending": "being sent",
    "sent": "sent",
    "failed": "not delivered",
    # The worker stopped mid-send, or the other side's answer was lost, and it cannot say:
    # sending again may send twice.
    # The stored error that follows says so and what to check, as it does for "held" (a
    # platform's reply window had closed, `DeliveryHeld`): the words do not say it twice.
    "uncertain": "may or may not have gone out",
    "held": "held, not sent",
    "unsent": "left unsent",
    "dismissed": "left unsent",
    # An acknowledgement a platform's reply window stopped (`DeliveryHeld`): nothing to retry.
    "not_sent": "not sent",
    # An acknowledgement a delivery status notification came back for, days later maybe.
    "bounced": "returned by the recipient's server",
}


def delivery_words(state: str) -> str:
    """An unknown code is shown as it is rather than hidden."""
    return DELIVERY_WORDS.get(state, state)
