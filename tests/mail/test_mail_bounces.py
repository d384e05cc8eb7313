"""Reading real servers' delivery status notifications: which message they return, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.mail.bounces import Bounce, read_bounce
from responder.mail.parse import parse_email

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mime-corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="no shared MIME corpus")


def bounce(name: str) -> Bounce | None:
    return read_bounce(parse_email((CORPUS / name).read_bytes()))


@needs_corpus
def test_the_original_and_the_answer_from_enclosed_headers() -> None:
    """AOL: the original's headers as text/rfc822-headers."""
    found = bounce("bounce__mailbox-full.eml")
    assert found is not None and found.original_id == "<4E326A95.3010907@example.com>"
    assert found.reason() == (
        "returned by the recipient's server: user@aol.com: 552 5.2.2 E4.12 user MAILBOX FULL "
        "(status 5.2.2)"
    )


@needs_corpus
def test_the_original_from_an_enclosed_message_and_a_folded_answer() -> None:
    office = bounce("bounce__office365.eml")
    assert office is not None
    assert office.original_id == "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>"
    assert "noname@example.com: 550 5.1.10 RESOLVER.ADR.RecipientNotFound;" in office.reason()
    postfix = bounce("bounce__zed.eml")
    assert postfix is not None and postfix.original_id == "<20090708054735.GC7578@example.com>"
    assert "550-5.1.1 The email account that you tried to reach does not exist." in (
        postfix.reason()
    )


@needs_corpus
@pytest.mark.parametrize(
    "name",
    [
        "bounce__no-mx.eml",  # Action: delayed, still trying
        "bounce__delayed.eml",  # the enclosed original has no Message-ID
        "bounce__gmail-invalid-address.eml",  # plain text, no report to read
    ],
)
def test_no_failure_to_put_on_a_message(name: str) -> None:
    assert bounce(name) is None


def _report(enclosed_id: bytes, diagnostic: bytes) -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.test\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n"
        b"Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; " + diagnostic + b"\n"
        b"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: " + enclosed_id + b"\n"
        b"--b--\n"
    )


def test_nul_bytes_never_reach_the_database() -> None:
    """PostgreSQL refuses NUL in text: the answer keeps a replacement mark, and an enclosed
    Message-ID holding one cannot be one of ours."""
    found = read_bounce(parse_email(_report(b"<r1@shop.test>", b"550 no\x00such user")))
    assert found is not None and "\x00" not in found.reason()
    assert "550 no\ufffdsuch user" in found.reason()
    assert read_bounce(parse_email(_report(b"<r1\x00@shop.test>", b"550 gone"))) is None


@needs_corpus
@pytest.mark.parametrize("name", ["bounce__mailbox-full.eml", "bounce__office365.eml"])
def test_real_servers_reports_have_the_form_of_one(name: str) -> None:
    found = bounce(name)
    assert found is not None and found.form_problem == ""


def test_a_report_out_of_form_or_for_someone_else_is_told_apart() -> None:
    """What the parse stage needs to refuse a forged one: its form, and whom it names (the
    original and the final recipient: a forwarded address fails under its new name)."""
    report = _report(b"<r1@shop.test>", b"550 gone").replace(
        b"Final-Recipient: rfc822; ann@example.com",
        b"Original-Recipient: rfc822; Ann@Example.com\nFinal-Recipient: rfc822; ann@new.test",
    )
    found = read_bounce(parse_email(report))
    assert found is not None and found.form_problem == ""
    assert found.failures_for({"ann@example.com"}).failures == found.failures
    assert found.failures_for({"ann@new.test"}).failures == found.failures
    assert found.failures_for({"bob@example.com"}).failures == ()
    assert found.named() == "Ann@Example.com"
    global_report = report.replace(
        b"report-type=delivery-status", b'report-type="Global-Delivery-Status"'
    )
    assert read_bounce(parse_email(global_report)).form_problem == ""  # type: ignore[union-attr]
    other = report.replace(b"report-type=delivery-status", b"report-type=disposition-notification")
    assert read_bounce(parse_email(other)).form_problem == (  # type: ignore[union-attr]
        "its report-type is disposition-notification, not delivery-status"
    )
