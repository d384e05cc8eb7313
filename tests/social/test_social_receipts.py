"""Delivery and read receipts find the replies they speak of without reading the channel's
other sent replies."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from sqlalchemy import event, select

from responder.db.models import Message, OutboxItem
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver
from tests.social.payloads import messenger_message, messenger_read, post_meta

READER = "6543210987654321"
OTHERS = ("1111111111111111", "2222222222222222")


def _send_replies(rt: Runtime, worker: Worker, psids: tuple[str, ...]) -> None:
    staff(rt)
    with TestClient(create_app(rt)) as client:
        for n, psid in enumerate(psids):
            message = messenger_message(f"My bill is wrong, number {n}", psid=psid, mid=f"m_{n}")
            assert post_meta(client, message).json()["stored"] == 1
        worker.drain()
        auth = api_token(client)
        for item in client.get("/api/queue", headers=auth).json():
            response = client.post(
                f"/api/messages/{item['id']}/approve", headers=auth, json={"body": "Refunded."}
            )
            assert response.status_code == 201, response.text
    worker.drain()


def test_a_read_receipt_marks_only_the_readers_replies_and_reads_no_others(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    _send_replies(rt, worker, (OTHERS[0], READER, OTHERS[1]))
    loaded: list[int] = []
    statements: list[str] = []

    def on_load(item: OutboxItem, _context: Any) -> None:
        loaded.append(item.id)

    def on_execute(_conn, _cursor, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(OutboxItem, "load", on_load)
    event.listen(rt.engine, "before_cursor_execute", on_execute)
    try:
        with TestClient(create_app(rt)) as client:
            response = post_meta(client, messenger_read(psid=READER))
    finally:
        event.remove(OutboxItem, "load", on_load)
        event.remove(rt.engine, "before_cursor_execute", on_execute)
    assert response.json()["receipts"] == 1
    with rt.factory() as session:
        rows = session.execute(
            select(Message.sender_address, OutboxItem.id, OutboxItem.delivery_status)
            .join(Message, Message.id == OutboxItem.message_id)
            .order_by(OutboxItem.id)
        ).all()
    assert {address: status for address, _, status in rows} == {
        OTHERS[0]: "",
        READER: "read",
        OTHERS[1]: "",
    }
    (reader_item,) = [item_id for address, item_id, _ in rows if address == READER]
    assert loaded == [reader_item], "the other customers' replies are not read at all"
    assert not [s for s in statements if "outbox.raw" in s], "nor any reply's raw bytes"
