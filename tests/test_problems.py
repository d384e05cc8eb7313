"""The "Needs attention" list: quarantined mail and undeliverable replies, where staff see them.

A real SMTP server (aiosmtpd on 127.0.0.1) refuses the reply; an over-limit mail is
quarantined by the worker; both show with their reasons until they are retried. A refused
reply retried is the same reply, refused again; Edit and send again puts its text back as the
draft, and what is approved then goes out as a new reply, once.
"""

from __future__ import annotations

import html
import re

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.config import Settings
from responder.dashboard import load_history
from responder.db.models import AuditEntry, Message, OutboxItem
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_crash_recovery import approve_waiting
from tests.test_reply_files import form_of
from tests.test_web_security import login

__all__ = ["smtp_server"]

BIG = b"From: Ann <ann@b.test>\r\nSubject: scan of my bill\r\n\r\n" + b"x" * 5000


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    send_through(settings, smtp_server)
    settings.pipeline.max_message_bytes = 3000
    return settings


def test_quarantined_mail_and_refused_replies_are_listed_with_why_until_retried(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.rcpt_answer = "550 5.1.1 <aoife.murphy@gmail.test>: no such mailbox"
    staff(rt)
    drop(rt, make_email(), "refused")
    drop(rt, BIG, "big")
    worker.drain()
    approve_waiting(rt)
    worker.drain()
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.state, Message.id)).all())
    assert set(ids) == {"failed", "quarantined"}
    refused, big = ids["failed"], ids["quarantined"]

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert "2 messages need attention" in client.get("/queue").text
        badge = 'id="nav-problems">Needs attention <span class="count alert">2</span>'
        assert badge in client.get("/search").text, "every page's menu shows the count"
        page = client.get("/problems").text
        assert "Needs attention (2)" in page
        # the list has a heading of its own, as the unsent acknowledgements above it do
        heading = "Mail not taken in, replies and messages not delivered"
        assert f'<h2 id="messages-heading">{heading}</h2>' in page
        rows = dict(re.findall(r'<tr id="problem-(\d+)">(.*?)</tr>', page, re.S))
        assert sorted(rows) == sorted([str(big), str(refused)])
        assert list(rows) == sorted(rows, key=int, reverse=True), "newest first"
        assert (
            "quarantined" in rows[str(big)]
            and "3,000 byte limit ([pipeline] max_message_bytes)" in rows[str(big)]
        )
        assert "(not parsed)" in rows[str(big)] and f"{len(BIG):,} bytes" in rows[str(big)]
        assert "<small>5.1 kB</small>" in rows[str(big)], "its size, as the review page says it"
        assert f'href="/messages/{big}"' in rows[str(big)]
        assert "550 5.1.1" in rows[str(refused)] and "no such mailbox" in rows[str(refused)]
        assert 'data-delivery="failed">reply not delivered, 1 attempt' in rows[str(refused)]
        assert 'id="first-page"' not in page
        older = client.get("/problems", params={"before": big}).text
        assert '<a id="first-page" href="/problems">Newest</a>' in older, "back to the newest"

        rt.settings.pipeline.max_message_bytes = 100_000
        message_page = client.get(f"/messages/{big}").text
        # Who sent what, from the headers alone, said to be unchecked; the bytes to look at.
        assert "<h1>scan of my bill</h1>" in message_page
        assert ">original (5.1 kB)</a>" in message_page, "the size as Needs attention says it"
        assert "its From header says Ann &lt;ann@b.test&gt; (not checked)" in message_page
        assert "&lt;&gt;" not in message_page
        assert "an administrator changes it in config.toml" in message_page, "what to do first"
        raw = client.get(f"/messages/{big}/raw")
        assert raw.content == BIG and raw.headers["content-type"].startswith("message/rfc822")
        assert raw.headers["content-disposition"] == f'attachment; filename="message-{big}.eml"'
        assert "Not known until the message is read." in message_page, "no empty placeholders"
        token = re.search(r'name="_csrf_token" value="([^"]+)"', message_page).group(1)
        retried = client.post(f"/messages/{big}/retry", data={"_csrf_token": token})
        assert "Sent to be read again from the mail as received" in retried.text
        worker.drain()
        listed = client.get("/api/problems", headers=api_token(client)).json()
        assert listed["total"] == 1
        assert [i["id"] for i in listed["items"]] == [refused]
        assert listed["items"][0]["reason"].startswith("delivery refused")

        refused_page = client.get(f"/messages/{refused}").text
        said = 'data-state="failed">Reply to aoife.murphy@gmail.test: not delivered. '
        assert said in refused_page, "the outbox state in words, the server's answer after it"
        assert 'id="edit-again-button"' in refused_page
        token = re.search(r'name="_csrf_token" value="([^"]+)"', refused_page).group(1)
        resent = client.post(f"/messages/{refused}/retry", data={"_csrf_token": token})
        assert "The reply is queued to be sent again." in resent.text
        worker.drain()  # the same reply, refused the same way
        with rt.factory() as session:
            first = session.scalars(select(OutboxItem)).one()
            retried = session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "message.retry", AuditEntry.object_id == str(refused)
                )
            ).one()
        # Retry starts the attempts again; the log keeps the ones before it, with their error.
        assert (first.state, first.attempts) == ("failed", 1)
        assert retried.detail["attempts"] == 1 and "550 5.1.1" in retried.detail["error"]

        # One that may have gone out is never edited and sent again: it would arrive twice.
        _outbox_state(rt, "uncertain")
        assert 'id="edit-again-button"' not in client.get(f"/messages/{refused}").text
        maybe = client.post(f"/api/messages/{refused}/edit-again", headers=api_token(client))
        assert maybe.status_code == 409 and "may have gone out" in maybe.text
        _outbox_state(rt, "failed")
        again = client.post(f"/messages/{refused}/edit-again", data={"_csrf_token": token})
        assert "Back to edit: the reply that was not delivered is the draft again." in again.text
        editor = again.text.split('id="draft-body"', 1)[1].split("</textarea>", 1)[0]
        assert html.unescape(editor.split(">", 1)[1]).strip() == first.body.strip()
        assert "back to edit, the reply not delivered by alice" in again.text
        assert 'id="no-problems"' in client.get("/problems").text
        twice = client.post(f"/messages/{refused}/edit-again", data={"_csrf_token": token})
        assert "Not changed: only a reply that was not delivered" in twice.text

        smtp_server.handler.rcpt_answer = None
        mended = "Hello Aoife,\n\nThe roaming charge is refunded.\n"
        client.post(f"/messages/{refused}/approve", data={**form_of(again.text), "body": mended})
        worker.drain()
    (reply,) = smtp_server.handler.received
    assert "The roaming charge is refunded." in reply.message.get_body(("plain",)).get_content()
    assert reply.message["Message-ID"] != first.message_id_header, "a new reply, not a resend"
    with rt.factory() as session:
        assert session.get(Message, refused).state == "sent"
        assert session.get(Message, big).state == "in_review"
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "reply.edit_again")
        ).one()
        assert (entry.actor, entry.detail["attempts"]) == ("alice", 1)  # since the Retry
        assert "550 5.1.1" in entry.detail["error"]
        rows, _ = load_history(session)
    assert {r.id: r.outcome for r in rows}[refused] == "edited", "the decision that stood"


def _outbox_state(rt: Runtime, state: str) -> None:
    with transaction(rt.factory) as session:
        session.execute(update(OutboxItem).values(state=state))
