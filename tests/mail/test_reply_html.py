"""The HTML part of a reply: the same words as the text part, escaped, with links and quotes;
and a queued reply dated anew for the attempt that sends it."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

from responder.mail.compose import build_reply, redated
from responder.mail.parse import Address
from responder.mail.reply_html import reply_html
from tests.html_document import HtmlDocument

HOSTILE = 'Hi <script>alert("x")</script> and <a href="https://evil.test">click</a> & <b>bold'


def test_typed_markup_is_shown_as_text_and_never_becomes_markup() -> None:
    document = HtmlDocument(reply_html(HOSTILE))
    assert "script" not in document.tags()
    assert "b" not in document.tags()
    # The address typed in the tag is a link like any typed address, showing itself.
    links = [attrs for tag, attrs in document.elements if tag == "a"]
    assert [(a["href"], sorted(a)) for a in links] == [("https://evil.test", ["href", "style"])]
    assert " ".join(document.words()) == " ".join(HOSTILE.split())


def test_paragraphs_line_breaks_links_and_quotes() -> None:
    text = (
        "Dear Ann,\n\nyour refund is on https://shop.example.com/refunds?id=7&x=1\n"
        "or ask billing@shop.ie.\n\nOn 2024-03-04, Ann wrote:\n> my bill\n>\n>> older words\n"
    )
    html = reply_html(text)
    document = HtmlDocument(html)
    assert document.tags().count("p") == 5
    assert document.tags().count("br") == 1
    assert document.tags().count("blockquote") == 2  # the quote, and the quote inside it
    links = [attrs["href"] for tag, attrs in document.elements if tag == "a"]
    assert links == ["https://shop.example.com/refunds?id=7&x=1", "mailto:billing@shop.ie"]
    assert document.words() == text.replace(">", " ").split()


def test_only_web_and_mail_addresses_are_links() -> None:
    document = HtmlDocument(reply_html("javascript:alert(1) ftp://files.test www.shop.ie setup.py"))
    assert "a" not in document.tags()


def test_a_document_of_its_own_in_the_replys_language() -> None:
    document = HtmlDocument(reply_html("Grüße", language="de", title="Re: <Rechnung>"))
    assert document.elements[0] == ("html", {"lang": "de", "dir": "ltr"})
    assert ("meta", {"charset": "utf-8"}) in document.elements
    assert {"script", "img", "link", "style", "iframe"}.isdisjoint(document.tags())
    assert HtmlDocument(reply_html("مرحبا", language="ar")).elements[0][1]["dir"] == "rtl"
    assert HtmlDocument(reply_html("x", language='en" onload="x')).elements[0] == ("html", {})


def test_thousands_of_quote_marks_nest_a_few_levels_only() -> None:
    document = HtmlDocument(reply_html(">" * 5000 + " deep"))
    assert document.tags().count("blockquote") == 8


def _reply(date: datetime, attachments: list[tuple[str, str, bytes]] | None = None) -> bytes:
    return build_reply(
        to=(Address("Ann", "ann@example.com"),),
        from_=Address("Shop", "support@shop.test"),
        subject="Re: Invoice",
        body="See https://shop.example.com\n",
        message_id="<r1@shop.test>",
        in_reply_to="<p1@example.com>",
        references=("<p1@example.com>",),
        date=date,
        attachments=attachments or [],
    )


def test_a_redated_reply_changes_its_date_and_nothing_else() -> None:
    first = _reply(datetime(2024, 3, 4, 10, 15, tzinfo=UTC), [("a.pdf", "application/pdf", b"%")])
    later = redated(first, datetime(2024, 3, 4, 11, 0, 5, tzinfo=UTC))
    msg = email.message_from_bytes(later, policy=policy.default)
    assert msg["Date"] == "Mon, 04 Mar 2024 11:00:05 +0000"
    assert len(msg.get_all("Date")) == 1
    assert msg["Message-ID"] == "<r1@shop.test>"
    assert later.replace(b"11:00:05", b"10:15:00") == first
