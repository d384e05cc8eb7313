"""Approved replies leave through the platforms' send APIs (a loopback receiver here)."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.bootstrap import pollers
from responder.db.models import Message, OutboxItem, utcnow
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver, killed_mid_send, late_whatsapp_pair
from tests.social.payloads import (
    IG_ACCOUNT,
    PAGE_ID,
    WA_PHONE_NUMBER_ID,
    instagram_message,
    messenger_delivery,
    messenger_echo,
    messenger_message,
    messenger_read,
    post_meta,
    post_x,
    whatsapp_message,
    whatsapp_status,
    x_dm,
    x_echo,
    x_read,
)
from tests.test_reply_files import form_of
from tests.test_web_security import login

REPLY = "Hi, sorry about the bill. We have refunded the roaming charge. Northwind Mobile"


def _receive_and_approve(
    rt: Runtime,
    worker: Worker,
    payload: dict[str, Any],
    *,
    body: str | None = REPLY,
    platform: str = "meta",
) -> tuple[int, Any]:
    """Post the event, draft it, approve it through the API; returns (message id, response)."""
    staff(rt)
    with TestClient(create_app(rt)) as client:
        post = post_x if platform == "x" else post_meta
        assert post(client, payload).json()["stored"] == 1
        worker.drain()
        auth = api_token(client)
        (item,) = client.get("/api/queue", headers=auth).json()
        response = client.post(
            f"/api/messages/{item['id']}/approve",
            headers=auth,
            json={} if body is None else {"body": body},
        )
    return item["id"], response


def _state(rt: Runtime, message_id: int) -> tuple[Message, OutboxItem]:
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        return message, item


def _retrying_at(item: OutboxItem, zone: str = "UTC") -> str:
    """What a reply waiting to be tried again says: when, in the team's zone."""
    when = item.next_attempt_at.astimezone(ZoneInfo(zone))
    return f"retrying at {when:%Y-%m-%d %H:%M} {zone}: "


def _post(rt: Runtime, payload: dict[str, Any], platform: str = "meta") -> dict[str, Any]:
    with TestClient(create_app(rt)) as client:
        response = (post_x if platform == "x" else post_meta)(client, payload)
        assert response.status_code == 200, response.text
        return response.json()


def test_messenger_reply_is_sent_in_the_send_api_shape_and_tracked(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, response = _receive_and_approve(rt, worker, messenger_message())
    assert response.status_code == 201, response.text
    worker.drain()
    (request,) = receiver.requests
    assert request.path == f"/v21.0/{PAGE_ID}/messages"
    assert request.headers["authorization"] == "Bearer page-token"
    assert request.json == {
        "recipient": {"id": "6543210987654321"},
        "messaging_type": "RESPONSE",
        "message": {"text": REPLY},
    }
    message, item = _state(rt, message_id)
    assert message.state == "sent"
    assert (item.state, item.external_id, item.delivery_status) == ("sent", "m_out0", "")

    echo = _post(rt, messenger_echo("m_out0"))
    assert (echo["stored"], echo["receipts"]) == (0, 1)
    assert _state(rt, message_id)[1].delivery_status == "sent"
    assert _post(rt, messenger_delivery(["m_out0"]))["receipts"] == 1
    assert _state(rt, message_id)[1].delivery_status == "delivered"
    assert _post(rt, messenger_read())["receipts"] == 1
    assert _state(rt, message_id)[1].delivery_status == "read"
    staff(rt, "bob")
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{message_id}", headers=api_token(client, "bob")).json()
    assert detail["outbox"]["delivery_status"] == "read"
    _post(rt, messenger_delivery(["m_out0"]))
    assert _state(rt, message_id)[1].delivery_status == "read", "never moves backwards"
    worker.drain()
    with rt.factory() as session:
        inbound = session.scalars(select(Message.id).where(Message.direction == "in")).all()
    assert inbound == [message_id], "echoes and statuses are never drafted"


def test_delivery_by_watermark_only(rt: Runtime, worker: Worker, receiver: Receiver) -> None:
    message_id, _ = _receive_and_approve(rt, worker, messenger_message())
    worker.drain()
    assert _post(rt, messenger_delivery(None))["receipts"] == 1
    assert _state(rt, message_id)[1].delivery_status == "delivered"


def test_instagram_reply_goes_to_the_instagram_account(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, _ = _receive_and_approve(rt, worker, instagram_message())
    worker.drain()
    (request,) = receiver.requests
    assert request.path == f"/ig/v21.0/{IG_ACCOUNT}/messages"
    assert request.headers["authorization"] == "Bearer ig-token"
    assert request.json == {"recipient": {"id": "1254459154682919"}, "message": {"text": REPLY}}
    assert _state(rt, message_id)[0].state == "sent"


def test_whatsapp_reply_and_statuses(rt: Runtime, worker: Worker, receiver: Receiver) -> None:
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message())
    worker.drain()
    (request,) = receiver.requests
    assert request.path == f"/v21.0/{WA_PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == "Bearer wa-token"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "353855550101",
        "type": "text",
        "text": {"preview_url": False, "body": REPLY},
    }
    assert _state(rt, message_id)[1].external_id == "wamid.out0"
    assert _post(rt, whatsapp_status("wamid.out0", "delivered"))["receipts"] == 1
    assert _state(rt, message_id)[1].delivery_status == "delivered"
    _post(rt, whatsapp_status("wamid.out0", "read"))
    assert _state(rt, message_id)[1].delivery_status == "read"


def test_a_failed_whatsapp_status_shows_the_platform_error(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message())
    worker.drain()
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
    }
    _post(rt, whatsapp_status("wamid.out0", "failed", errors=[error]))
    message, item = _state(rt, message_id)
    assert (message.state, item.state, item.delivery_status) == ("failed", "failed", "failed")
    assert "131047 Re-engagement message" in item.last_error
    assert "more than 24 hours" in message.state_reason


def test_x_reply_goes_to_the_dm_endpoint_and_tracks_echo_and_read(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, _ = _receive_and_approve(rt, worker, x_dm(), platform="x")
    worker.drain()
    (request,) = receiver.requests
    assert request.path == "/2/dm_conversations/with/3001969357/messages"
    assert request.headers["authorization"] == "Bearer x-token"
    assert request.json == {"text": REPLY}
    assert _state(rt, message_id)[1].external_id == "dm0"
    echo = _post(rt, x_echo("dm0"), platform="x")
    assert (echo["stored"], echo["receipts"]) == (0, 1)
    assert _state(rt, message_id)[1].delivery_status == "sent"
    assert _post(rt, x_read("dm0"), platform="x")["receipts"] == 1
    assert _state(rt, message_id)[1].delivery_status == "read"


def test_429_is_retried_after_the_time_the_platform_asks(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, _ = _receive_and_approve(rt, worker, messenger_message())
    receiver.answer(
        429,
        {"error": {"message": "(#613) Calls to this api have exceeded the rate limit.", "code": 4}},
        headers={"Retry-After": "120"},
    )
    queue = msgspec.structs.replace(rt.settings.queue, timezone="Europe/Berlin")
    rt.settings = msgspec.structs.replace(rt.settings, queue=queue)
    worker.drain()
    message, item = _state(rt, message_id)
    assert message.state == "approved"
    assert message.state_reason.startswith(_retrying_at(item, "Europe/Berlin")), "the team's time"
    assert "exceeded the rate limit" in item.last_error
    assert timedelta(seconds=100) < item.next_attempt_at - utcnow() <= timedelta(seconds=120)
    worker.drain()
    assert len(receiver.requests) == 1, "not before Retry-After"
    with rt.factory() as session, session.begin():
        session.get(Message, message_id).next_attempt_at = utcnow() - timedelta(seconds=1)
    worker.drain()
    assert len(receiver.requests) == 2
    assert _state(rt, message_id)[0].state == "sent"


def test_a_retry_after_past_the_calendar_waits_a_day_not_crashing_the_send(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """A Retry-After of 20 digits (or a date in year 9999) put the next attempt past the
    calendar's end: the send stage crashed on every try instead of waiting."""
    message_id, _ = _receive_and_approve(rt, worker, messenger_message())
    receiver.answer(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "9" * 20})
    worker.drain()
    message, item = _state(rt, message_id)
    assert message.state == "approved"
    assert message.state_reason.startswith(_retrying_at(item))
    assert timedelta(hours=23) < item.next_attempt_at - utcnow() <= timedelta(days=1)


def test_5xx_is_retried_with_backoff(rt: Runtime, worker: Worker, receiver: Receiver) -> None:
    message_id, _ = _receive_and_approve(rt, worker, x_dm(), platform="x")
    receiver.answer(503, {"title": "Service Unavailable", "detail": "Service Unavailable"})
    worker.drain()
    message, item = _state(rt, message_id)
    assert message.state == "approved"
    assert message.state_reason.startswith(_retrying_at(item))
    assert item.next_attempt_at - utcnow() <= timedelta(seconds=30)
    assert "X answered 503: Service Unavailable" in item.last_error
    # A generous max_attempts: the doubling stops at a day. Uncapped, the 60th attempt's wait
    # was past the calendar's end and crashed the retry's scheduling.
    rt.settings.outbound.max_attempts = 100
    with rt.factory() as session, session.begin():
        session.get(OutboxItem, item.id).attempts = 59
        session.get(Message, message_id).next_attempt_at = utcnow() - timedelta(seconds=1)
    receiver.answer(503, {"title": "Service Unavailable", "detail": "Service Unavailable"})
    worker.drain()
    message, item = _state(rt, message_id)
    assert (message.state, item.attempts) == ("approved", 60)
    assert message.state_reason.startswith(_retrying_at(item)), message.state_reason
    assert timedelta(hours=23) < item.next_attempt_at - utcnow() <= timedelta(days=1)


def _due_again(rt: Runtime, message_id: int) -> None:
    """As if the time for a retry had come."""
    with rt.factory() as session, session.begin():
        past = utcnow() - timedelta(seconds=1)
        session.get(Message, message_id).next_attempt_at = past
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        item.next_attempt_at = past


def test_a_send_whose_answer_was_lost_is_uncertain_never_sent_twice(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The platform got the request but its answer never came (a read time-out): it may have
    delivered the reply, so it is not sent again by itself but waits under Needs attention, as
    a send cut short by a stopped worker does. Retried, the customer had it twice."""
    rt.settings.social.timeout_seconds = 1
    message_id, _ = _receive_and_approve(rt, worker, messenger_message())
    receiver.stall()
    worker.drain()
    _due_again(rt, message_id)
    worker.drain()
    assert len(receiver.requests) == 1, "sent once"
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "uncertain")
    assert message.state_reason.startswith("delivery uncertain: Messenger's answer was lost")
    assert "the server may have accepted the reply. Check the recipient's copy" in item.last_error
    with TestClient(create_app(rt)) as client:
        listed = client.get("/api/problems", headers=api_token(client)).json()
        login(client, "alice")
        problems = client.get("/problems").text
        page = client.get(f"/messages/{message_id}").text
    assert [i["id"] for i in listed["items"]] == [message_id]
    assert listed["items"][0]["reason"].startswith("delivery uncertain")
    assert f'id="problem-{message_id}"' in problems
    said = page.split('id="outbox" data-state="uncertain">', 1)[1].split("</p>", 1)[0]
    assert ": may or may not have gone out. Messenger&#39;s answer was lost" in said
    assert 'id="edit-again-button"' not in page, "never edited and sent a second time"


def test_a_lost_answer_to_a_whatsapp_template_names_the_template_not_the_reply(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """Outside the window the template goes in the reply's place: if its answer is lost, staff
    are told the template may have reached her, not the reply they would look for in vain."""
    rt.settings.social.timeout_seconds = 1
    rt.settings.social.whatsapp_template = "service_follow_up"
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message(hours_ago=30))
    receiver.stall()
    worker.drain()
    assert len(receiver.requests) == 1
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "uncertain")
    assert "template 'service_follow_up' was sent in the reply's place" in item.last_error
    assert "(the reply itself was not sent)" in item.last_error
    assert "the server may have accepted the template 'service_follow_up'." in item.last_error
    assert "accepted the reply" not in item.last_error


def test_a_template_whose_answer_was_lost_counts_as_sent_so_retry_sends_no_second(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The template may have reached her: a person's Retry, or a reply to her other message,
    sent a second one. Now each is held, saying when the first may have gone out, and the
    conversation shows it; once she writes back, Retry sends the reply itself."""
    rt.settings.social.timeout_seconds = 1
    rt.settings.social.whatsapp_template = "service_follow_up"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        first, second, auth = late_whatsapp_pair(client, worker.drain, REPLY)
        receiver.stall()
        worker.drain()
        assert _state(rt, first)[1].state == "uncertain"
        with rt.factory() as session:
            (sent_at,) = session.scalars(select(Message.sent_at).where(Message.direction == "out"))
        when = f"{sent_at.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC"
        detail = client.get(f"/api/messages/{first}", headers=auth).json()
        ours = [c["text"] for c in detail["conversation"] if c["direction"] == "out"]
        assert ours == ["[WhatsApp template 'service_follow_up', which may not have gone out]"]

        login(client, "alice")
        page = html.unescape(client.get(f"/messages/{second}").text)
        warning = page.split('id="reply-window">', 1)[1].split("</p>", 1)[0]
        assert "A template may have gone out to this customer at " in warning
        assert "or its answer was lost)" in warning and "approving sends no second one" in warning

        assert client.post(f"/api/messages/{first}/retry", headers=auth).status_code == 201
        other = client.post(f"/api/messages/{second}/approve", headers=auth, json={"body": REPLY})
        assert other.status_code == 201, other.text
        worker.drain()
        assert len(receiver.requests) == 1, "no second template"
        for message_id in (first, second):
            message, item = _state(rt, message_id)
            assert (message.state, item.state) == ("failed", "held")
            assert (
                "Nothing was sent: a template ('service_follow_up') may have gone out to this "
                f"customer at {when} (no answer to its send was recorded: it is still on its "
                "way, or its answer was lost) and they have not written back "
                "since, so no second one went out" in item.last_error
            )
            assert item.last_error in message.state_reason

    _post(rt, whatsapp_message("Hi, what is this about?", wamid="wamid.later"))
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        assert client.post(f"/api/messages/{first}/retry", headers=auth).status_code == 201
        worker.drain()
    assert len(receiver.requests) == 2
    assert receiver.requests[1].json["text"]["body"] == REPLY
    assert _state(rt, first)[0].state == "sent"


@pytest.mark.parametrize("dated", [True, False], ids=["taken now", "taken before takes were dated"])
def test_a_template_cut_off_by_a_stopped_worker_counts_as_maybe_sent(
    rt: Runtime,
    worker: Worker,
    receiver: Receiver,
    dated: bool,
) -> None:
    """The worker was killed after the template's request left and before its answer was
    stored: the next worker cannot ask WhatsApp, so staff are told the template (not the reply)
    may have reached her, and a Retry before she writes back sends no second one. A send taken
    by the release before, which did not date its takes, is told the same."""
    rt.settings.social.whatsapp_template = "service_follow_up"
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message(hours_ago=30))
    with killed_mid_send():
        worker.drain()
    assert _state(rt, message_id)[0].state == "sending"
    with rt.factory() as session, session.begin():
        session.get(Message, message_id).claimed_until = utcnow() - timedelta(seconds=1)
        if not dated:
            session.execute(update(OutboxItem).values(taken_at=None))
    Worker(rt, pollers(rt)).drain()  # the restart
    assert [r.json["type"] for r in receiver.requests] == ["template"]
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "uncertain")
    assert "delivery of the approved template 'service_follow_up'" in item.last_error
    assert "the server may have accepted the template 'service_follow_up'." in item.last_error
    assert "accepted the reply" not in item.last_error
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        detail = client.get(f"/api/messages/{message_id}", headers=auth).json()
        assert client.post(f"/api/messages/{message_id}/retry", headers=auth).status_code == 201
        worker.drain()
    ours = [c["text"] for c in detail["conversation"] if c["direction"] == "out"]
    assert ours == ["[WhatsApp template 'service_follow_up', which may not have gone out]"]
    assert len(receiver.requests) == 1, "no second template"
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "held")
    assert "a template ('service_follow_up') may have gone out to this customer" in item.last_error


def test_a_template_cut_off_is_still_named_after_the_customer_writes_again(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The worker was killed sending the template, and she wrote again before the next worker
    looked: what may have reached her is still the template, not the reply, and the
    conversation shows it once."""
    rt.settings.social.whatsapp_template = "service_follow_up"
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message(hours_ago=30))
    with killed_mid_send():
        worker.drain()
    with rt.factory() as session, session.begin():  # the stopped worker's lease still runs
        session.get(Message, message_id).claimed_until = utcnow() + timedelta(minutes=5)
    # Dated a minute on: after the take, whatever second it was taken in.
    later = whatsapp_message("Hello? What is this?", wamid="wamid.later", hours_ago=-1 / 60)
    _post(rt, later)
    worker.drain()
    assert _state(rt, message_id)[0].state == "sending"
    with rt.factory() as session, session.begin():
        session.get(Message, message_id).claimed_until = utcnow() - timedelta(seconds=1)
    Worker(rt, pollers(rt)).drain()  # the restart
    assert [r.json["type"] for r in receiver.requests] == ["template"]
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "uncertain")
    assert "delivery of the approved template 'service_follow_up'" in item.last_error
    assert "accepted the reply" not in item.last_error
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{message_id}", headers=api_token(client)).json()
    ours = [c["text"] for c in detail["conversation"] if c["direction"] == "out"]
    assert ours == ["[WhatsApp template 'service_follow_up', which may not have gone out]"]


def test_a_send_that_never_connected_is_tried_again(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """Nothing reached the platform (the connection was refused): safe to send again."""
    message_id, _ = _receive_and_approve(rt, worker, messenger_message())
    rt.settings.social.graph_base_url = "http://127.0.0.1:1"  # nothing listens there
    worker.drain()
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("approved", "queued")
    assert message.state_reason.startswith(_retrying_at(item)), message.state_reason
    assert "Messenger send failed" in item.last_error
    rt.settings.social.graph_base_url = receiver.url
    _due_again(rt, message_id)
    worker.drain()
    assert len(receiver.requests) == 1
    assert _state(rt, message_id)[0].state == "sent"


def test_4xx_fails_with_the_platform_error_visible_to_staff(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, _ = _receive_and_approve(rt, worker, messenger_message())
    receiver.answer(
        400,
        {
            "error": {
                "message": "(#100) No matching user found",
                "type": "OAuthException",
                "code": 100,
                "error_subcode": 2018001,
                "fbtrace_id": "AbCdEfGh",
            }
        },
    )
    worker.drain()
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "failed")
    assert "Messenger refused the reply (400): (#100) No matching user found" in item.last_error
    staff(rt, "bob")
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{message_id}", headers=api_token(client, "bob")).json()
    assert "No matching user found" in detail["state_reason"]
    assert "No matching user found" in detail["outbox"]["last_error"]


def test_too_long_replies_are_refused_at_approval(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, response = _receive_and_approve(rt, worker, whatsapp_message(), body="x" * 4097)
    assert response.status_code == 400
    assert "4,097 characters" in response.json()["detail"]
    assert "WhatsApp accepts at most 4,096" in response.json()["detail"]
    assert _state(rt, message_id)[0].state == "in_review"
    worker.drain()
    assert receiver.requests == []


def test_a_reply_refused_as_too_long_stays_in_the_editor_to_shorten(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The editor keeps the agent's text: with the draft it replaced put back there, a second
    Approve would have sent that draft and dropped the edits."""
    staff(rt)
    edited = "Hi, your roaming charge is refunded. " + "More detail. " * 160
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("Why was I charged for roaming?"))
        worker.drain()
        login(client, "alice")
        (item,) = client.get("/api/queue", headers=api_token(client)).json()
        page = f"/messages/{item['id']}"
        refused = client.post(
            f"{page}/approve", data={**form_of(client.get(page).text), "body": edited}
        )
    assert refused.status_code == 409
    assert "Messenger accepts at most 2,000 characters" in refused.text
    editor = refused.text.split('id="draft-body"', 1)[1].split("</textarea>", 1)[0]
    assert html.unescape(editor.split(">", 1)[1]).strip() == edited.strip()
    assert 'id="unsaved-body"' not in refused.text, "one text to mend, not two to compare"
    assert _state(rt, item["id"])[0].state == "in_review"
    worker.drain()
    assert receiver.requests == []


def test_instagram_counts_bytes(rt: Runtime, worker: Worker) -> None:
    _, response = _receive_and_approve(rt, worker, instagram_message(), body="é" * 600)
    assert response.status_code == 400
    assert "1,200 bytes" in response.json()["detail"]


def test_outside_the_24_hour_window_the_reply_is_held(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    message_id, response = _receive_and_approve(rt, worker, messenger_message(hours_ago=25))
    assert response.status_code == 201
    worker.drain()
    assert receiver.requests == []
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "held")
    assert "held: Messenger accepts replies only within 24 hours" in message.state_reason
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
    said = page.split('id="outbox" data-state="held">', 1)[1].split("</p>", 1)[0]
    assert ": held, not sent. Held: Messenger accepts replies only within 24 hours" in said


def test_a_configured_whatsapp_template_is_used_outside_the_window(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """The customer gets the template, not the reply: the conversation says so, and the reply
    itself is held under Needs attention, to be sent once the customer writes again."""
    rt.settings.social.whatsapp_template = "service_follow_up"
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message(hours_ago=30))
    worker.drain()
    (request,) = receiver.requests
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "353855550101",
        "type": "template",
        "template": {"name": "service_follow_up", "language": {"code": "en"}},
    }
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("failed", "held")
    assert "template 'service_follow_up' was sent instead" in message.state_reason
    assert "The reply itself was not sent" in item.last_error
    staff(rt, "bob")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "bob")
        detail = client.get(f"/api/messages/{message_id}", headers=auth).json()
        problems = client.get("/api/problems", headers=auth).json()
        # Retried before she writes again: still held, and no second template.
        assert client.post(f"/api/messages/{message_id}/retry", headers=auth).status_code == 201
        worker.drain()
        assert len(receiver.requests) == 1
        message, item = _state(rt, message_id)
        assert (message.state, item.state) == ("failed", "held")
        assert "a template ('service_follow_up') was already sent" in item.last_error
    (ours,) = [c for c in detail["conversation"] if c["direction"] == "out"]
    assert ours["text"] == "[WhatsApp template 'service_follow_up']", "what she received"
    assert [i["id"] for i in problems["items"]] == [message_id], "the reply waits for a person"

    # She answers the template: the window is open again, and the reply itself goes out.
    _post(rt, whatsapp_message("Hi, what is this about?", wamid="wamid.later"))
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "bob")
        assert client.post(f"/api/messages/{message_id}/retry", headers=auth).status_code == 201
        worker.drain()
        detail = client.get(f"/api/messages/{message_id}", headers=auth).json()
    assert len(receiver.requests) == 2
    assert receiver.requests[1].json["text"] == {"preview_url": False, "body": REPLY}
    message, item = _state(rt, message_id)
    assert (message.state, item.state) == ("sent", "sent")
    ours = [c["text"].strip() for c in detail["conversation"] if c["direction"] == "out"]
    assert ours == ["[WhatsApp template 'service_follow_up']", REPLY]


def test_edit_and_send_again_or_another_reply_sends_no_second_template(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    """One template asks the customer to write: until she does, neither the reply edited and
    approved again nor a reply to her other message sends another, and staff are told why."""
    rt.settings.social.whatsapp_template = "service_follow_up"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        first, second, auth = late_whatsapp_pair(client, worker.drain, REPLY)
        worker.drain()
        (template,) = receiver.requests
        assert template.json["type"] == "template"
        with rt.factory() as session:
            (sent_at,) = session.scalars(select(Message.sent_at).where(Message.direction == "out"))
        when = f"{sent_at.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC"

        again = client.post(f"/api/messages/{first}/edit-again", headers=auth)
        assert again.status_code == 201, again.text
        login(client, "alice")
        page = html.unescape(client.get(f"/messages/{first}").text)
        warning = page.split('id="reply-window">', 1)[1].split("</p>", 1)[0]
        assert "A template was already sent to this customer at " in warning
        assert "approving sends no second one" in warning
        edited = REPLY + " Sorry again."
        approve = client.post(f"/api/messages/{first}/approve", headers=auth, json={"body": edited})
        assert approve.status_code == 201, approve.text
        other = client.post(f"/api/messages/{second}/approve", headers=auth, json={"body": REPLY})
        assert other.status_code == 201, other.text
        worker.drain()
        assert len(receiver.requests) == 1, "no second template"
        for message_id in (first, second):
            message, item = _state(rt, message_id)
            assert (message.state, item.state) == ("failed", "held")
            assert (
                "Nothing was sent: a template ('service_follow_up') was already sent to this "
                f"customer on {when} and they have not written back since" in message.state_reason
            )
            assert "they have not written back since, so no second one went out" in item.last_error
        detail = client.get(f"/api/messages/{first}", headers=auth).json()
        page = html.unescape(client.get(f"/messages/{first}").text)
    assert "no second one went out" in page, "the reason is on the reply's page"
    ours = [c["text"] for c in detail["conversation"] if c["direction"] == "out"]
    assert ours == ["[WhatsApp template 'service_follow_up']"]

    # She answers the template: the edited reply goes out on Retry, as it was approved.
    _post(rt, whatsapp_message("Hi, what is this about?", wamid="wamid.later"))
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        assert client.post(f"/api/messages/{first}/retry", headers=auth).status_code == 201
        worker.drain()
    assert len(receiver.requests) == 2
    assert receiver.requests[1].json["text"]["body"] == edited
    assert _state(rt, first)[0].state == "sent"


def test_a_new_message_reopens_the_window(rt: Runtime, worker: Worker, receiver: Receiver) -> None:
    message_id, _ = _receive_and_approve(rt, worker, whatsapp_message(hours_ago=30))
    worker.drain()
    assert _state(rt, message_id)[0].state == "failed"
    _post(rt, whatsapp_message("Still waiting!", wamid="wamid.later"))
    staff(rt, "bob")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "bob")
        assert client.post(f"/api/messages/{message_id}/retry", headers=auth).status_code == 201
    worker.drain()
    assert len(receiver.requests) == 1
    assert _state(rt, message_id)[0].state == "sent"
