"""A spammer on Messenger is blocked like one by email: by the sender id the platform gives."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver
from tests.social.payloads import messenger_message, post_meta

PSID = "7788990011223344"


def inbound(rt: Runtime) -> list[tuple[str, str]]:
    with rt.factory() as session:
        rows = session.execute(
            select(Message.state, Message.state_reason)
            .where(Message.direction == "in")
            .order_by(Message.id)
        )
        return [(state, reason) for state, reason in rows]


def test_a_messenger_spammer_is_blocked_by_sender_id(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    staff(rt, "alice")
    photo = [{"type": "image", "payload": {"url": f"{receiver.url}/cdn/promo.jpg"}}]
    with TestClient(create_app(rt)) as client:
        post_meta(
            client,
            messenger_message(
                "Cheap followers, DM me", psid=PSID, mid="m_spam1", attachments=photo
            ),
        )
        worker.drain()
        with rt.factory() as session:
            first = session.scalars(select(Message.id).where(Message.direction == "in")).one()
        auth = api_token(client, "alice")
        detail = client.get(f"/api/messages/{first}", headers=auth).json()
        (image,) = detail["attachments"]
        assert image["kept"] is False
        assert image["why_not_kept"].startswith("being fetched from Messenger")
        marked = client.post(f"/api/messages/{first}/spam", headers=auth, json={})
        assert marked.status_code == 201, marked.text
        assert marked.json()["blocked"] == PSID
        post_meta(client, messenger_message("Still cheap followers", psid=PSID, mid="m_spam2"))
        post_meta(client, messenger_message("My bill doubled", psid="1111", mid="m_customer"))
    worker.drain()
    (first_state, why), (later, later_why), (customer, _) = inbound(rt)
    assert (first_state, why) == ("rejected", "spam")
    assert later == "ignored" and later_why.startswith(f"blocked sender: {PSID} (blocked by alice")
    assert customer == "in_review"
    # The spammer's photo, owed while the message waited for review, is never fetched.
    assert receiver.fetched("/cdn/promo.jpg") == []
