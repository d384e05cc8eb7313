"""The sender protocol every outbound channel implements, and its failure kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class TemporaryDeliveryError(Exception):
    """Worth retrying later, as nothing was delivered (a 4xx from SMTP, no connection made,
    429); a send whose answer may have been lost is `UncertainDeliveryError` instead."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: The longest wait a server's Retry-After can ask for: platforms' rate limits reset within the
#: hour, and a wait of years (a 20-digit Retry-After, a date in 9999) is past the calendar's
#: end, which crashed the send instead of scheduling it.
MAX_RETRY_AFTER_SECONDS = 86_400.0
#: The longest wait the doubling reaches: a day, so a generous `max_attempts` (or an attempt
#: count from an old row) waits a day between tries, not months, nor a wait past the
#: calendar's end (or too big for a float) that crashed the retry's scheduling.
MAX_BACKOFF_SECONDS = 86_400.0


def backoff(base_seconds: float, attempts: int) -> float:
    """Seconds before retry `attempts + 1`: the base, doubling with each attempt made, at most
    a day. The exponent is kept small first: 2 ** 2000 is too big to become a float."""
    doublings = min(max(attempts - 1, 0), 64)
    return min(base_seconds * 2.0**doublings, MAX_BACKOFF_SECONDS)


def retry_delay(exc: TemporaryDeliveryError, base_seconds: float, attempts: int) -> float:
    """Seconds before the next attempt: doubling from the base (at most a day), or what the
    server asked for (429 Retry-After, at most a day) when that is longer."""
    asked = min(exc.retry_after or 0.0, MAX_RETRY_AFTER_SECONDS)
    return max(asked, backoff(base_seconds, attempts))


class UncertainDeliveryError(Exception):
    """The request may have reached the other side, and its answer was lost (a read time-out, a
    dropped connection after sending): sending again could deliver it twice, so it is not
    retried by itself; a person checks the recipient's copy first. `what` names what may have
    gone out when it is not the reply itself (a WhatsApp template sent in its place), and
    `instead` is how the conversation shows it, as `DeliveryResult.instead`."""

    def __init__(self, why: str, what: str = "", instead: str = "") -> None:
        super().__init__(why)
        self.what = what
        self.instead = instead


class PermanentDeliveryError(Exception):
    """The other side refused for good (5xx, 4xx from an API); shown to staff as is."""


class DeliveryHeld(PermanentDeliveryError):
    """Not sent, and not worth retrying as is (a platform's reply window closed): staff decide.
    The message speaks of a reply; `cause` is why alone, for an acknowledgement's own words."""

    def __init__(self, why: str, cause: str = "") -> None:
        super().__init__(why)
        self.cause = cause or why


@dataclass(frozen=True)
class DeliveryResult:
    """What the other side told us: its id for the sent message, and anything staff should know."""

    external_id: str = ""
    note: str = ""
    #: What went out in the reply's place when the reply itself could not (a WhatsApp template
    #: outside the reply window): the conversation shows this, and the reply stays held, `note`
    #: saying why, for a person to send once the customer writes again.
    instead: str = ""


@dataclass(frozen=True)
class OutgoingReply:
    outbox_id: int
    channel_kind: str
    message_id_header: str
    recipients: tuple[str, ...]
    raw: bytes
    body: str
    subject: str
    # social: our account id on the platform (Page, WhatsApp number, X user), and when the
    # customer last wrote (the reply window opens then)
    channel_address: str = ""
    customer_wrote_at: datetime | None = None
    # WhatsApp: when a template last went out to the customer (in this reply's place or
    # another's) since they last wrote; one is enough until they write again. Uncertain: no
    # certain one went out since, and the last send's answer was lost (it may have gone out).
    template_sent_at: datetime | None = None
    template_uncertain: bool = False
    # When the send was taken: the reply window is judged at that moment, so a template goes
    # out only where the take recorded it as maybe sent (`responder.pipeline.template_going`).
    at: datetime | None = None


class Sender(Protocol):
    def deliver(self, reply: OutgoingReply) -> DeliveryResult | None: ...

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        """After a crash mid-send: True, False, or None when it cannot be known."""
        ...
