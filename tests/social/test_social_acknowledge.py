"""The automatic acknowledgement for direct messages (`acknowledge.social`): sent back in the
conversation through the platform's send API, once per customer a day, like email's."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.acknowledge import send_acknowledgements
from responder.db.models import Acknowledgement, Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.views import message_detail
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver, acknowledging, killed_mid_send, late_whatsapp_dms
from tests.social.payloads import (
    WA_PHONE_NUMBER_ID,
    messenger_message,
    post_meta,
    whatsapp_message,
)
from tests.test_web_security import login

REPLY = "Hi, sorry about the bill. We have refunded the roaming charge. Northwind Mobile"


def _receive(rt: Runtime, worker: Worker, *payloads: dict[str, Any]) -> None:
    with TestClient(create_app(rt)) as client:
        for payload in payloads:
            assert post_meta(client, payload).json()["stored"] == 1
    worker.drain()


def test_a_direct_message_is_acknowledged_in_its_conversation_once(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    acknowledging(rt, social=True)
    _receive(rt, worker, whatsapp_message())
    (sent,) = receiver.requests
    assert sent.path == f"/v21.0/{WA_PHONE_NUMBER_ID}/messages"
    assert sent.json["to"] == "353855550101" and sent.json["type"] == "text"
    text = sent.json["text"]["body"]
    assert text.startswith("Hello Aoife,") and "A person will read it and reply" in text
    assert "it and\nreply" not in text, "no line break mid-sentence in a chat"
    assert text.endswith(f"\n\n{rt.settings.drafting.signature}"), "signed, no trailing lines"
    with rt.factory() as session:
        dm = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert dm.state == "in_review", "the real answer still waits for a person"
        shown = message_detail(session, dm.id)
    assert shown["acknowledgement"]["state"] == "sent"
    assert [c["direction"] for c in shown["conversation"]] == ["out"], "ours, in the thread"

    # She writes again the same day, and someone on Messenger writes: one more, to him.
    _receive(
        rt,
        worker,
        whatsapp_message("Also my data stopped", wamid="wamid.second"),
        messenger_message(),
    )
    assert len(receiver.requests) == 2
    assert receiver.requests[1].json["recipient"] == {"id": "6543210987654321"}
    assert receiver.requests[1].json["message"]["text"].startswith("Hello")


def test_direct_messages_are_not_acknowledged_unless_asked(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    acknowledging(rt, social=False)
    _receive(rt, worker, whatsapp_message())
    assert receiver.requests == []


def test_one_whose_send_was_cut_off_is_never_sent_twice(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """A worker stopped while sending it: the platform cannot be asked whether it went out, so
    it waits under Needs attention as uncertain instead of going out a second time."""
    acknowledging(rt, social=True)
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, whatsapp_message()).json()["stored"] == 1
    worker.drain_claims()  # the stages only: queued, not sent
    with transaction(rt.factory) as session:  # taken to send; its lease has run out since
        session.execute(
            update(Acknowledgement).values(
                state="sending",
                taken_at=utcnow() - timedelta(seconds=2),
                claimed_until=utcnow() - timedelta(seconds=1),
            )
        )
    assert send_acknowledgements(rt) == 0
    worker.drain()
    assert receiver.requests == []
    with rt.factory() as session:
        (ack,) = session.scalars(select(Acknowledgement))
        assert ack.state == "uncertain" and "may have gone out" in ack.last_error


def test_a_template_cut_off_in_its_place_counts_as_maybe_sent(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """Outside the window a stopped worker was sending the template: the next one says so, the
    conversation shows it may have gone out, and the reply approved afterwards sends no second."""
    acknowledging(rt, social=True)
    rt.settings.social.whatsapp_template = "service_follow_up"
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, whatsapp_message(hours_ago=30)).json()["stored"] == 1
    worker.drain_claims()  # the stages only: queued, not sent
    with killed_mid_send(request_left=False):  # the take recorded the template; then the end
        send_acknowledgements(rt)
    with transaction(rt.factory) as session:
        session.execute(
            update(Acknowledgement).values(claimed_until=utcnow() - timedelta(seconds=1))
        )
    assert send_acknowledgements(rt) == 0
    with rt.factory() as session:
        (ack,) = session.scalars(select(Acknowledgement))
        dm = session.scalars(select(Message).where(Message.direction == "in")).one()
        shown = message_detail(session, dm.id)
    assert ack.state == "uncertain"
    assert "delivery of the approved template 'service_follow_up'" in ack.last_error
    ours = [c["text"] for c in shown["conversation"]]
    assert ours == ["[WhatsApp template 'service_follow_up', which may not have gone out]"]
    staff(rt)
    with TestClient(create_app(rt)) as client:
        item = _approved_and_held(rt, worker, client, api_token(client), dm.id)
    assert receiver.requests == [], "no template after the one that may have gone out"
    assert "a template ('service_follow_up') may have gone out to this customer" in item.last_error


def test_a_template_cut_off_in_its_place_is_still_named_after_she_writes_again(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The worker was killed sending the template in its place, and she wrote again before the
    next worker looked: what may have reached her is still the template, shown once."""
    acknowledging(rt, social=True)
    rt.settings.social.whatsapp_template = "service_follow_up"
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, whatsapp_message(hours_ago=30)).json()["stored"] == 1
    worker.drain_claims()  # the stages only: queued, not sent
    with killed_mid_send():
        send_acknowledgements(rt)
    # Dated a minute on: after the take, whatever second it was taken in.
    later = whatsapp_message("Hello? What is this?", wamid="wamid.later", hours_ago=-1 / 60)
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, later).json()["stored"] == 1
    worker.drain_claims()
    with transaction(rt.factory) as session:
        session.execute(
            update(Acknowledgement).values(claimed_until=utcnow() - timedelta(seconds=1))
        )
    assert send_acknowledgements(rt) == 0
    assert [r.json["type"] for r in receiver.requests] == ["template"]
    with rt.factory() as session:
        (ack,) = session.scalars(select(Acknowledgement))
        ours = list(session.scalars(select(Message.text).where(Message.direction == "out")))
    assert ack.state == "uncertain"
    assert "delivery of the approved template 'service_follow_up'" in ack.last_error
    assert ours == ["[WhatsApp template 'service_follow_up', which may not have gone out]"]


def test_one_whose_answer_was_lost_is_never_sent_twice(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The platform took the request but its answer never came: the acknowledgement may have
    gone out, so it waits under Needs attention as uncertain, not sent again when next due."""
    acknowledging(rt, social=True)
    rt.settings.social.timeout_seconds = 1
    receiver.stall()
    _receive(rt, worker, whatsapp_message())
    with transaction(rt.factory) as session:
        session.execute(update(Acknowledgement).values(next_attempt_at=utcnow()))
    assert send_acknowledgements(rt) == 0
    worker.drain()
    assert len(receiver.requests) == 1, "sent once"
    with rt.factory() as session:
        (ack,) = session.scalars(select(Acknowledgement))
    assert ack.state == "uncertain"
    assert ack.last_error.startswith("WhatsApp's answer was lost (ReadTimeout")
    assert ack.last_error.endswith("; it may have gone out")
    staff(rt)
    with TestClient(create_app(rt)) as client:
        listed = client.get("/api/problems", headers=api_token(client)).json()
        login(client, "alice")
        problems = client.get("/problems").text
    assert [a["id"] for a in listed["acknowledgements"]] == [ack.id]
    assert f'id="acknowledgement-{ack.id}"' in problems


def test_one_replaced_by_a_whatsapp_template_shows_the_template(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """Outside the 24-hour window the approved template goes in its place: the conversation
    shows what she received, not a text she never saw."""
    acknowledging(rt, social=True)
    rt.settings.social.whatsapp_template = "service_follow_up"
    _receive(rt, worker, whatsapp_message(hours_ago=30))
    (sent,) = receiver.requests
    assert sent.json["type"] == "template"
    with rt.factory() as session:
        dm = session.scalars(select(Message).where(Message.direction == "in")).one()
        shown = message_detail(session, dm.id)
    assert [c["text"] for c in shown["conversation"]] == ["[WhatsApp template 'service_follow_up']"]

    # The agent approves the reply before she writes back: the template already asked her to
    # write, so no second one goes out, and the reply is held saying so.
    staff(rt)
    with TestClient(create_app(rt)) as client:
        item = _approved_and_held(rt, worker, client, api_token(client), dm.id)
    assert len(receiver.requests) == 1, "one template in all"
    assert (
        "Nothing was sent: a template ('service_follow_up') was already sent to this customer "
        "on " in item.last_error
    )
    assert "the reply goes out if you retry after the customer writes again" in item.last_error


def test_one_whose_whatsapp_template_answer_was_lost_counts_as_a_template(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The template sent in its place may have reached her: the reply approved afterwards
    sends no second one, and says why."""
    acknowledging(rt, social=True)
    rt.settings.social.whatsapp_template = "service_follow_up"
    rt.settings.social.timeout_seconds = 1
    receiver.stall()
    _receive(rt, worker, whatsapp_message(hours_ago=30))
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        (waiting,) = client.get("/api/queue", headers=auth).json()
        detail = client.get(f"/api/messages/{waiting['id']}", headers=auth).json()
        item = _approved_and_held(rt, worker, client, auth, waiting["id"])
    assert len(receiver.requests) == 1, "one template in all"
    assert detail["acknowledgement"]["state"] == "uncertain"
    ours = [c["text"] for c in detail["conversation"] if c["direction"] == "out"]
    assert ours == ["[WhatsApp template 'service_follow_up', which may not have gone out]"]
    assert "a template ('service_follow_up') may have gone out to this customer" in item.last_error


def test_one_due_after_a_replys_whatsapp_template_is_not_sent_nor_left_to_retry(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """A reply's template went out first: the acknowledgement of her next message would be a
    second one. It is not sent, says why, and is not listed for a person to retry: once she
    writes back it would come too late."""
    rt.settings.social.whatsapp_template = "service_follow_up"
    staff(rt)
    earlier, later = late_whatsapp_dms()
    with TestClient(create_app(rt)) as client:
        post_meta(client, earlier)
        worker.drain()
        auth = api_token(client)
        (first,) = client.get("/api/queue", headers=auth).json()
        approved = client.post(
            f"/api/messages/{first['id']}/approve", headers=auth, json={"body": REPLY}
        )
        assert approved.status_code == 201, approved.text
        worker.drain()
        assert [r.json["type"] for r in receiver.requests] == ["template"]

        acknowledging(rt, social=True)
        post_meta(client, later)
        worker.drain()
        assert len(receiver.requests) == 1, "no second template"
        (second,) = client.get("/api/queue", headers=auth).json()
        detail = client.get(f"/api/messages/{second['id']}", headers=auth).json()
        problems = client.get("/api/problems", headers=auth).json()
        login(client, "alice")
        page = html.unescape(client.get(f"/messages/{second['id']}").text)
    shown = detail["acknowledgement"]
    assert shown["state"] == "not_sent"
    assert (
        "a template ('service_follow_up') was already sent to this customer on "
        in (shown["last_error"])
    )
    assert shown["last_error"].endswith(
        "so no second one went out; sent once the customer has written again, it would come "
        "too late"
    )
    assert "retry" not in shown["last_error"]
    assert problems["acknowledgements"] == [], "nothing for a person to do"
    said = page.split('id="acknowledged" data-state="not_sent">', 1)[1].split("</p>", 1)[0]
    assert said.startswith("Automatic acknowledgement not sent: WhatsApp accepts replies only")


def _approved_and_held(
    rt: Runtime, worker: Worker, client: TestClient, auth: dict[str, str], message_id: int
) -> OutboxItem:
    """The reply approved and sent for: held (a template went, or may have), not sent; its
    message failed with the outbox's reason."""
    approved = client.post(
        f"/api/messages/{message_id}/approve", headers=auth, json={"body": REPLY}
    )
    assert approved.status_code == 201, approved.text
    worker.drain()
    with rt.factory() as session:
        item = session.scalars(select(OutboxItem)).one()
        assert (session.get(Message, message_id).state, item.state) == ("failed", "held")
    return item
