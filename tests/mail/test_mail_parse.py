"""parse_email on odd input: charsets, HTML-only mail, attachments, addresses, garbage."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC
from email import policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.mail.parse import Address, MessageParseError, parse_email


def _message(headers: str, body: bytes, *, content_type: str = "text/plain") -> bytes:
    head = f"From: Ann <ann@example.com>\nTo: help@shop.test\n{headers}"
    if "content-type" not in headers.lower():
        head += f"Content-Type: {content_type}\n"
    return head.encode("ascii") + b"\n" + body


def test_declared_charset_is_used() -> None:
    raw = _message(
        "Content-Type: text/plain; charset=iso-8859-2\n", "Dzień dobry, żółć".encode("iso-8859-2")
    )
    assert parse_email(raw).text == "Dzień dobry, żółć"


def test_unknown_charset_falls_back_to_detection() -> None:
    body = "Grüße aus Köln, die Rechnung ist falsch.".encode()
    raw = _message("Content-Type: text/plain; charset=x-no-such-charset\n", body)
    assert parse_email(raw).text == "Grüße aus Köln, die Rechnung ist falsch."


def test_wrong_charset_falls_back_to_detection() -> None:
    # Declared US-ASCII but the bytes are UTF-8: the declared charset fails, UTF-8 fits.
    raw = _message("Content-Type: text/plain; charset=us-ascii\n", "Crème brûlée".encode())
    assert parse_email(raw).text == "Crème brûlée"


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1252", "iso-8859-15"])
def test_utf8_labelled_latin_is_read_as_utf8(declared: str) -> None:
    """A web form or client that declares a Latin charset but writes UTF-8: no mojibake
    ("CrÃ¨me")."""
    raw = _message(
        f"Content-Type: text/plain; charset={declared}\n", "Crème brûlée for Zoë, 20 €".encode()
    )
    assert parse_email(raw).text == "Crème brûlée for Zoë, 20 €"


def test_genuine_latin1_still_reads_as_declared() -> None:
    raw = _message(
        "Content-Type: text/plain; charset=iso-8859-1\n", "Crème brûlée, Grüße".encode("latin-1")
    )
    assert parse_email(raw).text == "Crème brûlée, Grüße"


def test_undecodable_bytes_are_replaced_not_fatal() -> None:
    raw = _message("Content-Type: text/plain; charset=utf-8\n", b"ok \xff\xfe\xfa end")
    text = parse_email(raw).text
    assert text.startswith("ok") and text.endswith("end")


def test_eight_bit_header_uses_the_body_charset() -> None:
    raw = (
        b"From: =?utf-8?q?X?= <x@example.com>\n"
        b"Subject: Gr\xfc\xdfe und Dank\n"
        b"Content-Type: text/plain; charset=iso-8859-1\n\nHallo"
    )
    assert parse_email(raw).subject == "Grüße und Dank"


def test_eight_bit_utf8_header_and_name() -> None:
    raw = "From: Jürgen Müller <j@example.com>\nSubject: Größe\n\nHallo".encode()
    parsed = parse_email(raw)
    assert parsed.subject == "Größe"
    assert parsed.sender == Address(name="Jürgen Müller", address="j@example.com")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?b?R3LDvMOfZQ?=", "Grüße"),  # missing base64 padding
        ("=?iso-8859-1?q?R=E9ponse?= =?iso-8859-1?q?_rapide?=", "Réponse rapide"),
        ("=?x-unknown?q?caf=C3=A9?=", "café"),  # unknown charset, UTF-8 bytes
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),  # not an encoded word at all
    ],
)
def test_encoded_words_decoded_as_well_as_possible(header: str, expected: str) -> None:
    raw = f"From: a@example.com\nSubject: {header}\n\nbody".encode()
    assert parse_email(raw).subject == expected


def test_addresses_with_commas_in_quoted_and_encoded_names() -> None:
    raw = (
        b'From: "Doe, John" <John.Doe@EXAMPLE.com>\n'
        b'To: =?utf-8?q?M=C3=BCller=2C_Hans?= <hans@x.de>, "Smith, Ann" <ann@y.org>,\n'
        b" plain@z.net\n"
        b"Cc: <cc@Example.ORG>\n"
        b"Reply-To: Support Desk <desk@example.com>\n\nHi"
    )
    parsed = parse_email(raw)
    assert parsed.sender == Address(name="Doe, John", address="John.Doe@example.com")
    assert parsed.to == (
        Address(name="Müller, Hans", address="hans@x.de"),
        Address(name="Smith, Ann", address="ann@y.org"),
        Address(name="", address="plain@z.net"),
    )
    assert parsed.cc == (Address(name="", address="cc@example.org"),)
    assert parsed.reply_to == (Address(name="Support Desk", address="desk@example.com"),)


def test_ids_date_and_headers() -> None:
    raw = (
        b"From: a@example.com\n"
        b"Message-ID: bare-id@example.com\n"
        b"In-Reply-To: <parent@x> (Ann's message)\n"
        b"References: <a@x>\n <b@x> <a@x>\n"
        b"Date: Mon, 4 Mar 2024 10:15:00 -0000\n"
        b"X-Custom: One\n"
        b"X-Custom: Two\n\nbody"
    )
    parsed = parse_email(raw)
    assert parsed.message_id == "<bare-id@example.com>"
    assert parsed.in_reply_to == "<parent@x>"
    assert parsed.references == ("<a@x>", "<b@x>")
    assert parsed.date is not None and parsed.date.tzinfo is not None
    assert parsed.date.astimezone(UTC).hour == 10
    assert parsed.header("x-custom") == "One"
    assert [v for k, v in parsed.headers if k == "x-custom"] == ["One", "Two"]


def test_bad_date_is_none() -> None:
    assert parse_email(b"From: a@example.com\nDate: yesterday-ish\n\nx").date is None


def test_html_only_mail_is_converted_and_sanitised() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
        '<p>Hello <b>team</b>,</p><p onclick="steal()">my bill is wrong.</p>'
        "<ul><li>March</li><li>April</li></ul>"
        '<a href="javascript:alert(1)">click</a></body></html>'
    )
    parsed = parse_email(_message("", html.encode(), content_type="text/html; charset=utf-8"))
    assert "Hello team," in parsed.text
    assert "my bill is wrong." in parsed.text
    assert "March" in parsed.text and "April" in parsed.text
    assert "alert" not in parsed.text and "color" not in parsed.text
    assert parsed.html is not None
    assert "<script" not in parsed.html and "onclick" not in parsed.html
    assert "javascript:" not in parsed.html
    assert "my bill is wrong." in parsed.new_text


def test_alternative_prefers_plain_text_and_keeps_sanitised_html() -> None:
    raw = b"""From: a@example.com
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Plain version
--b
Content-Type: text/html; charset=utf-8

<p>HTML version</p><script>x()</script>
--b--
"""
    parsed = parse_email(raw)
    assert parsed.text == "Plain version"
    assert parsed.html is not None and "HTML version" in parsed.html and "script" not in parsed.html
    assert parsed.content_type == "multipart/alternative"
    assert parsed.attachments == ()


def _with_attachment(payload: bytes, filename: str = "invoice.pdf") -> bytes:
    encoded = base64.encodebytes(payload).decode()
    return f"""From: a@example.com
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

See attached.
--b
Content-Type: application/pdf
Content-Disposition: attachment; filename*=utf-8''{filename}
Content-Transfer-Encoding: base64

{encoded}
--b--
""".encode()


def test_attachment_name_type_size_and_content() -> None:
    payload = bytes(range(256)) * 4
    parsed = parse_email(_with_attachment(payload, "Rechnung%20M%C3%A4rz.pdf"))
    assert parsed.text == "See attached."
    (attachment,) = parsed.attachments
    assert attachment.filename == "Rechnung März.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(payload)
    assert attachment.content == payload


def test_oversize_attachment_keeps_size_but_not_content() -> None:
    payload = b"x" * 5000
    parsed = parse_email(_with_attachment(payload), max_attachment_bytes=1000)
    (attachment,) = parsed.attachments
    assert attachment.size == 5000
    assert attachment.content is None


def test_defects_are_recorded_not_fatal() -> None:
    raw = b"""From: a@example.com
Content-Type: multipart/mixed; boundary="never-closed"

--never-closed
Content-Type: text/plain

Still readable
"""
    parsed = parse_email(raw)
    assert "Still readable" in parsed.text
    assert parsed.defects


def test_body_without_headers_is_still_a_message() -> None:
    parsed = parse_email(b"just some text\nwithout headers\n")
    assert parsed.sender is None
    assert "without headers" in parsed.text


@pytest.mark.parametrize("raw", [b"", b"\n", b"\r\n\r\n", b"   "])
def test_nothing_is_a_parse_error_with_a_reason(raw: bytes) -> None:
    with pytest.raises(MessageParseError) as info:
        parse_email(raw)
    assert str(info.value)


def test_deeply_nested_multipart_is_bounded() -> None:
    depth = 300
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    tail = "".join(f"\n--b{i}--" for i in reversed(range(depth)))
    raw = ("From: a@example.com\n" + head + "Content-Type: text/plain\n\ndeep" + tail).encode()
    try:
        parsed = parse_email(raw)
    except MessageParseError as exc:
        assert str(exc)
    else:
        assert parsed.defects


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    with contextlib.suppress(MessageParseError):
        parse_email(raw)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b.c\n",
                b"From: \xff\xfe <\x80@x>\n",
                b"Subject: =?utf-8?b?////?=\n",
                b"Content-Type: multipart/mixed; boundary=\n",
                b'Content-Type: text/plain; charset="\xff"\n',
                b"Content-Transfer-Encoding: base64\n",
                b"Date: Mon, 99 Foo 2024 99:99:99 +9999\n",
                b'To: "unterminated <x@y>\n',
                b"\n",
                b"--\n",
                b"=?=?=\n",
                b"\x00\x01\x02\n",
            ]
        ),
        max_size=12,
    )
)
def test_hostile_header_mixtures_never_raise_anything_else(lines: list[bytes]) -> None:
    with contextlib.suppress(MessageParseError):
        parse_email(b"".join(lines))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.sampled_from(["X-Mailer", "Received", "Comments", "List-Id", "Auto-Submitted"]),
    st.lists(
        st.sampled_from(["word", " ", "\t", "(note)", '"q"', "\\", ";", "=", "?", "\n ", "\n\t"]),
        max_size=12,
    ),
)
def test_plain_headers_read_as_the_stdlib_decodes_them(name: str, pieces: list[str]) -> None:
    """Plain ASCII headers skip the stdlib's header parser; what staff and the ignore rules
    read of them must not change by it."""
    value = "".join(pieces).strip() or "x"
    parsed = parse_email(_message(f"{name}: {value}\n", b"Hello"))
    assert parsed.header(name) == str(policy.default.header_fetch_parse(name, value))
