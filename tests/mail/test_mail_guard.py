"""One test per guard rule: machines never get a draft; people do."""

from __future__ import annotations

import pytest

from responder.mail.guard import ignore_reason
from responder.mail.parse import parse_email

OWN = frozenset({"support@shop.test"})


def _mail(
    headers: str = "", body: str = "Hello, my invoice is wrong. Can you help?", **kw: str
) -> bytes:
    fields = {
        "From": "Ann Customer <ann@example.com>",
        "To": "support@shop.test",
        "Subject": "Invoice question",
    }
    fields.update({k.replace("_", "-"): v for k, v in kw.items()})
    head = "".join(f"{k}: {v}\n" for k, v in fields.items()) + headers
    return (head + "\n" + body).encode()


def _reason(raw: bytes) -> str | None:
    return ignore_reason(parse_email(raw), own_addresses=OWN)


def test_customer_mail_is_not_ignored() -> None:
    assert _reason(_mail()) is None


def test_auto_submitted_no_is_not_ignored() -> None:
    assert _reason(_mail("Auto-Submitted: no\n")) is None


@pytest.mark.parametrize(
    "value", ["auto-replied", "auto-generated", "auto-notified; owner-email=x@y"]
)
def test_auto_submitted(value: str) -> None:
    reason = _reason(_mail(f"Auto-Submitted: {value}\n"))
    assert reason and "Auto-Submitted" in reason


@pytest.mark.parametrize("value", ["<>", " < > "])
def test_null_return_path(value: str) -> None:
    reason = _reason(_mail(f"Return-Path: {value}\n"))
    assert reason and "Return-Path" in reason


def test_normal_return_path_is_fine() -> None:
    assert _reason(_mail("Return-Path: <ann@example.com>\n")) is None


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.com",
        "Mail Delivery System <Mailer-Daemon@example.com>",
        "postmaster@example.com",
        "no-reply@shop.example",
        "noreply@example.com",
        "Example <do-not-reply@example.com>",
        "donotreply@example.com",
        "no_reply+tag@example.com",
        "MAILER-DAEMON",
    ],
)
def test_machine_senders(sender: str) -> None:
    assert _reason(_mail(From=sender))


@pytest.mark.parametrize(
    "sender", ["replyhappy@example.com", "nora.eply@example.com", "postmasters-wife@x.org"]
)
def test_people_with_similar_names_are_fine(sender: str) -> None:
    assert _reason(_mail(From=sender)) is None


def test_no_sender_at_all() -> None:
    raw = b"To: support@shop.test\nSubject: hi\n\nhello"
    assert _reason(raw)


@pytest.mark.parametrize(
    "header",
    [
        "List-Id: <news.example.com>\n",
        "List-Unsubscribe: <mailto:unsub@example.com>\n",
        "Precedence: bulk\n",
        "Precedence: list\n",
        "Precedence: junk\n",
    ],
)
def test_list_and_bulk_mail(header: str) -> None:
    assert _reason(_mail(header))


def test_precedence_first_class_is_fine() -> None:
    assert _reason(_mail("Precedence: first-class\n")) is None


def _report(report_type: str, part_type: str) -> bytes:
    return f"""From: Ann Customer <ann@example.com>
To: support@shop.test
Subject: Report
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="r"

--r
Content-Type: text/plain

Human readable part.
--r
Content-Type: {part_type}

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; nobody@example.com
Action: failed
Status: 5.1.1
--r--
""".encode()


@pytest.mark.parametrize(
    ("report_type", "part_type", "word"),
    [
        ("delivery-status", "message/delivery-status", "delivery"),
        ("disposition-notification", "message/disposition-notification", "receipt"),
        ("feedback-report", "message/feedback-report", "complaint"),
        ("something-new", "text/plain", "multipart/report"),
    ],
)
def test_reports(report_type: str, part_type: str, word: str) -> None:
    reason = _reason(_report(report_type, part_type))
    assert reason and word in reason


@pytest.mark.parametrize(
    "header",
    ["X-Autoreply: yes\n", "X-Autorespond: yes\n", "X-Auto-Response-Suppress: All\n"],
)
def test_auto_reply_headers(header: str) -> None:
    assert _reason(_mail(header))


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Invoice question",
        "Automatic reply: Invoice question",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "Réponse automatique : facture",
        "Autosvar: faktura",
        "Auto-Reply: your message",
        "Out of Office",
        "Undeliverable: Invoice question",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    assert _reason(_mail(Subject=subject))


@pytest.mark.parametrize(
    "subject",
    ["Out of office hours support?", "Absence of signal in Leeds", "Undeliverable parcel refund"],
)
def test_customer_subjects_that_resemble_auto_replies(subject: str) -> None:
    assert _reason(_mail(Subject=subject)) is None


def test_out_of_office_phrase_backstop() -> None:
    body = (
        "Thank you for your email. I am currently out of the office until 12 March"
        " with limited access to email."
    )
    assert _reason(_mail(body=body, Subject="Re: Invoice question"))


def test_customer_mentioning_the_office_is_fine() -> None:
    body = "I was out of the office last week, so I missed your call. Please call again."
    assert _reason(_mail(body=body)) is None


def test_our_own_mail_is_ignored() -> None:
    reason = _reason(_mail(From="Shop Support <Support@Shop.TEST>"))
    assert reason and "own" in reason
