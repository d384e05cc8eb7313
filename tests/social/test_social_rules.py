"""The plain rules behind sending: length limits, the reply window, Retry-After, error text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from responder.channels.social.events import split_meta, split_x
from responder.channels.social.senders import (
    length_problem,
    platform_error,
    retry_after_seconds,
    window_closed,
)
from tests.social.payloads import messenger_read, whatsapp_status, x_read

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_length_limits_per_platform() -> None:
    assert length_problem("messenger", "a" * 2000) is None
    assert "2,001 characters" in (length_problem("messenger", "a" * 2001) or "")
    assert length_problem("x", "a" * 10000) is None
    assert length_problem("x", "a" * 10001)
    assert length_problem("whatsapp", "a" * 4096) is None
    assert length_problem("instagram", "é" * 500) is None
    assert "1,002 bytes" in (length_problem("instagram", "é" * 501) or "")
    assert length_problem("maildir", "a" * 100000) is None


def test_the_window_applies_to_meta_platforms_only() -> None:
    wrote = NOW - timedelta(hours=25)
    assert window_closed("whatsapp", wrote, NOW, 24) == wrote + timedelta(hours=24)
    assert window_closed("messenger", NOW - timedelta(hours=23), NOW, 24) is None
    assert window_closed("x", wrote, NOW, 24) is None


def test_retry_after_in_seconds_as_a_date_or_as_x_reset() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "120"})) == 120
    date = "Mon, 23 Nov 2026 12:01:00 GMT"
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), NOW.timestamp()) == 60
    reset = str(int(NOW.timestamp()) + 900)
    assert retry_after_seconds(httpx.Headers({"x-rate-limit-reset": reset}), NOW.timestamp()) == 900
    assert retry_after_seconds(httpx.Headers({})) is None
    for odd in (b"\xb2", b"\xb9\xb2\xb3"):  # read as Latin-1: digits to isdigit, none to float
        assert retry_after_seconds(httpx.Headers({"Retry-After": odd})) is None
        assert retry_after_seconds(httpx.Headers({"x-rate-limit-reset": odd})) is None


def test_platform_error_text() -> None:
    graph = httpx.Response(400, json={"error": {"message": "(#100) Bad", "code": 100}})
    assert platform_error(graph) == "(#100) Bad (code 100)"
    x = httpx.Response(403, json={"title": "Forbidden", "detail": "You cannot send DMs to them"})
    assert platform_error(x) == "You cannot send DMs to them"
    assert platform_error(httpx.Response(502, text="Bad gateway")) == "Bad gateway"


def test_receipts_are_split_out_of_the_bodies() -> None:
    (read,) = split_meta(messenger_read()).receipts
    assert (read.kind, read.status, read.recipient_id) == ("messenger", "read", "6543210987654321")
    assert read.watermark is not None
    (status,) = split_meta(whatsapp_status("wamid.X", "delivered")).receipts
    assert (status.status, status.external_ids) == ("delivered", ("wamid.X",))
    (x,) = split_x(x_read("dm9")).receipts
    assert (x.status, x.external_ids, x.recipient_id) == ("read", ("dm9",), "3001969357")
