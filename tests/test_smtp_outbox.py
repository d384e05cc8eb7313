"""The SMTP outbox against a real SMTP server (aiosmtpd on 127.0.0.1), one test per failure mode.

"Later" is made by moving the outbox's next attempt into the past, never by sleeping.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from datetime import timedelta
from email.policy import default
from email.utils import parsedate_to_datetime
from html import unescape

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder import review
from responder.config import Settings
from responder.db.models import CustomerIdentity, Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.outbound import write_to_customer
from responder.pipeline.worker import Worker
from responder.review import approve
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, bounce_of, drop, make_email, staff, staff_member
from tests.html_document import HtmlDocument
from tests.smtp_server import (
    PasswordAuthenticator,
    SmtpServer,
    self_signed_certificate,
    send_through,
    smtp_server,
    start_smtp,
)
from tests.test_crash_recovery import approve_waiting
from tests.test_operations import _samples
from tests.test_web_security import login

__all__ = ["smtp_server"]


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    settings.outbound.max_attempts = 3
    settings.outbound.retry_base_seconds = 30.0
    return send_through(settings, smtp_server)


def approved_reply(rt: Runtime, worker: Worker) -> None:
    drop(
        rt,
        make_email(headers={"References": "<earlier@mail.test>", "Reply-To": "aoife@home.test"}),
        "smtp",
    )
    worker.drain()
    approve_waiting(rt)


def outbox(rt: Runtime) -> tuple[Message, OutboxItem]:
    with rt.factory() as session:
        message = session.scalar(select(Message).where(Message.direction == "in"))
        item = session.scalar(select(OutboxItem))
        assert message is not None and item is not None
        return message, item


def time_passes(rt: Runtime) -> None:
    """The retry is due: what the clock would do, without waiting for it."""
    past = utcnow() - timedelta(seconds=1)
    with transaction(rt.factory) as session:
        session.execute(update(OutboxItem).values(next_attempt_at=past))
        waiting = update(Message).where(Message.state == "approved")
        session.execute(waiting.values(next_attempt_at=past))


def test_delivered_reply_is_threaded_with_the_stored_message_id(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    approved_reply(rt, worker)
    worker.drain()
    (received,) = smtp_server.handler.received
    message, item = outbox(rt)
    assert message.state == "sent"
    assert item.state == "sent" and item.attempts == 1
    assert received.rcpt_tos == ["aoife@home.test"]
    assert received.mail_from == "support@northwind-mobile.test"
    reply = received.message
    assert reply["Message-ID"] == item.message_id_header
    assert reply["In-Reply-To"] == "<m1@mail.test>"
    assert reply["References"].split() == ["<earlier@mail.test>", "<m1@mail.test>"]
    assert reply["Subject"] == "Re: Roaming charges on my bill"
    assert reply["Auto-Submitted"] is None


TYPED = (
    'Hi Aoife,\n\nour <script>alert("x")</script> prices: <a href="https://evil.test">here</a>\n'
    "or https://northwind-mobile.ie/roaming?zone=eu&plan=5 & <b>more</b>.\n"
)


def test_the_reply_arrives_as_text_and_as_html_with_the_same_words(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """What anyone typed (the agent above, the customer in the quote) is shown, never run."""
    drop(rt, make_email(body="Where is my <img src=x onerror=alert(1)> refund?"), "html")
    worker.drain()
    with transaction(rt.factory) as session:
        waiting = session.scalars(select(Message.id).where(Message.state == "in_review")).one()
        approve(session, waiting, None, rt.settings.outbound, body=TYPED)
    worker.drain()
    (received,) = smtp_server.handler.received
    reply = received.message
    assert reply.get_content_type() == "multipart/alternative"
    plain, html = reply.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    text = plain.get_content()
    assert text.replace("\r\n", "\n").startswith(TYPED)  # the text part as before
    document = HtmlDocument(html.get_content())
    unquoted = re.sub(r"(?m)^>+ ?", "", text)  # quote marks become the quote
    assert document.words() == unquoted.split()
    assert {"script", "img", "b"}.isdisjoint(document.tags())
    assert "blockquote" in document.tags()
    assert document.elements[0] == ("html", {"lang": "en", "dir": "ltr"})
    links = [attrs["href"] for tag, attrs in document.elements if tag == "a"]
    assert "https://northwind-mobile.ie/roaming?zone=eu&plan=5" in links
    assert reply["Message-ID"] == outbox(rt)[1].message_id_header


def test_a_retried_reply_is_dated_by_the_attempt_that_sends_it(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.handler.answers = ["451 4.3.0 Try later"]
    drop(rt, make_email(), "redated")
    worker.drain()
    an_hour_ago = utcnow() - timedelta(hours=1)
    with monkeypatch.context() as clock:  # approved (and queued) an hour ago
        clock.setattr(review, "utcnow", lambda: an_hour_ago)
        approve_waiting(rt)
    worker.drain()
    time_passes(rt)
    before = utcnow().replace(microsecond=0)
    worker.drain()
    after = utcnow()
    message, item = outbox(rt)
    assert message.state == "sent" and item.attempts == 2
    (received,) = smtp_server.handler.received
    assert before <= parsedate_to_datetime(received.message["Date"]) <= after
    assert received.message["Message-ID"] == item.message_id_header
    assert item.raw is not None  # the stored copy is the one that went out
    assert email.message_from_bytes(item.raw, policy=default)["Date"] == received.message["Date"]


@pytest.mark.parametrize("answer", ["421 4.3.2 Service shutting down", "451 4.3.0 Try later"])
def test_temporary_answer_is_retried_with_backoff_then_delivered_once(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer, answer: str
) -> None:
    smtp_server.handler.answers = [answer, answer]
    approved_reply(rt, worker)
    delays = []
    for attempt in (1, 2):
        before = utcnow()
        worker.drain()
        after = utcnow()
        message, item = outbox(rt)
        assert message.state == "approved" and item.state == "queued"
        assert item.attempts == attempt
        assert answer.split()[0] in item.last_error
        assert answer.split()[0] in message.state_reason
        assert item.next_attempt_at is not None
        assert before + timedelta(seconds=30 * 2 ** (attempt - 1)) <= item.next_attempt_at
        assert item.next_attempt_at <= after + timedelta(seconds=30 * 2 ** (attempt - 1))
        delays.append(item.next_attempt_at - before)
        worker.drain()  # not due yet: nothing is sent
        assert smtp_server.handler.attempts == attempt
        time_passes(rt)
    assert delays[1] > delays[0]
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "sent" and item.attempts == 3
    (received,) = smtp_server.handler.received
    assert received.message["Message-ID"] == item.message_id_header


def test_permanent_refusal_fails_with_the_servers_answer(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.rcpt_answer = "550 5.1.1 <aoife@home.test>: mailbox unavailable"
    approved_reply(rt, worker)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "failed" and item.state == "failed"
    assert "550 5.1.1 <aoife@home.test>: mailbox unavailable" in item.last_error
    assert "550 5.1.1" in message.state_reason
    assert item.attempts == 1
    assert smtp_server.handler.received == []


def test_a_copied_address_the_server_refuses_is_named_on_the_sent_message(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """The customer has the reply, so it is sent (and never sent again), but whoever the server
    refused is named on the message with its answer."""
    smtp_server.handler.refuse = {
        "colleague@gone.test": "550 5.1.1 <colleague@gone.test>: mailbox unavailable"
    }
    drop(rt, make_email(headers={"Cc": "Colleague <colleague@gone.test>"}), "cc")
    worker.drain()
    approve_waiting(rt)
    worker.drain()
    (received,) = smtp_server.handler.received
    assert received.rcpt_tos == ["aoife.murphy@gmail.test"]
    message, item = outbox(rt)
    assert message.state == "sent" and item.state == "sent" and item.attempts == 1
    assert "colleague@gone.test: 550 5.1.1 <colleague@gone.test>: mailbox unavailable" in (
        message.state_reason
    )
    assert "aoife.murphy" not in message.state_reason
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = unescape(client.get(f"/messages/{message.id}").text)
    assert "refused colleague@gone.test: 550 5.1.1" in page


def test_the_customers_own_address_refused_fails_the_reply_though_a_copy_went_out(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """A colleague in Cc took it, the customer did not: not passed as sent, but waiting under
    Needs attention with the server's answer."""
    smtp_server.handler.refuse = {
        "aoife.murphy@gmail.test": "550 5.1.1 <aoife.murphy@gmail.test>: mailbox unavailable"
    }
    drop(rt, make_email(headers={"Cc": "Colleague <colleague@home.test>"}), "to-refused")
    worker.drain()
    approve_waiting(rt)
    worker.drain()
    (received,) = smtp_server.handler.received
    assert received.rcpt_tos == ["colleague@home.test"]
    message, item = outbox(rt)
    assert message.state == "failed" and item.state == "failed"
    assert "refused aoife.murphy@gmail.test: 550 5.1.1" in message.state_reason
    assert "the copies to colleague@home.test went out" in message.state_reason


def message_named(rt: Runtime, header: str) -> Message:
    with rt.factory() as session:
        return session.scalars(select(Message).where(Message.message_id_header == header)).one()


def test_a_reply_that_bounces_later_is_under_needs_attention_with_the_servers_answer(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    approved_reply(rt, worker)
    worker.drain()
    (received,) = smtp_server.handler.received
    answer = "550 5.1.1 <aoife@home.test>: mailbox unavailable"
    drop(rt, bounce_of(received.raw, "aoife@home.test", answer, "dsn1"), "dsn1")
    worker.drain()
    replied = message_named(rt, "<m1@mail.test>")
    expected = f"returned by the recipient's server: aoife@home.test: {answer} (status 5.1.1)"
    assert replied.state == "failed" and replied.state_reason == expected
    bounce = message_named(rt, "<dsn1@mx.home.test>")
    assert bounce.state == "ignored"
    assert f"our reply to message {replied.id}: now failed" in bounce.state_reason
    staff(rt)
    with TestClient(create_app(rt)) as client:
        problems = client.get("/api/problems", headers=api_token(client)).json()
    (listed,) = problems["items"]
    assert listed["id"] == replied.id and listed["reason"] == expected

    # Sent again (Retry), a late copy of the same bounce, for the first copy, changes nothing.
    with transaction(rt.factory) as session:
        review.retry(session, replied.id, "alice")
    worker.drain()
    assert message_named(rt, "<m1@mail.test>").state == "sent"
    first = received.message
    first.replace_header("Date", "Mon, 23 Nov 2026 08:00:00 +0000")  # before the retry's
    drop(rt, bounce_of(first.as_bytes(), "aoife@home.test", answer, "dsn2"), "dsn2")
    worker.drain()
    assert message_named(rt, "<m1@mail.test>").state == "sent"
    late = message_named(rt, "<dsn2@mx.home.test>")
    assert late.state == "ignored" and "before it was sent again: left as it is" in (
        late.state_reason
    )


def test_a_forged_bounce_naming_our_reply_leaves_it_sent(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """Anyone can write a "bounce" quoting our reply's Message-ID: one for an address the reply
    never went to, or one not in a delivery status notification's form, fails nothing, and
    is ignored saying why (no draft, no answer)."""
    approved_reply(rt, worker)
    worker.drain()
    (received,) = smtp_server.handler.received
    answer = "550 5.1.1 <eve@elsewhere.test>: mailbox unavailable"
    drop(rt, bounce_of(received.raw, "eve@elsewhere.test", answer, "forged1"), "forged1")
    mixed = bounce_of(received.raw, "aoife@home.test", "550 5.1.1 gone", "forged2").replace(
        b"multipart/report; report-type=delivery-status", b"multipart/mixed"
    )
    drop(rt, mixed, "forged2")
    worker.drain()
    replied = message_named(rt, "<m1@mail.test>")
    assert replied.state == "sent" and "returned" not in replied.state_reason
    _, item = outbox(rt)
    assert item.state == "sent" and item.last_error == ""
    naming = f"delivery status report (bounce) naming our reply to message {replied.id}"
    other = message_named(rt, "<forged1@mx.home.test>")
    assert other.state == "ignored"
    assert other.state_reason == (
        f"{naming}, which could not be matched to it: the failed recipient it names "
        "(eve@elsewhere.test) is not one it was sent to: left as it is"
    )
    unformed = message_named(rt, "<forged2@mx.home.test>")
    assert unformed.state == "ignored"
    assert unformed.state_reason == (
        f"{naming}, which could not be matched to it: it is multipart/mixed, not a "
        "multipart/report: left as it is"
    )
    assert len(smtp_server.handler.received) == 1, "nothing answers a bounce"


def test_a_bounce_for_a_copied_address_only_leaves_the_reply_sent_and_says_so(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    drop(rt, make_email(headers={"Cc": "colleague@gone.test"}), "cc")
    worker.drain()
    approve_waiting(rt)
    worker.drain()
    (received,) = smtp_server.handler.received
    answer = "550 5.1.1 <colleague@gone.test>: no such user"
    drop(rt, bounce_of(received.raw, "colleague@gone.test", answer, "dsn"), "dsn")
    worker.drain()
    replied = message_named(rt, "<m1@mail.test>")
    assert replied.state == "sent"
    assert replied.state_reason == (
        f"sent, but returned by the recipient's server: colleague@gone.test: {answer} "
        "(status 5.1.1)"
    )
    bounce = message_named(rt, "<dsn@mx.home.test>")
    assert bounce.state == "ignored" and "for copied addresses only" in bounce.state_reason


def test_permanent_answer_to_data_fails(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.answers = ["554 5.7.1 Message rejected as spam"]
    approved_reply(rt, worker)
    worker.drain()
    message, _ = outbox(rt)
    assert message.state == "failed"
    assert "554 5.7.1 Message rejected as spam" in message.state_reason


@pytest.mark.parametrize("fault", ["drop", "hang"])
@pytest.mark.parametrize("at", ["rcpt", "go-ahead"])
def test_a_connection_lost_before_the_message_went_is_temporary(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer, at: str, fault: str
) -> None:
    """Dropped, or no answer, at RCPT or before DATA's go-ahead (354): the server never had the
    message, so it is tried again, not left for a person to check."""
    if at == "rcpt":
        smtp_server.handler.rcpt_faults = [fault]
    else:
        smtp_server.handler.go_ahead_faults = [fault]
    rt.settings.smtp.timeout_seconds = 0.5
    approved_reply(rt, worker)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "approved" and item.state == "queued"
    assert item.attempts == 1 and item.next_attempt_at is not None
    assert item.last_error
    time_passes(rt)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "sent"
    assert len(smtp_server.handler.received) == 1


@pytest.mark.parametrize("fault", ["keep+drop", "keep+hang"])
def test_a_lost_answer_to_the_message_is_uncertain_and_never_sent_again(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer, fault: str
) -> None:
    """The relay stored the reply, then its answer to DATA was lost (the connection dropped
    after the final dot, or a content filter outlasted our time-out): the customer has it, so
    it waits under Needs attention for a person instead of going out a second time."""
    smtp_server.handler.answers = [fault]
    rt.settings.smtp.timeout_seconds = 0.5
    approved_reply(rt, worker)
    worker.drain()
    time_passes(rt)
    worker.drain()
    assert len(smtp_server.handler.received) == 1
    message, item = outbox(rt)
    assert message.state == "failed" and item.state == "uncertain"
    assert item.attempts == 1
    assert message.state_reason.startswith("delivery uncertain")
    assert "its answer was lost" in item.last_error
    assert "Check the recipient's copy before retrying" in item.last_error


def test_gives_up_after_max_attempts(rt: Runtime, worker: Worker, smtp_server: SmtpServer) -> None:
    smtp_server.handler.answers = ["451 4.3.0 Try later"] * 5
    approved_reply(rt, worker)
    for _ in range(3):
        worker.drain()
        time_passes(rt)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "failed" and item.state == "failed"
    assert item.attempts == 3
    assert "gave up after 3 attempts" in message.state_reason
    assert "451 4.3.0 Try later" in message.state_reason
    assert smtp_server.handler.attempts == 3


def test_retry_after_giving_up_tries_as_many_times_again(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """Retry under Needs attention starts the count again: one more 451 is retried later, not
    "gave up after 3 attempts"."""
    rt.settings.outbound.max_attempts = 2
    smtp_server.handler.answers = ["451 4.3.0 Try later"] * 3
    approved_reply(rt, worker)
    worker.drain()
    time_passes(rt)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "failed" and "gave up after 2 attempts" in message.state_reason
    with transaction(rt.factory) as session:
        review.retry(session, message.id, "alice")
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "approved" and item.state == "queued"
    assert item.attempts == 1 and item.next_attempt_at is not None
    assert "451 4.3.0 Try later" in item.last_error
    assert smtp_server.handler.attempts == 3
    time_passes(rt)
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "sent" and item.attempts == 2
    assert len(smtp_server.handler.received) == 1


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    server = start_smtp(
        authenticator=PasswordAuthenticator("responder", "s3cret"), auth_require_tls=False
    )
    yield server
    server.stop()


@pytest.mark.parametrize(("password", "state"), [("s3cret", "sent"), ("wrong", "failed")])
def test_auth_on_plaintext_uses_the_password_from_the_environment(
    rt: Runtime,
    worker: Worker,
    auth_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    state: str,
) -> None:
    rt.settings.smtp.port = auth_server.port
    rt.settings.smtp.username = "responder"
    rt.settings.smtp.password_env = "TEST_SMTP_PASSWORD"
    monkeypatch.setenv("TEST_SMTP_PASSWORD", password)
    approved_reply(rt, worker)
    worker.drain()
    message, _ = outbox(rt)
    assert message.state == state
    assert len(auth_server.handler.received) == (1 if state == "sent" else 0)
    if state == "failed":
        assert "535" in message.state_reason


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_starttls_verify_the_server_with_the_configured_ca(
    rt: Runtime, worker: Worker, security: str
) -> None:
    cert = self_signed_certificate()
    context = cert.server_context()
    if security == "tls":
        server = start_smtp(ssl_context=context)
    else:
        server = start_smtp(tls_context=context, require_starttls=True)
    try:
        rt.settings.smtp.port = server.port
        rt.settings.smtp.security = security  # type: ignore[assignment]
        rt.settings.smtp.ca_file = str(cert.cert)
        approved_reply(rt, worker)
        worker.drain()
        message, _ = outbox(rt)
        assert message.state == "sent", message.state_reason
        assert len(server.handler.received) == 1
    finally:
        server.stop()


def test_untrusted_certificate_is_not_sent_to(rt: Runtime, worker: Worker) -> None:
    cert = self_signed_certificate()
    server = start_smtp(ssl_context=cert.server_context())
    try:
        rt.settings.smtp.port = server.port
        rt.settings.smtp.security = "tls"
        approved_reply(rt, worker)
        worker.drain()
        message, item = outbox(rt)
        assert message.state == "approved" and "certificate" in item.last_error.lower()
        assert server.handler.received == []
    finally:
        server.stop()


def approved_reply_to(rt: Runtime, worker: Worker, address: str) -> None:
    """A customer writing from `address`, raw UTF-8 headers as an SMTPUTF8 mail arrives."""
    raw = (
        f"From: Zoë Brennan <{address}>\r\nTo: support@northwind-mobile.test\r\n"
        "Subject: Roaming charges on my bill\r\nMessage-ID: <m1@mail.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hi, I was charged 80 euro for roaming in Spain. I thought the EU was included?\r\n"
    ).encode()
    drop(rt, raw, "intl")
    worker.drain()
    approve_waiting(rt)


def test_a_reply_to_an_international_domain_goes_to_its_ascii_name(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    approved_reply_to(rt, worker, "aoife@müller.test")
    worker.drain()
    message, _ = outbox(rt)
    assert message.state == "sent", message.state_reason
    (received,) = smtp_server.handler.received
    assert received.rcpt_tos == ["aoife@xn--mller-kva.test"]
    assert "SMTPUTF8" not in received.mail_options
    assert received.raw.isascii()
    assert received.message["To"].addresses[0].addr_spec == "aoife@xn--mller-kva.test"


@pytest.fixture
def server_without_utf8() -> Iterator[SmtpServer]:
    server = start_smtp(enable_SMTPUTF8=False)
    yield server
    server.stop()


def test_a_reply_to_a_non_ascii_mailbox_goes_out_with_smtputf8(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    approved_reply_to(rt, worker, "zoë@mail.test")
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "sent", message.state_reason
    assert item.recipients == ["zoë@mail.test"]
    (received,) = smtp_server.handler.received
    assert received.rcpt_tos == ["zoë@mail.test"]
    assert "SMTPUTF8" in received.mail_options
    reply = email.message_from_string(received.raw.decode("utf-8"), policy=default)
    assert reply["To"].addresses[0].addr_spec == "zoë@mail.test"
    assert reply["In-Reply-To"] == "<m1@mail.test>"
    sent = reply.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert sent.startswith(item.body.strip()), "the reply's own words, then the quote"


def test_a_server_without_smtputf8_fails_a_non_ascii_mailbox_with_the_reason(
    rt: Runtime, worker: Worker, server_without_utf8: SmtpServer
) -> None:
    rt.settings.smtp.port = server_without_utf8.port
    approved_reply_to(rt, worker, "zoë@mail.test")
    worker.drain()
    message, item = outbox(rt)
    assert message.state == "failed" and item.state == "failed"
    assert item.attempts == 1
    assert "SMTPUTF8" in item.last_error and "zoë@mail.test" in item.last_error
    assert "SMTPUTF8" in message.state_reason
    assert server_without_utf8.handler.received == []


def scraped(rt: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """This process's /metrics, as Prometheus scrapes it from loopback."""
    rt.settings = msgspec.structs.replace(
        rt.settings,
        metrics=msgspec.structs.replace(rt.settings.metrics, allow_from=["testclient"]),
    )
    with TestClient(create_app(rt)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return _samples(response.text)


def test_metrics_count_each_reply_and_acknowledgement_that_went_out_once(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """What a site alerts on when nothing goes out: the acknowledgement, a reply that went on
    its second attempt (counted once, its first refusal among the send failures) and a new
    message staff wrote, each counted by channel kind once the server took it."""
    rt.settings = msgspec.structs.replace(
        rt.settings,
        acknowledge=msgspec.structs.replace(rt.settings.acknowledge, enabled=True, when="always"),
    )
    reply = ("responder_replies_sent_total", (("channel", "maildir"), ("what", "reply")))
    written = ("responder_replies_sent_total", (("channel", "maildir"), ("what", "new_message")))
    ack = ("responder_acknowledgements_sent_total", (("channel", "maildir"),))
    temporary = ("responder_send_failures_total", (("kind", "temporary"),))
    before = scraped(rt)
    smtp_server.handler.answers = [None, "451 4.3.0 Try later"]  # the acknowledgement goes
    approved_reply(rt, worker)
    worker.drain()
    middle = scraped(rt)
    assert middle.get(ack, 0) == before.get(ack, 0) + 1
    assert middle.get(reply, 0) == before.get(reply, 0), "refused: not sent"
    assert middle[temporary] == before.get(temporary, 0) + 1

    time_passes(rt)
    worker.drain()
    staff(rt, "alice")
    with transaction(rt.factory) as session:
        customer = session.scalar(select(Message.customer_id).where(Message.direction == "in"))
        address = session.scalar(
            select(CustomerIdentity.value).where(
                CustomerIdentity.customer_id == customer, CustomerIdentity.kind == "email"
            )
        )
        assert customer is not None and address is not None
        write_to_customer(
            session,
            rt.settings.outbound,
            customer,
            staff_member(session),
            to=address,
            subject="Your repair is done",
            body="Collect it at the shop.",
        )
    worker.drain()
    worker.drain()  # nothing more to send: nothing more counted
    after = scraped(rt)
    assert len(smtp_server.handler.received) == 3
    assert after[reply] == before.get(reply, 0) + 1
    assert after[written] == before.get(written, 0) + 1
    assert after[ack] == before.get(ack, 0) + 1
    assert after[temporary] == before.get(temporary, 0) + 1


def test_metrics_do_not_count_a_reply_that_may_not_have_gone_out(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """The server took it but its answer was lost: uncertain, among the send failures, not
    among the replies sent (nobody knows it went)."""
    reply = ("responder_replies_sent_total", (("channel", "maildir"), ("what", "reply")))
    uncertain = ("responder_send_failures_total", (("kind", "uncertain"),))
    before = scraped(rt)
    smtp_server.handler.answers = ["keep+drop"]
    approved_reply(rt, worker)
    worker.drain()
    after = scraped(rt)
    assert outbox(rt)[1].state == "uncertain"
    assert after.get(reply, 0) == before.get(reply, 0)
    assert after[uncertain] == before.get(uncertain, 0) + 1
