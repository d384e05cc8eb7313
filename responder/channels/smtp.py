"""SMTP delivery with aiosmtplib; the reply's bytes (and Message-ID) were fixed before sending."""

from __future__ import annotations

import asyncio
import os

import aiosmtplib

from responder.channels.delivery import (
    OutgoingReply,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from responder.config import OutboundSettings, SmtpSettings


class SmtpSender:
    def __init__(self, smtp: SmtpSettings, outbound: OutboundSettings) -> None:
        self.smtp = smtp
        self.outbound = outbound

    async def _send(self, reply: OutgoingReply) -> None:
        password = os.environ.get(self.smtp.password_env, "") if self.smtp.username else None
        await aiosmtplib.send(
            reply.raw,
            sender=self.outbound.from_address,
            recipients=list(reply.recipients),
            hostname=self.smtp.host,
            port=self.smtp.port,
            username=self.smtp.username or None,
            password=password,
            use_tls=self.smtp.security == "tls",
            start_tls=self.smtp.security == "starttls",
            timeout=self.smtp.timeout_seconds,
            cert_bundle=self.smtp.ca_file or None,
        )

    def deliver(self, reply: OutgoingReply) -> None:
        try:
            asyncio.run(self._send(reply))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            answer = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if all(400 <= c < 500 for c in codes):
                raise TemporaryDeliveryError(f"recipients refused: {answer}") from exc
            raise PermanentDeliveryError(f"recipients refused: {answer}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            answer = f"{exc.code} {exc.message}"
            if 400 <= exc.code < 500:
                raise TemporaryDeliveryError(f"SMTP server answered {answer}") from exc
            raise PermanentDeliveryError(f"SMTP server answered {answer}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryDeliveryError(f"SMTP delivery failed: {exc}") from exc

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        """SMTP gives no way to ask whether a message was accepted: the outbox says so."""
        return None
