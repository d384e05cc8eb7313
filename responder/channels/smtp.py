"""SMTP delivery with aiosmtplib; the reply's bytes (and Message-ID) were fixed before sending."""

from __future__ import annotations

import asyncio
import os
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

import aiosmtplib

from responder.channels.delivery import (
    DeliveryResult,
    OutgoingReply,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UncertainDeliveryError,
)
from responder.config import OutboundSettings, SmtpSettings
from responder.mail.compose import needs_smtputf8, smtp_address


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, noting when the message itself went to the server (after DATA's
    354 go-ahead): a connection lost, or an answer that never came, after that may hide a
    delivery, and SMTP cannot be asked whether one happened; before it, nothing was sent."""

    data_sent = False

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        protocol = self.protocol
        if protocol is None:
            return await super().data(message, **kwargs)
        write = protocol.write

        def noting(data: bytes) -> None:
            # aiosmtplib writes the DATA command, waits for 354, then writes the message.
            if data != b"DATA\r\n":
                self.data_sent = True
            write(data)

        protocol.write = noting  # type: ignore[method-assign]
        try:
            return await super().data(message, **kwargs)
        finally:
            del protocol.write


class SmtpSender:
    def __init__(self, smtp: SmtpSettings, outbound: OutboundSettings) -> None:
        self.smtp = smtp
        self.outbound = outbound

    def _client(self) -> _Client:
        password = os.environ.get(self.smtp.password_env, "") if self.smtp.username else None
        return _Client(
            hostname=self.smtp.host,
            port=self.smtp.port,
            username=self.smtp.username or None,
            password=password,
            use_tls=self.smtp.security == "tls",
            start_tls=self.smtp.security == "starttls",
            timeout=self.smtp.timeout_seconds,
            cert_bundle=self.smtp.ca_file or None,
        )

    async def _send(
        self, client: _Client, reply: OutgoingReply, sender: str, recipients: list[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """The recipients the server refused while accepting the others (it raises when it
        refuses them all)."""
        async with client:
            refused, _ = await client.sendmail(
                sender,
                recipients,
                reply.raw,
                mail_options=["SMTPUTF8"] if needs_smtputf8([sender, *recipients]) else [],
            )
        return refused

    def deliver(self, reply: OutgoingReply) -> DeliveryResult | None:
        """None when every recipient took it; a note naming the ones refused when only some
        did (the others have it, so it is sent, and not sent again)."""
        try:
            sender = smtp_address(self.outbound.from_address)
            recipients = [smtp_address(r) for r in reply.recipients]
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        client = self._client()
        try:
            refused = asyncio.run(self._send(client, reply, sender, recipients))
        except aiosmtplib.SMTPNotSupported as exc:
            raise PermanentDeliveryError(
                f"the SMTP server at {self.smtp.host}:{self.smtp.port} does not offer SMTPUTF8, "
                f"which mail to {', '.join(recipients)} needs (letters beyond ASCII before @): "
                f"{exc}"
            ) from exc
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
            if client.data_sent:
                # Connecting, greeting, TLS, login, sender, recipients and the DATA command:
                # nothing was sent until the go-ahead. Once the message went, a relay whose
                # content filter outlasts our time-out, or a connection dropped after the
                # final dot, may have taken it.
                raise UncertainDeliveryError(
                    f"the SMTP server at {self.smtp.host}:{self.smtp.port} was sent the "
                    f"message, and its answer was lost ({type(exc).__name__}: "
                    f"{exc or 'no reason given'})"
                ) from exc
            raise TemporaryDeliveryError(f"SMTP delivery failed: {exc}") from exc
        if not refused:
            return None
        answers = "; ".join(f"{address}: {r.code} {r.message}" for address, r in refused.items())
        customer = _addressed_to(reply.raw)
        refused_to = [r for address, r in refused.items() if address.lower() in customer]
        if refused_to:
            # The customer's own address refused: copies went out, but the reply did not reach
            # the person it answers, so it does not pass as sent. Sent again (by a retry or a
            # person), the copies go out again too, which the reason says.
            copies = ", ".join(
                r for r in recipients if r.lower() not in customer and r not in refused
            )
            said = f"the SMTP server refused {answers}; the copies to {copies} went out"
            if all(400 <= r.code < 500 for r in refused_to):
                raise TemporaryDeliveryError(said)
            raise PermanentDeliveryError(said)
        return DeliveryResult(note=f"sent, but the SMTP server refused {answers}")

    def was_delivered(self, reply: OutgoingReply) -> bool | None:
        """SMTP gives no way to ask whether a message was accepted: the outbox says so."""
        return None


def _addressed_to(raw: bytes) -> set[str]:
    """The reply's To addresses, as the envelope names them (lower case)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    found = set()
    for _, address in getaddresses([str(v) for v in headers.get_all("To", [])]):
        try:
            found.add(smtp_address(address).lower())
        except ValueError:
            found.add(address.lower())
    return found
