"""Simple cases of the public email interface: parse, strip, guard, compose, thread keys."""

from __future__ import annotations

import email
from email import policy

import pytest

from responder.mail.compose import (
    build_reply,
    make_message_id,
    references_for_reply,
    reply_recipients,
    reply_subject,
)
from responder.mail.guard import ignore_reason
from responder.mail.parse import Address, MessageParseError, parse_email
from responder.mail.quotes import strip_quotes
from responder.mail.threading_keys import normalise_subject

SIMPLE = b"""From: "Doe, John" <John@Example.COM>
To: support@shop.test
Subject: Where is my order?
Message-ID: <abc@mail.example.com>
References: <a@x> <b@x>
Date: Mon, 2 Apr 2012 17:44:22 +0400
Content-Type: text/plain; charset=utf-8

Hello, my order has not arrived.

On Mon, Apr 2, 2012 at 6:26 PM, Support <support@shop.test> wrote:

> Your order has shipped.
"""

OWN = frozenset({"support@shop.test"})


def test_parse_simple_message() -> None:
    parsed = parse_email(SIMPLE)
    assert parsed.message_id == "<abc@mail.example.com>"
    assert parsed.references == ("<a@x>", "<b@x>")
    assert parsed.subject == "Where is my order?"
    assert parsed.sender == Address(name="Doe, John", address="John@example.com")
    assert parsed.to == (Address(name="", address="support@shop.test"),)
    assert parsed.date is not None and parsed.date.tzinfo is not None
    assert parsed.header("SUBJECT") == "Where is my order?"
    assert parsed.content_type == "text/plain"
    assert "Your order has shipped" in parsed.text
    assert parsed.new_text == "Hello, my order has not arrived."


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n  "])
def test_empty_input_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(MessageParseError):
        parse_email(raw)


def test_strip_quotes_falls_back_to_whole_text() -> None:
    assert strip_quotes("> only quoted\n") == "> only quoted"
    assert strip_quotes("Just a message.\n") == "Just a message."


def test_guard_lets_customer_mail_through_and_stops_machines() -> None:
    assert ignore_reason(parse_email(SIMPLE), own_addresses=OWN) is None
    bounce = SIMPLE.replace(b'From: "Doe, John" <John@Example.COM>', b"From: MAILER-DAEMON@x.org")
    assert ignore_reason(parse_email(bounce), own_addresses=OWN)


def test_build_reply_threads_and_parses_back() -> None:
    parent = parse_email(SIMPLE)
    raw = build_reply(
        to=reply_recipients(parent),
        from_=Address(name="Shop", address="support@shop.test"),
        subject=reply_subject(parent.subject),
        body="We are on it. Grüße",
        message_id=make_message_id("shop.test"),
        in_reply_to=parent.message_id,
        references=references_for_reply(parent),
    )
    assert b"\r\n" in raw
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Re: Where is my order?"
    assert msg["In-Reply-To"] == "<abc@mail.example.com>"
    assert msg["References"] == "<a@x> <b@x> <abc@mail.example.com>"
    assert msg.get_body(("plain",)).get_content().strip() == "We are on it. Grüße"
    assert msg["Auto-Submitted"] is None


def test_normalise_subject() -> None:
    assert normalise_subject("RE: AW: [Ticket #12]  Where IS   my order?") == "where is my order?"
