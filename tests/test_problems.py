"""The "Needs attention" list: quarantined mail and undeliverable replies, where staff see them.

A real SMTP server (aiosmtpd on 127.0.0.1) refuses the reply; an over-limit mail is
quarantined by the worker; both show with their reasons until they are retried.
"""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_crash_recovery import approve_waiting
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
        assert '<h2 id="messages-heading">Mail not taken in, replies not delivered</h2>' in page
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

        smtp_server.handler.rcpt_answer = None
        refused_page = client.get(f"/messages/{refused}").text
        said = 'data-state="failed">Reply to aoife.murphy@gmail.test: not delivered. '
        assert said in refused_page, "the outbox state in words, the server's answer after it"
        token = re.search(r'name="_csrf_token" value="([^"]+)"', refused_page).group(1)
        resent = client.post(f"/messages/{refused}/retry", data={"_csrf_token": token})
        assert "The reply is queued to be sent again." in resent.text
        worker.drain()
        assert 'id="no-problems"' in client.get("/problems").text
    assert len(smtp_server.handler.received) == 1
    with rt.factory() as session:
        assert session.get(Message, refused).state == "sent"
        assert session.get(Message, big).state == "in_review"
