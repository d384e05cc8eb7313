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
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver
from tests.social.payloads import messenger_message, post_meta
from tests.test_web_security import csrf, login

REPLY = "Hi, sorry about the bill. We have refunded the roaming charge. Northwind Mobile"


def test_a_held_reply_shows_its_text_and_can_be_left_unsent(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, messenger_message(hours_ago=25)).json()["stored"] == 1
        worker.drain()
        auth = api_token(client)
        (item,) = client.get("/api/queue", headers=auth).json()
        message_id = item["id"]
        approved = client.post(
            f"/api/messages/{message_id}/approve", headers=auth, json={"body": REPLY}
        )
        assert approved.status_code == 201
        worker.drain()
        assert receiver.requests == [], "held: outside the 24-hour window"

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
