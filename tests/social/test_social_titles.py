"""Direct messages have no subject: staff recognise them by their first words, the platform's
name and the sender, wherever a message is listed or shown."""

from __future__ import annotations

import html
from datetime import timedelta

import msgspec
from alembic import command
from litestar.testing import TestClient
from sqlalchemy import select, text, update

from responder.db.migrate import alembic_config, upgrade
from responder.db.models import Channel, Message, utcnow
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.payloads import (
    WA_PHONE_NUMBER_ID,
    messenger_delivery,
    messenger_message,
    messenger_read,
    post_meta,
    whatsapp_message,
)
from tests.test_web_security import login

WA_TITLE = "Hi, I was charged 80 euro for roaming in Spain. I thought…"
FB_TITLE = "My bill doubled this month and nobody can tell me why"


def test_dms_are_titled_by_their_first_words_and_named_by_platform(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt)
    rt.settings = msgspec.structs.replace(
        rt.settings, outbound=msgspec.structs.replace(rt.settings.outbound, undo_seconds=30)
    )
    with TestClient(create_app(rt)) as client:
        post_meta(client, whatsapp_message())
        post_meta(client, messenger_message(hours_ago=25))
        worker.drain()
        auth = api_token(client)
        items = {i["title"]: i["id"] for i in client.get("/api/queue", headers=auth).json()}
        assert set(items) == {WA_TITLE, FB_TITLE}
        login(client, "alice")

        queue = html.unescape(client.get("/queue").text)
        assert WA_TITLE in queue and FB_TITLE in queue and "(no subject)" not in queue
        assert ">WhatsApp (1)</option>" in queue and ">Messenger (1)</option>" in queue
        assert " · WhatsApp</small>" in queue and " · Messenger</small>" in queue
        assert "whatsapp:" not in queue and "messenger:" not in queue

        page = html.unescape(client.get(f"/messages/{items[WA_TITLE]}").text)
        assert f"<h1>{WA_TITLE}</h1>" in page and f"<title>{WA_TITLE} · Responder" in page
        assert "WhatsApp message</span> from <strong>Aoife</strong> <+353855550101>" in page
        page = html.unescape(client.get(f"/messages/{items[FB_TITLE]}").text)
        assert "Messenger message</span> from <strong>Messenger user 6543…</strong>" in page
        assert "<6543210987654321>" not in page

        # Approved: the undo bar names it; held outside the window: Needs attention does.
        for message_id in items.values():
            approved = client.post(
                f"/api/messages/{message_id}/approve", headers=auth, json={"body": "Sorted."}
            )
            assert approved.status_code == 201
        undo = html.unescape(client.get(f"/queue?approved={items[WA_TITLE]}").text)
        assert f"Reply to Aoife ({WA_TITLE}) approved" in undo
        with rt.factory.begin() as session:  # their undo window over
            session.execute(
                update(Message)
                .where(Message.id.in_(items.values()))
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        worker.drain()
        problems = html.unescape(client.get("/problems").text)
        assert f">{FB_TITLE}</a>" in problems and "(no subject)" not in problems
        assert "<small>Messenger</small>" in problems
        found = html.unescape(client.get("/search?q=roaming").text)
        assert f">{WA_TITLE}</a>" in found


def test_upgrading_names_stored_social_channels_for_people(rt: Runtime, worker: Worker) -> None:
    with TestClient(create_app(rt)) as client:
        post_meta(client, whatsapp_message())
    rt.engine.dispose()
    command.downgrade(alembic_config(rt.engine), "web_0026")
    with rt.engine.connect() as connection:
        names = connection.execute(text("SELECT name FROM channels WHERE kind = 'whatsapp'"))
        assert names.scalars().all() == [f"whatsapp:{WA_PHONE_NUMBER_ID}"], "as named before"
    upgrade(rt.engine)
    rt.engine.dispose()
    with rt.factory() as session:
        names = session.scalars(select(Channel.name).where(Channel.kind == "whatsapp"))
        assert names.all() == ["WhatsApp"]


def test_a_sent_dm_reply_says_when_the_customer_has_read_it(rt: Runtime, worker: Worker) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message())
        worker.drain()
        auth = api_token(client)
        (item,) = client.get("/api/queue", headers=auth).json()
        client.post(f"/api/messages/{item['id']}/approve", headers=auth, json={"body": "Sorted."})
        worker.drain()
        login(client, "alice")
        page = html.unescape(client.get(f"/messages/{item['id']}").text)
        assert "Reply to Messenger user 6543…: sent</p>" in page, "not yet delivered or read"
        post_meta(client, messenger_delivery(["m_out0"]))
        page = html.unescape(client.get(f"/messages/{item['id']}").text)
        assert 'Reply to Messenger user 6543…: sent · <span id="receipt">delivered to the' in page
        post_meta(client, messenger_read())
        page = html.unescape(client.get(f"/messages/{item['id']}").text)
        assert '<span id="receipt">read by the customer</span>' in page


def test_lists_name_a_dm_sender_without_a_name_as_the_review_page_does(
    rt: Runtime, worker: Worker
) -> None:
    """Messenger gives no name here: the queue, search, snoozed and Needs attention say
    "Messenger user 6543…" where they said "6543210987654321"."""
    staff(rt)
    named = "Messenger user 6543…"
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message(hours_ago=25))
        post_meta(client, messenger_message("Roaming in Spain?", psid="9876", mid="m_two"))
        worker.drain()
        auth = api_token(client)
        items = {i["title"]: i["id"] for i in client.get("/api/queue", headers=auth).json()}
        login(client, "alice")

        queue = html.unescape(client.get("/queue").text)
        assert f'<td class="from">{named}<br>' in queue
        assert '<td class="from">Messenger user 9876…<br>' in queue
        found = html.unescape(client.get("/search?q=bill").text)
        assert f"<td>{named}<br>" in found

        back = (utcnow() + timedelta(hours=4)).isoformat()
        snoozed = client.post(
            f"/api/messages/{items['Roaming in Spain?']}/snooze", headers=auth, json={"until": back}
        )
        assert snoozed.status_code == 201
        assert '<td data-label="From">Messenger user 9876…</td>' in html.unescape(
            client.get("/snoozed").text
        )

        # Approved outside Messenger's reply window: held, and listed under Needs attention.
        approved = client.post(
            f"/api/messages/{items[FB_TITLE]}/approve", headers=auth, json={"body": "Sorted."}
        )
        assert approved.status_code == 201
        with rt.factory.begin() as session:
            session.execute(update(Message).values(next_attempt_at=utcnow() - timedelta(days=1)))
        worker.drain()
        problems = html.unescape(client.get("/problems").text)
        assert f'<td data-label="From">{named}<br>' in problems
