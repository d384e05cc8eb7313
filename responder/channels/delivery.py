"""The sender protocol every outbound channel implements, and its failure kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TemporaryDeliveryError(Exception):
    """Worth retrying later (4xx, dropped connection, time-out, 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The other side refused for good (5xx, 4xx from an API); shown to staff as is."""


@dataclass(frozen=True)
class OutgoingReply:
    outbox_id: int
    channel_kind: str
    message_id_header: str
    recipients: tuple[str, ...]
    raw: bytes
    body: str
    subject: str


class Sender(Protocol):
    def deliver(self, reply: OutgoingReply) -> None: ...

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        """After a crash mid-send: True, False, or None when it cannot be known."""
        ...
