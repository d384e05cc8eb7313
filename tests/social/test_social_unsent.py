"""A reply the platform would not take (held outside its reply window) is shown with its text,
and can be left unsent: off Needs attention for good, never sent later."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.browser_support import on_sqlite_only
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver
from tests.social.payloads import messenger_message, post_meta
from tests.test_web_security import csrf, login

REPLY = "Hi, sorry about the bill. We have refunded the roaming charge. Northwind Mobile"


def _held(rt: Runtime, worker: Worker, client: TestClient) -> int:
    """A Messenger reply approved a day after the customer wrote: held, nothing sent."""
    assert post_meta(client, messenger_message(hours_ago=25)).json()["stored"] == 1
    worker.drain()
    auth = api_token(client)
    (item,) = client.get("/api/queue", headers=auth).json()
    approve = f"/api/messages/{item['id']}/approve"
    approved = client.post(approve, headers=auth, json={"body": REPLY})
    assert approved.status_code == 201
    worker.drain()
    return int(item["id"])


def test_a_held_reply_shows_its_text_and_can_be_left_unsent(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        message_id = _held(rt, worker, client)
        assert receiver.requests == [], "held: outside the 24-hour window"
        auth = api_token(client)
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        held = re.search(r'<textarea id="unsent-text"[^>]*>([^<]*)</textarea>', page)
        assert held and held.group(1).strip() == REPLY, "the held text is on the page"
        assert 'id="copy-unsent"' in page and 'id="leave-unsent-button"' in page
        assert f'id="problem-{message_id}"' in client.get("/problems").text

        token = csrf(client, f"/messages/{message_id}")
        no_reason = client.post(
            f"/messages/{message_id}/leave-unsent", data={"_csrf_token": token, "reason": " "}
        )
        assert "say why the reply is left unsent" in no_reason.text
        left = client.post(
            f"/messages/{message_id}/leave-unsent",
            data={"_csrf_token": token, "reason": "Phoned her instead"},
        )
        assert "Left unsent: it will not be sent" in left.text
        assert "reply not sent" in left.text
        assert "left unsent by alice: Phoned her instead" in left.text
        assert REPLY in left.text, "the text stays readable"
        assert 'id="leave-unsent-button"' not in left.text
        problems = client.get("/problems").text
        assert f'id="problem-{message_id}"' not in problems
        assert "Nothing needs attention." in problems
        assert client.get("/api/problems", headers=auth).json()["total"] == 0

        detail = client.get(f"/api/messages/{message_id}", headers=auth).json()
        assert detail["state"] == "unsent" and detail["outbox"]["state"] == "unsent"
        retried = client.post(f"/api/messages/{message_id}/retry", headers=auth)
        assert retried.status_code == 400, "it can never be sent later"
        twice = client.post(
            f"/api/messages/{message_id}/leave-unsent", headers=auth, json={"reason": "again"}
        )
        assert twice.status_code == 409

        # She writes again: the window reopens, but the reply left unsent stays unsent.
        post_meta(client, messenger_message("Any news?", mid="m_later"))
        worker.drain()
        worker.drain()
    assert receiver.requests == []
    with rt.factory() as session:
        (entry,) = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "reply.leave_unsent")
        )
    assert (entry.actor, entry.object_id) == ("alice", str(message_id))
    assert entry.detail["reason"] == "Phoned her instead"
    assert "accepts replies only within 24 hours" in entry.detail["error"]


@on_sqlite_only
def test_copy_text_and_leave_unsent_in_the_browser(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    from playwright.sync_api import expect

    from tests.browser_support import browser, log_in
    from tests.live_server import serve

    staff(rt)
    with TestClient(create_app(rt)) as client:
        message_id = _held(rt, worker, client)
    with serve(rt) as base, browser() as chromium:
        context = chromium.new_context()
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = context.new_page()
        log_in(page, base, "alice", "correct horse battery")
        page.goto(f"{base}/messages/{message_id}")
        page.click("#copy-unsent")
        expect(page.locator("#copy-unsent-status")).to_have_text("Copied.")
        assert page.evaluate("navigator.clipboard.readText()").strip() == REPLY
        page.click("#leave-unsent-button")  # no reason yet: the browser asks for one
        expect(page.locator("#unsent-reason")).to_be_focused()
        page.fill("#unsent-reason", "Rang her back")
        page.click("#leave-unsent-button")
        expect(page.locator(".notice")).to_contain_text("Left unsent")
        expect(page.locator(".meta")).to_contain_text("left unsent by alice: Rang her back")
        expect(page.locator("#leave-unsent-button")).to_have_count(0)
    assert receiver.requests == []
