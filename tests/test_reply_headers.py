"""The threading headers a customer's mail client reads on our replies and acknowledgements,
taken from the bytes the SMTP server received: ids written as they are (never as RFC 2047
encoded words, which clients do not decode there), the chain of RFC 5322 3.6.4, kept short."""

from __future__ import annotations

import email
from email.policy import compat32

import msgspec
import pytest
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import Message
from responder.db.session import transaction
from responder.mail.message_ids import MAX_REFERENCES
from responder.pipeline.worker import Worker
from responder.review import approve
from responder.runtime import Runtime
from tests.helpers import drop, make_email
from tests.smtp_server import SmtpServer, send_through, smtp_server

__all__ = ["smtp_server"]

# Exchange Online writes ids of about ninety characters: longer than a header line.
OUTLOOK_ID = (
    "<DB9PR10MB7259A1B2C3D4E5F60718293A4B5C6D7E8F9A0B@DB9PR10MB7259.EURPRD10.PROD.OUTLOOK.COM>"
)
EARLIER_ID = (
    "<AM0PR07MB5412C9D8D2F3A5E1B0E2A7F8D1A92B3C4D5E6F@AM0PR07MB5412.eurprd07.prod.outlook.com>"
)


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return send_through(settings, smtp_server, timeout=5.0)


def answered(rt: Runtime, worker: Worker, server: SmtpServer, raw: bytes) -> dict[str, bytes]:
    """What the customer receives for `raw`: the acknowledgement and the approved reply."""
    rt.settings = msgspec.structs.replace(
        rt.settings,
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=True, when="always"),
    )
    drop(rt, raw, "customer")
    worker.drain()
    with transaction(rt.factory) as session:
        for message_id in session.scalars(select(Message.id).where(Message.state == "in_review")):
            approve(session, message_id, None, rt.settings.outbound)
    worker.drain()
    ack, reply = server.handler.received
    return {"acknowledgement": ack.raw, "reply": reply.raw}


def ids_in(raw: bytes, name: str) -> list[str]:
    """The header's ids as a client that matches them byte for byte reads them (unfolded,
    nothing decoded)."""
    value = email.message_from_bytes(raw, policy=compat32)[name]
    return str(value or "").split()


def test_long_outlook_ids_are_written_as_they_are(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    sent = answered(
        rt,
        worker,
        smtp_server,
        make_email(
            message_id=OUTLOOK_ID,
            subject="RE: Roaming charges on my bill",
            headers={"In-Reply-To": EARLIER_ID, "References": EARLIER_ID},
        ),
    )
    for what, raw in sent.items():
        assert ids_in(raw, "In-Reply-To") == [OUTLOOK_ID], what
        assert ids_in(raw, "References") == [EARLIER_ID, OUTLOOK_ID], what
        (own,) = ids_in(raw, "Message-ID")
        assert own.startswith("<") and own.endswith("@northwind-mobile.test>"), what
        head = raw.split(b"\r\n\r\n")[0]
        assert b"=?" not in head, what
        assert max(len(line) for line in head.split(b"\r\n")) <= 998, what


def test_a_parent_without_references_passes_on_its_in_reply_to(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    sent = answered(
        rt,
        worker,
        smtp_server,
        make_email(
            message_id="<m2@mail.test>",
            subject="Re: Roaming charges on my bill",
            headers={"In-Reply-To": "<our-first-answer@northwind-mobile.test>"},
        ),
    )
    for what, raw in sent.items():
        assert ids_in(raw, "References") == [
            "<our-first-answer@northwind-mobile.test>",
            "<m2@mail.test>",
        ], what


def test_a_long_chain_keeps_the_first_id_and_the_latest(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    chain = [f"<t{n}@mail.test>" for n in range(60)]
    sent = answered(
        rt,
        worker,
        smtp_server,
        make_email(
            message_id="<m60@mail.test>",
            subject="Re: Roaming charges on my bill",
            headers={"In-Reply-To": chain[-1], "References": " ".join(chain)},
        ),
    )
    for what, raw in sent.items():
        kept = ids_in(raw, "References")
        assert len(kept) == MAX_REFERENCES, what
        assert kept[0] == "<t0@mail.test>", "the thread's root, for clients that thread by it"
        assert kept[1:] == [*chain[-(MAX_REFERENCES - 2) :], "<m60@mail.test>"], what
        assert ids_in(raw, "In-Reply-To") == ["<m60@mail.test>"], what


def test_an_international_sending_domain_names_our_ids_in_ascii(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    rt.settings.outbound.from_address = "kundendienst@nordwind-bücher.test"
    sent = answered(rt, worker, smtp_server, make_email())
    for what, raw in sent.items():
        (own,) = ids_in(raw, "Message-ID")
        assert own.endswith("@xn--nordwind-bcher-psb.test>"), what
        assert email.message_from_bytes(raw, policy=compat32)["From"].endswith(
            "<kundendienst@xn--nordwind-bcher-psb.test>"
        ), what


def test_only_the_acknowledgement_asks_machines_not_to_answer(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    sent = answered(rt, worker, smtp_server, make_email())
    ack = email.message_from_bytes(sent["acknowledgement"], policy=compat32)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "OOF, AutoReply", "no out-of-office back from Outlook"
    reply = email.message_from_bytes(sent["reply"], policy=compat32)
    assert reply["Auto-Submitted"] is None and reply["X-Auto-Response-Suppress"] is None
    assert not [name for name in reply if name.lower().startswith(("x-", "list-", "precedence"))]
