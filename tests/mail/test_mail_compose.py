"""Reply composition: subject, recipients, threading headers, header injection."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from responder.mail.compose import (
    build_reply,
    make_message_id,
    references_for_reply,
    reply_recipients,
    reply_subject,
    with_quote,
)
from responder.mail.parse import Address, parse_email
from responder.mail.quotes import strip_quotes

SHOP = Address(name="Shop Support", address="support@shop.test")
ANN = Address(name="Ann, Customer", address="ann@example.com")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Invoice", "Re: Invoice"),
        ("Re: Invoice", "Re: Invoice"),
        ("RE: re: Re:Invoice", "Re: Invoice"),
        ("Aw: Sv: Invoice", "Re: Invoice"),
        ("Re[2]: Invoice", "Re: Invoice"),
        ("Re(3): AW: Invoice", "Re: Invoice"),
        ("Fwd: Invoice", "Re: Fwd: Invoice"),
        ("  Re:   Invoice   March ", "Re: Invoice March"),
        ("Regarding invoice", "Re: Regarding invoice"),
        ("", "Re:"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_message_ids_are_unique_and_well_formed() -> None:
    ids = {make_message_id("shop.test") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("<") and i.endswith("@shop.test>") for i in ids)
    with pytest.raises(ValueError):
        make_message_id("shop.test\r\nBcc: x@y")


PARENT = b"""From: "Ann, Customer" <ann@example.com>
Reply-To: Ann Work <ann@work.example>, Team <team@work.example>
To: support@shop.test
Subject: Invoice
Message-ID: <p3@example.com>
References: <p1@example.com> <p2@example.com> <p1@example.com>

Hello
"""


def test_reply_recipients_prefer_reply_to() -> None:
    parent = parse_email(PARENT)
    assert reply_recipients(parent) == (
        Address(name="Ann Work", address="ann@work.example"),
        Address(name="Team", address="team@work.example"),
    )
    no_reply_to = parse_email(PARENT.replace(b"Reply-To:", b"X-Old-Reply-To:"))
    assert reply_recipients(no_reply_to) == (ANN,)


def test_references_for_reply() -> None:
    parent = parse_email(PARENT)
    assert references_for_reply(parent) == (
        "<p1@example.com>",
        "<p2@example.com>",
        "<p3@example.com>",
    )


def _build(**overrides: object) -> bytes:
    args: dict[str, object] = {
        "to": (ANN,),
        "from_": SHOP,
        "subject": "Re: Invoice",
        "body": "Dear Ann,\n\nwe fixed it. Grüße\n",
        "message_id": "<r1@shop.test>",
        "in_reply_to": "<p3@example.com>",
        "references": ("<p1@example.com>", "<p3@example.com>"),
        "date": datetime(2024, 3, 4, 10, 15, tzinfo=UTC),
    }
    args.update(overrides)
    return build_reply(**args)  # type: ignore[arg-type]


def test_build_reply_headers_and_body() -> None:
    raw = _build()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["From"] == "Shop Support <support@shop.test>"
    assert msg["To"] == '"Ann, Customer" <ann@example.com>'
    assert msg["Subject"] == "Re: Invoice"
    assert msg["Message-ID"] == "<r1@shop.test>"
    assert msg["In-Reply-To"] == "<p3@example.com>"
    assert msg["References"] == "<p1@example.com> <p3@example.com>"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Date"] == "Mon, 04 Mar 2024 10:15:00 +0000"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()  # the text first: clients show the last part they can
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert msg["Auto-Submitted"] is None
    assert (
        msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        == "Dear Ann,\n\nwe fixed it. Grüße\n"
    )


def test_references_end_with_the_parent_and_have_no_duplicates() -> None:
    msg = email.message_from_bytes(
        _build(references=("<a@x>", "<b@x>", "<a@x>"), in_reply_to="<c@x>"), policy=policy.default
    )
    assert msg["References"] == "<a@x> <b@x> <c@x>"


def test_first_message_has_no_threading_headers() -> None:
    msg = email.message_from_bytes(_build(in_reply_to=None, references=()), policy=policy.default)
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_auto_submitted_and_extra_headers() -> None:
    raw = _build(auto_submitted=True, extra_headers={"X-Responder-Draft": "42"})
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Responder-Draft"] == "42"


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Re: hi\r\nBcc: victim@example.com"},
        {"subject": "Re: hi\nBcc: victim@example.com"},
        {"to": (Address(name="Ann\r\nBcc: v@x", address="ann@example.com"),)},
        {"to": (Address(name="Ann", address="ann@example.com\nBcc: v@x"),)},
        {"from_": Address(name="Shop\r", address="support@shop.test")},
        {"message_id": "<r1@shop.test>\r\nBcc: v@x"},
        {"in_reply_to": "<p@x>\nBcc: v@x"},
        {"references": ("<a@x>\r\nBcc: v@x",)},
        {"extra_headers": {"X-Note": "a\r\nBcc: v@x"}},
        {"extra_headers": {"X-Note\r\nBcc": "v@x"}},
    ],
)
def test_header_injection_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        _build(**overrides)


def test_extra_headers_cannot_override_threading() -> None:
    with pytest.raises(ValueError):
        _build(extra_headers={"In-Reply-To": "<other@x>"})


def test_reply_needs_a_recipient() -> None:
    with pytest.raises(ValueError):
        _build(to=())


def test_long_unicode_subject_and_body_roundtrip() -> None:
    subject = "Re: " + "Rechnung für März und April " * 8
    body = "Grüße " * 500
    msg = email.message_from_bytes(
        _build(subject=subject.strip(), body=body), policy=policy.default
    )
    assert msg["Subject"] == subject.strip()
    assert msg.get_body(("plain",)).get_content().strip() == body.strip()
    assert all(
        len(line) <= 998 for line in _build(subject=subject.strip(), body=body).split(b"\r\n")
    )


def test_an_international_domain_is_written_in_its_ascii_form_and_the_mail_stays_7bit() -> None:
    raw = _build(to=(Address(name="Zoë", address="zoe@müller.test"),))
    assert raw.isascii()
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "zoe@xn--mller-kva.test"
    assert msg["To"].addresses[0].display_name == "Zoë"


def test_a_mailbox_name_beyond_ascii_gets_utf8_headers_not_an_encoded_word() -> None:
    """An encoded word in the address would name another mailbox; SMTPUTF8 mail is UTF-8."""
    raw = _build(to=(Address(name="Zoë Brennan", address="zoë@mail.test"),))
    assert b"=?" not in raw.split(b"\r\n\r\n")[0]
    msg = email.message_from_string(raw.decode("utf-8"), policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "zoë@mail.test"
    assert msg["To"].addresses[0].display_name == "Zoë Brennan"
    assert msg["Subject"] == "Re: Invoice"
    assert (
        msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        == "Dear Ann,\n\nwe fixed it. Grüße\n"
    )
    assert parse_email(raw).to == (Address(name="Zoë Brennan", address="zoë@mail.test"),)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("zo\x07e@mail.test", "must be printable"),
        (f"zoe@{'a' * 64}.test", "not a valid domain"),
        ("zoe.mail.test", "not an email address"),
    ],
)
def test_an_address_no_server_could_deliver_to_is_refused(address: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _build(to=(Address(name="", address=address),))


def test_the_customers_words_are_quoted_under_an_attribution_our_stripper_knows() -> None:
    ann = Address("Ann Byrne", "ann@mail.test")
    written = datetime(2026, 12, 5, 9, 21, tzinfo=UTC)
    text = "My bill doubled.\n\nWhy?\n"
    reply = with_quote(
        "Dear Ann,\n\nwe fixed it.\n", text, sender=ann, written_at=written, language="en"
    )
    assert reply == (
        "Dear Ann,\n\nwe fixed it.\n\n"
        "On 2026-12-05 09:21 UTC, Ann Byrne <ann@mail.test> wrote:\n"
        "> My bill doubled.\n>\n> Why?\n"
    )
    # Her next reply carries ours quoted in turn: what she writes on top is all that is read.
    assert strip_quotes(reply) == "Dear Ann,\n\nwe fixed it."
    german = with_quote("Guten Tag,\n", text, sender=ann, written_at=written, language="de")
    assert "\nAm 2026-12-05 09:21 UTC schrieb Ann Byrne <ann@mail.test>:\n" in german
    assert strip_quotes(german) == "Guten Tag,"
    assert with_quote("Hi,\n", "  \n", sender=ann, written_at=written, language="en") == "Hi,\n"

    # The team's time zone, named as the customer reads it; the clocks change in between.
    def berlin(at: datetime) -> str:
        return with_quote(
            "Hallo,\n", text, sender=ann, written_at=at, language="de", timezone="Europe/Berlin"
        )

    assert "\nAm 2026-12-05 10:21 CET schrieb Ann Byrne" in berlin(written)
    assert "\nAm 2026-07-03 11:21 CEST schrieb" in berlin(written.replace(month=7, day=3))
    assert strip_quotes(berlin(written)) == "Hallo,"


def test_a_long_message_is_quoted_in_part() -> None:
    ann = Address("", "ann@mail.test")
    written = datetime(2026, 12, 5, 9, 21, tzinfo=UTC)
    log = "\n".join(f"line {n}" for n in range(1, 1001))
    reply = with_quote("Hi,\n", log, sender=ann, written_at=written, language="fr")
    lines = reply.splitlines()
    assert lines[2] == "Le 2026-12-05 09:21 UTC, ann@mail.test a écrit :"
    assert lines[3] == "> line 1" and lines[-2] == "> line 200" and lines[-1] == "> […]"
