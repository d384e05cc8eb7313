from __future__ import annotations

from sqlalchemy import select

from responder.db.models import Message
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.review import retry
from responder.runtime import Runtime
from tests.helpers import drop


def test_unparseable_message_is_quarantined_with_raw_kept_and_retryable(
    rt: Runtime, worker: Worker
) -> None:
    drop(rt, b"", "empty")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message.state == "quarantined"
        assert message.state_reason.startswith("cannot parse:")
        assert message.raw == b""
        message_id = message.id
    with transaction(rt.factory) as session:
        assert retry(session, message_id, "tester").state == "received"
    worker.drain()
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "quarantined"


def test_oversize_message_is_kept_raw_and_quarantined(rt: Runtime, worker: Worker) -> None:
    rt.settings.pipeline.max_message_bytes = 1000
    raw = b"From: a@b.test\r\nSubject: big\r\n\r\n" + b"x" * 5000
    drop(rt, raw, "big")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message.state == "quarantined"
        assert "over the 1,000 byte limit ([pipeline] max_message_bytes)" in message.state_reason
        assert message.raw == raw


def test_nul_bytes_and_huge_headers_are_stored_on_every_database(
    rt: Runtime, worker: Worker
) -> None:
    """PostgreSQL refuses NUL in text and enforces VARCHAR lengths; the parsed copy adapts."""
    raw = (
        b"From: Nul \x00 Person <nul@mail.test>\r\n"
        b"Subject: bill \x00 question\r\n"
        b"Message-ID: <" + b"x" * 2000 + b"@mail.test>\r\n"
        b"X-Long: " + b"a" * 1_000_000 + b"\r\n"
        b"\r\nMy bill has a \x00 in it and is wrong.\r\n"
    )
    drop(rt, raw, "nul")
    worker.drain()
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message.state in ("in_review", "ignored", "quarantined"), message.state_reason
        assert message.state != "received"
        assert message.raw == raw, "the raw bytes are kept exactly"
        assert "\x00" not in message.subject and "\x00" not in message.text
