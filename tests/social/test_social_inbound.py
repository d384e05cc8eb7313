"""Customer DMs posted as the platforms post them: stored raw, once, drafted, on a customer."""

from __future__ import annotations

import json

from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from responder.db.models import (
    Attachment,
    Channel,
    ClassifierExample,
    Conversation,
    Customer,
    Draft,
    Message,
    OutboxItem,
    WebhookDelivery,
)
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.social.conftest import Receiver
from tests.social.payloads import (
    PAGE_ID,
    WA_PHONE_NUMBER_ID,
    X_ACCOUNT,
    encode,
    instagram_message,
    messenger_edit,
    messenger_message,
    messenger_unsend,
    post_meta,
    post_x,
    whatsapp_message,
    x_dm,
)
from tests.supervisor.history import agent_correction


def _inbound(rt: Runtime) -> list[Message]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.direction == "in")
                .order_by(Message.id)
                .options(undefer(Message.raw))  # deferred: read here, after the session closes
            )
        )


def test_a_messenger_message_is_stored_raw_then_drafted_for_review(
    rt: Runtime, worker: Worker
) -> None:
    payload = messenger_message("My bill doubled this month and nobody can tell me why")
    with TestClient(create_app(rt)) as client:
        response = post_meta(client, payload)
        assert response.status_code == 200
        assert response.json()["stored"] == 1
    (message,) = _inbound(rt)
    event = payload["entry"][0]["messaging"][0]
    assert message.state == "received"
    assert message.external_key == event["message"]["mid"]
    assert json.loads(message.raw)["event"] == event
    worker.drain()
    (message,) = _inbound(rt)
    assert message.state == "in_review"
    assert message.sender_address == "6543210987654321"
    assert message.text == "My bill doubled this month and nobody can tell me why"
    assert message.intent
    with rt.factory() as session:
        channel = session.get(Channel, message.channel_id)
        assert (channel.kind, channel.address) == ("messenger", PAGE_ID)
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation.thread_key == f"{PAGE_ID}:6543210987654321"
        draft = session.scalar(select(Draft).where(Draft.message_id == message.id))
        assert draft is not None and draft.body.strip()
        # A DM signs off in one line, not with an email's "Kind regards" and signature block.
        assert draft.body.rstrip().endswith("\n– Northwind Mobile"), draft.body
        assert "Kind regards" not in draft.body
        delivery = session.scalar(select(WebhookDelivery))
        assert delivery.body == encode(payload)
        assert delivery.outcome.startswith("1 stored")


def test_redelivered_events_are_stored_once(rt: Runtime, worker: Worker) -> None:
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, messenger_message()).json()["stored"] == 1
        assert post_meta(client, whatsapp_message()).json()["stored"] == 1
        assert post_x(client, x_dm()).json()["stored"] == 1
        again = [
            post_meta(client, messenger_message()).json(),
            post_meta(client, whatsapp_message()).json(),
            post_x(client, x_dm()).json(),
        ]
    assert [(r["stored"], r["duplicates"]) for r in again] == [(0, 1)] * 3
    assert len(_inbound(rt)) == 3
    with rt.factory() as session:
        assert session.scalar(select(func.count(WebhookDelivery.id))) == 6
    worker.drain()
    assert state_counts(rt)["in_review"] == 3


def test_messages_from_one_person_share_a_conversation(rt: Runtime, worker: Worker) -> None:
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("My bill is wrong", mid="m_1"))
        worker.drain()
        post_meta(client, messenger_message("Hello?? anyone there", mid="m_2"))
        post_meta(client, messenger_message("Roaming question", mid="m_3", psid="999"))
    worker.drain()
    first, second, other = _inbound(rt)
    assert first.conversation_id == second.conversation_id != other.conversation_id
    assert first.customer_id == second.customer_id != other.customer_id
    with rt.factory() as session:
        stale = session.scalar(select(Draft.stale).where(Draft.message_id == first.id))
    assert stale, "the customer wrote again, so the first draft no longer fits"


def test_instagram_message_becomes_an_instagram_conversation(rt: Runtime, worker: Worker) -> None:
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, instagram_message()).json()["stored"] == 1
    worker.drain()
    (message,) = _inbound(rt)
    assert message.state == "in_review"
    assert message.sender_profile == {"platform_id": "1254459154682919"}
    with rt.factory() as session:
        assert session.get(Channel, message.channel_id).kind == "instagram"
        customer = session.get(Customer, message.customer_id)
        identities = {(i.kind, i.value) for i in customer.identities}
        assert identities == {("instagram_id", "1254459154682919")}


def test_x_dm_keeps_handle_name_and_followers(rt: Runtime, worker: Worker) -> None:
    with TestClient(create_app(rt)) as client:
        response = post_x(client, x_dm(screen_name="furiouscamper", name="Jordan B", followers=22))
        assert response.json()["stored"] == 1
    worker.drain()
    (message,) = _inbound(rt)
    assert message.state == "in_review"
    assert message.sender_profile == {
        "platform_id": "3001969357",
        "handle": "furiouscamper",
        "display_name": "Jordan B",
        "followers": 22,
    }
    assert message.sender_name == "Jordan B"
    with rt.factory() as session:
        customer = session.get(Customer, message.customer_id)
        assert customer.provisional and customer.followers == 22
        identities = {(i.kind, i.value) for i in customer.identities}
        assert identities == {("x_id", "3001969357"), ("x_handle", "furiouscamper")}
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation.thread_key == f"3001969357-{X_ACCOUNT}"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{message.id}", headers=api_token(client)).json()
    assert detail["sender_profile"]["handle"] == "furiouscamper"
    assert detail["sender_profile"]["followers"] == 22


def test_whatsapp_and_email_from_the_same_customer_land_on_one_customer(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, make_email(), "aoife-email")
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, whatsapp_message(wa_id="353855550101")).status_code == 200
    worker.drain()
    (whatsapp,) = [m for m in _inbound(rt) if m.external_key.startswith("wamid.")]
    (email,) = [m for m in _inbound(rt) if m.id != whatsapp.id]
    assert email.customer_id == whatsapp.customer_id is not None
    assert whatsapp.sender_address == "+353855550101"
    with rt.factory() as session:
        customer = session.get(Customer, whatsapp.customer_id)
        assert (customer.external_id, customer.name) == ("C1001", "Aoife Murphy")
        assert session.get(Channel, whatsapp.channel_id).address == WA_PHONE_NUMBER_ID
    staff(rt)
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{whatsapp.id}", headers=api_token(client)).json()
    assert detail["customer"]["name"] == "Aoife Murphy"
    assert ["phone", "+353855550101"] in detail["customer"]["identities"]


def test_x_handle_in_the_customer_data_finds_the_customer(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    with TestClient(create_app(rt)) as client:
        post_x(client, x_dm(screen_name="AoifeM", followers=2210))
    worker.drain()
    (message,) = _inbound(rt)
    with rt.factory() as session:
        customer = session.get(Customer, message.customer_id)
        assert customer.external_id == "C1001"
        assert customer.followers == 2210
        assert ("x_id", "3001969357") in {(i.kind, i.value) for i in customer.identities}
    staff(rt)
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{message.id}", headers=api_token(client)).json()
    assert detail["reply_not_on_file"] == [], "no warning: the reply goes back to that X account"


def test_attachments_and_reactions(rt: Runtime, worker: Worker, receiver: Receiver) -> None:
    photo = [{"type": "image", "payload": {"url": f"{receiver.url}/cdn/bill.jpg"}}]
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("", mid="m_photo", attachments=photo))
        post_meta(client, whatsapp_message(wamid="wamid.reaction", message_type="reaction"))
    worker.drain()
    photo_message, reaction = _inbound(rt)
    assert photo_message.state == "in_review"
    assert photo_message.text == "[image]"
    with rt.factory() as session:
        kinds = session.scalars(
            select(Attachment.content_type).where(Attachment.message_id == photo_message.id)
        )
        assert list(kinds) == ["image"]
    assert reaction.state == "ignored"
    assert "reaction" in reaction.state_reason


def test_malformed_bodies_get_400_and_are_kept(rt: Runtime, worker: Worker) -> None:
    bodies = [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        encode({"object": "page"}),
        encode({"object": "page", "entry": "nope"}),
        encode({"object": "telepathy", "entry": []}),
    ]
    with TestClient(create_app(rt)) as client:
        for body in bodies:
            response = post_meta(client, body)
            assert response.status_code == 400, body
            assert response.json()["detail"].startswith("malformed")
        assert post_x(client, encode({"direct_message_events": []})).status_code == 400
    with rt.factory() as session:
        deliveries = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [d.body for d in deliveries[: len(bodies)]] == bodies
    assert all(d.outcome.startswith("malformed") and d.processed_at for d in deliveries)
    assert _inbound(rt) == []


def test_unknown_or_incomplete_events_are_ignored_with_a_reason(rt: Runtime) -> None:
    postback = messenger_message()
    event = postback["entry"][0]["messaging"][0]
    del event["message"]
    event["postback"] = {"title": "Get started", "payload": "START"}
    no_sender = whatsapp_message()
    del no_sender["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    follow = {"for_user_id": X_ACCOUNT, "follow_events": [{"type": "follow"}]}
    with TestClient(create_app(rt)) as client:
        first = post_meta(client, postback).json()
        second = post_meta(client, no_sender).json()
        third = post_x(client, follow).json()
    assert first["stored"] == second["stored"] == third["stored"] == 0
    assert "postback" in first["ignored"][0]
    assert "without id or from" in second["ignored"][0]
    assert "follow_events" in third["ignored"][0]
    assert _inbound(rt) == []
    with rt.factory() as session:
        outcomes = session.scalars(select(WebhookDelivery.outcome)).all()
    assert all("ignored" in o for o in outcomes)


def test_a_corrupted_stored_event_is_quarantined_not_lost(rt: Runtime, worker: Worker) -> None:
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message())
    (message,) = _inbound(rt)
    with rt.factory() as session, session.begin():
        session.get(Message, message.id).raw = b'{"platform": "messenger"}'
    worker.drain()
    (message,) = _inbound(rt)
    assert message.state == "quarantined"
    assert "no sender id" in message.state_reason


def test_staff_see_a_whatsapp_message_in_the_queue_and_review_page(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    import re

    with TestClient(create_app(rt)) as client:
        post_meta(client, whatsapp_message("Roaming in Spain cost me 80 euro, why?"))
        worker.drain()
        (message,) = _inbound(rt)
        staff(rt)
        page = client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/login",
            data={"username": "alice", "password": "correct horse battery", "_csrf_token": token},
        )
        queue = client.get("/queue")
        review = client.get(f"/messages/{message.id}")
        by_words = client.get("/search", params={"q": "cost me 80 euro"})
        by_number = client.get("/search", params={"q": "855550101"})
    assert f'href="/messages/{message.id}"' in by_words.text, "found by what the customer wrote"
    assert f'href="/messages/{message.id}"' in by_number.text, "and by their number"
    assert queue.status_code == 200 and "Aoife Murphy" in queue.text
    assert 'id="quote-note"' not in review.text, "a DM reply carries no quote"
    assert "<th>Due (UTC)</th>" in queue.text, "the queue says which zone its times are in"
    assert re.search(r"<td[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d", queue.text), "due to the minute"
    assert review.status_code == 200
    assert "Roaming in Spain cost me 80 euro, why?" in review.text
    assert "Aoife Murphy" in review.text
    assert 'id="reply-not-on-file"' not in review.text, "her number is the one the reply goes to"


def _identities(rt: Runtime, customer_id: int) -> set[tuple[str, str]]:
    with rt.factory() as session:
        return {(i.kind, i.value) for i in session.get(Customer, customer_id).identities}


def test_an_x_handle_that_changed_owners_does_not_bring_the_new_owner_to_the_old_customer(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """Aoife's handle on file (@aoifem) links her X account on her first DM. Once she has moved
    to another handle, whoever takes @aoifem is someone else: their DM makes a new customer and
    Aoife's record (plan, identities) stays out of their conversation."""
    with TestClient(create_app(rt)) as client:
        post_x(client, x_dm("Is my contract up for renewal?", event_id="1001"))
        worker.drain()
        (hers,) = _inbound(rt)
        on_file = _identities(rt, hers.customer_id)
        assert ("x_id", "3001969357") in on_file, "a handle on file, no X id yet: it links"
        post_x(
            client,
            x_dm(
                "How do I move my number over to you?",
                sender_id="2220000001",
                screen_name="AoifeM",
                name="Sam Porter",
                followers=5,
                event_id="1002",
            ),
        )
    worker.drain()
    hers, theirs = _inbound(rt)
    assert theirs.state == "in_review"
    assert theirs.customer_id is not None and theirs.customer_id != hers.customer_id
    assert theirs.conversation_id != hers.conversation_id
    assert _identities(rt, hers.customer_id) == on_file, "Aoife gains no second X id"
    assert _identities(rt, theirs.customer_id) == {("x_id", "2220000001")}
    with rt.factory() as session:
        newcomer = session.get(Customer, theirs.customer_id)
        assert newcomer.provisional and newcomer.name == "Sam Porter" and newcomer.plan == ""
    staff(rt)
    with TestClient(create_app(rt)) as client:
        detail = client.get(f"/api/messages/{theirs.id}", headers=api_token(client)).json()
    assert detail["customer"]["name"] == "Sam Porter"


CARD = "4111 1111 1111 1111"
PHONE = "087 123 4567"


def _draft_stale(rt: Runtime, message_id: int) -> list[bool]:
    with rt.factory() as session:
        query = select(Draft.stale).where(Draft.message_id == message_id).order_by(Draft.id)
        return list(session.scalars(query))


def test_a_message_the_customer_unsends_is_ignored_and_its_words_are_gone(
    rt: Runtime, worker: Worker
) -> None:
    mid = "m_card"
    with TestClient(create_app(rt)) as client:
        said = f"Charge my card {CARD} for the bill, or call me on {PHONE}"
        post_meta(client, messenger_message(said, mid=mid))
        worker.drain()
        (message,) = _inbound(rt)
        assert message.state == "in_review" and CARD in message.text
        with rt.factory() as session:
            (drafted,) = session.scalars(select(Draft).where(Draft.message_id == message.id))
        assert PHONE in json.dumps(drafted.grounding["entities"]), "the draft had found it"
        agent_correction(rt, message.id, "billing_dispute", "complaint", "alice")
        answer = post_meta(client, messenger_unsend(mid)).json()
        assert (answer["changes"], answer["ignored"]) == (1, [])
        assert post_meta(client, messenger_unsend(mid)).json()["changes"] == 1, "again: the same"
        late = post_meta(client, messenger_edit(mid, "typo")).json()
        assert late["ignored"] == [
            f"messenger message {mid} edited by the customer after it was deleted: "
            "the deletion stands"
        ]
    worker.drain()
    (message,) = _inbound(rt)
    assert (message.state, message.state_reason) == ("ignored", "the customer deleted this message")
    assert message.text == "[deleted by the customer]"
    assert CARD.encode() not in message.raw
    assert json.loads(message.raw)["event"]["sender"] == {"id": "6543210987654321"}
    assert _draft_stale(rt, message.id) == [True]
    with rt.factory() as session:
        (drafted,) = session.scalars(select(Draft).where(Draft.message_id == message.id))
        taught = session.scalars(
            select(ClassifierExample.text).where(ClassifierExample.message_id == message.id)
        ).all()
        bodies = session.scalars(select(WebhookDelivery.body)).all()
    assert drafted.body == "" and "entities" not in drafted.grounding, "nor in its draft"
    assert taught == [], "nor in the correction's training example"
    assert not [b for b in bodies if CARD.encode() in b], "nor in the webhook body it came in"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        found = client.get("/api/search", params={"q": "4111 1111"}, headers=auth).json()
        detail = client.get(f"/api/messages/{message.id}", headers=auth).json()
        anyway = client.post(f"/api/messages/{message.id}/draft-anyway", headers=auth)
        by_sender = client.get("/api/search", params={"q": "6543210987654321"}, headers=auth)
    assert found["messages"] == []
    assert CARD not in json.dumps(detail) and PHONE not in json.dumps(detail)
    assert anyway.status_code == 400
    assert "the customer deleted this message" in anyway.json()["detail"]
    assert [m["id"] for m in by_sender.json()["messages"]] == [message.id], "found by sender"


def test_an_answered_message_keeps_its_history_when_unsent(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    mid = "m_answered"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message(f"My card {CARD} was charged twice", mid=mid))
        worker.drain()
        (message,) = _inbound(rt)
        approved = client.post(
            f"/api/messages/{message.id}/approve",
            headers=api_token(client),
            json={"body": "Refunded."},
        )
        assert approved.status_code == 201, approved.text
        worker.drain()
        assert post_meta(client, messenger_unsend(mid)).json()["changes"] == 1
        edit = post_meta(client, messenger_edit(mid, "never mind")).json()
    (message,) = _inbound(rt)
    assert message.state == "sent", "the reply it had stays in its history"
    assert message.text == "[deleted by the customer]"
    assert CARD.encode() not in message.raw
    with rt.factory() as session:
        reply = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    assert (reply.state, reply.body.strip()) == ("sent", "Refunded.")
    assert edit["changes"] == 0 and "answered" in edit["ignored"][0]


def test_an_edit_puts_the_new_words_on_a_waiting_message_and_parses_it_again(
    rt: Runtime, worker: Worker
) -> None:
    mid = "m_edit"
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("My bill is wrong", mid=mid))
        worker.drain()
        answer = post_meta(client, messenger_edit(mid, "Roaming in Spain cost me 80 euro")).json()
        assert (answer["changes"], answer["ignored"]) == (1, [])
        (message,) = _inbound(rt)
        assert message.state == "received", "sent to be parsed again"
        worker.drain()
        unknown = post_meta(client, messenger_edit("m_never_seen", "hello")).json()
    (message,) = _inbound(rt)
    assert message.state == "in_review"
    assert message.text == "Roaming in Spain cost me 80 euro"
    assert _draft_stale(rt, message.id) == [True], "the draft answers the old words"
    assert unknown["ignored"] == [
        "messenger message m_never_seen edited by the customer is not stored here"
    ]
    staff(rt)
    with TestClient(create_app(rt)) as client:
        found = client.get(
            "/api/search", params={"q": "cost me 80 euro"}, headers=api_token(client)
        ).json()
    assert [m["id"] for m in found["messages"]] == [message.id]
