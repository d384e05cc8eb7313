"""A reply written outside Responder (Meta Business Suite, the WhatsApp Business app, X's own
client) comes back as an echo our outbox never sent: it is kept in the conversation, and the
draft waiting there is marked stale, so the customer does not get a second answer."""

from __future__ import annotations

import html
from typing import Any

import msgspec
from litestar.testing import TestClient
from sqlalchemy import select

from responder.channels.social.events import split_meta
from responder.channels.social.outside import record_outside_reply
from responder.db.models import Channel, Draft, Message, OutboxItem
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver
from tests.social.payloads import (
    messenger_echo,
    messenger_message,
    post_meta,
    post_x,
    whatsapp_echo,
    whatsapp_message,
    x_dm,
    x_echo,
)
from tests.test_web_security import login


def _waiting(rt: Runtime) -> Message:
    with rt.factory() as session:
        return session.scalars(select(Message).where(Message.direction == "in")).one()


def _ours(rt: Runtime) -> list[Message]:
    with rt.factory() as session:
        return list(session.scalars(select(Message).where(Message.direction == "out")))


def _stale(rt: Runtime, message_id: int) -> bool:
    with rt.factory() as session:
        return bool(session.scalar(select(Draft.stale).where(Draft.message_id == message_id)))


def _receive(rt: Runtime, worker: Worker, payload: dict[str, Any], platform: str = "meta") -> int:
    with TestClient(create_app(rt)) as client:
        post = post_x if platform == "x" else post_meta
        assert post(client, payload).json()["stored"] == 1
    worker.drain()
    message = _waiting(rt)
    assert message.state == "in_review" and not _stale(rt, message.id)
    return message.id


def test_a_reply_sent_from_business_suite_makes_the_waiting_draft_stale(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _receive(rt, worker, messenger_message("Why is my bill so high?"))
    with TestClient(create_app(rt)) as client:
        answer = post_meta(client, messenger_echo("m_from_business_suite")).json()
        again = post_meta(client, messenger_echo("m_from_business_suite")).json()
    assert (answer["outside"], answer["receipts"], answer["ignored"]) == (1, 0, [])
    assert again["outside"] == 1, "a redelivered echo is the same reply"
    (reply,) = _ours(rt)
    assert (reply.state, reply.text) == ("sent", "our reply")
    assert reply.state_reason == "answered on Messenger outside Responder"
    assert reply.conversation_id == _waiting(rt).conversation_id
    assert _stale(rt, message_id)
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = html.unescape(client.get(f"/messages/{message_id}").text)
        detail = client.get(f"/api/messages/{message_id}", headers=api_token(client)).json()
        customer = html.unescape(client.get(f"/customers/{_waiting(rt).customer_id}").text)
    assert 'id="answered-outside"' in page
    assert "Answered on Messenger outside Responder (" in page
    assert "us, on Messenger outside Responder</small><pre>our reply</pre>" in page
    assert 'id="stale-draft"' not in page, "not: the customer wrote again"
    assert [c["id"] for c in detail["answered_outside"]] == [reply.id]
    assert "us · written outside Responder" in customer


def test_x_and_whatsapp_app_replies_are_kept_too(rt: Runtime, worker: Worker) -> None:
    x_message = _receive(rt, worker, x_dm(), platform="x")
    with TestClient(create_app(rt)) as client:
        assert post_x(client, x_echo("1000000000000000001")).json()["outside"] == 1
    assert _stale(rt, x_message)
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, whatsapp_message()).json()["stored"] == 1
        worker.drain()
        with rt.factory() as session:
            whatsapp = session.scalar(
                select(Message.id).where(Message.external_key.like("wamid.%"))
            )
        assert not _stale(rt, whatsapp)
        answer = post_meta(client, whatsapp_echo("wamid.from_the_app", "Refund done")).json()
    assert answer["outside"] == 1, answer
    assert _stale(rt, whatsapp)
    texts = sorted(m.state_reason for m in _ours(rt))
    assert texts == ["answered on WhatsApp outside Responder", "answered on X outside Responder"]


def test_an_echo_while_our_reply_is_being_sent_is_not_taken_for_an_outside_one(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _receive(rt, worker, messenger_message())
    staff(rt)
    with TestClient(create_app(rt)) as client:
        approved = client.post(
            f"/api/messages/{message_id}/approve", headers=api_token(client), json={"body": "Hi"}
        )
        assert approved.status_code == 201
    with rt.factory() as session, session.begin():  # the send API answered; not recorded yet
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        item.state = "sending"
    with TestClient(create_app(rt)) as client:
        answer = post_meta(client, messenger_echo("m_out_not_recorded_yet")).json()
        stranger = post_meta(client, messenger_echo("m_to_a_stranger", psid="777")).json()
    assert answer["outside"] == 0
    assert "may be our own reply or acknowledgement" in answer["ignored"][0]
    assert stranger["ignored"] == [
        "messenger message m_to_a_stranger sent outside Responder to 777, who has not written to us"
    ]
    assert _ours(rt) == []


def test_an_echo_of_a_reply_whose_send_commits_meanwhile_is_ours_after_all(
    rt: Runtime, worker: Worker
) -> None:
    """The echo often arrives as the send API answers: the receipt finds no reply with its id,
    then the send commits it before the echo is kept. Asked again, it is ours, not outside."""
    message_id = _receive(rt, worker, messenger_message())
    staff(rt)
    with TestClient(create_app(rt)) as client:
        approved = client.post(
            f"/api/messages/{message_id}/approve", headers=api_token(client), json={"body": "Hi"}
        )
        assert approved.status_code == 201
    (echo,) = split_meta(messenger_echo("m_ours_just_committed")).receipts
    with rt.factory() as session, session.begin():
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        item.state, item.external_id = "sent", "m_ours_just_committed"  # the send's commit
        channel = session.get(Channel, item.channel_id)
        assert record_outside_reply(session, channel, echo) == ""
    assert _ours(rt) == [], "not kept as a reply written outside Responder"
    assert not _stale(rt, message_id)


def test_the_echo_of_our_acknowledgement_is_not_an_outside_reply(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    rt.settings = msgspec.structs.replace(
        rt.settings,
        acknowledge=msgspec.structs.replace(
            rt.settings.acknowledge, enabled=True, when="always", social=True
        ),
    )
    message_id = _receive(rt, worker, messenger_message())
    (sent,) = receiver.requests
    echo = messenger_echo("m_ack_id_we_do_not_keep")
    echo["entry"][0]["messaging"][0]["message"]["text"] = sent.json["message"]["text"]
    with TestClient(create_app(rt)) as client:
        answer = post_meta(client, echo).json()
    assert answer["outside"] == 0 and "acknowledgement" in answer["ignored"][0]
    assert not _stale(rt, message_id)


def test_a_page_opened_before_a_colleague_answered_outside_cannot_approve(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _receive(rt, worker, messenger_message("Why is my bill so high?"))
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        headers = api_token(client)
        opened = client.get(f"/api/messages/{message_id}", headers=headers).json()["version"]
        assert post_meta(client, messenger_echo("m_from_business_suite")).json()["outside"] == 1
        refused = client.post(
            f"/api/messages/{message_id}/approve",
            json={"version": opened, "body": "Your bill is high because of roaming."},
            headers=headers,
        )
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "this conversation was answered on Messenger outside Responder since this draft was "
        "made: reload to read that reply, so the customer does not get a second answer"
    )
    assert _waiting(rt).state == "in_review"
    with rt.factory() as session:
        assert session.scalars(select(OutboxItem)).all() == [], "no second answer queued"
