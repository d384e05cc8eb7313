"""Two sends in one WhatsApp conversation at the same moment, outside the reply window: two
replies taken by two workers, or a reply and an automatic acknowledgement. One template reaches
the customer, and the other send is held (a reply) or not sent (an acknowledgement), saying so.

The first send is held in the transaction that takes it, just after it read whether a template
went (`reply_details`); the second starts then, and the first is let through once the second
waits for it (PostgreSQL: a lock not granted; SQLite: its first write, which waits for the one
writer's lock) or is done. SQLite and PostgreSQL; the platform is the loopback receiver.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from types import ModuleType
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder import acknowledge
from responder.acknowledge import send_acknowledgements
from responder.db.models import Acknowledgement, Message, OutboxItem
from responder.pipeline import stages
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import staff
from tests.lock_waits import statement_seen, until_waiting
from tests.social.conftest import Receiver, acknowledging, late_whatsapp_pair

REPLY = "Hi, sorry about the bill. We have refunded the roaming charge. Northwind Mobile"
TEMPLATE = "[WhatsApp template 'service_follow_up']"
NO_SECOND = "and they have not written back since, so no second one went out"


def _at_once(
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    first_in: ModuleType,
    first: Callable[[], object],
    second: Callable[[], object],
) -> None:
    """`first` run by a thread held in its take (`reply_details` as `first_in` calls it), then
    `second` by another, the first let through once the second waits for it or is done."""
    holding, release = threading.Event(), threading.Event()
    read = first_in.reply_details

    def held(*args: Any) -> Any:
        details = read(*args)
        if threading.current_thread().name == "first":
            holding.set()
            assert release.wait(60), "the test never let the first send go on"
        return details

    monkeypatch.setattr(first_in, "reply_details", held)
    failures: list[BaseException] = []

    def run(send: Callable[[], object]) -> Callable[[], None]:
        def go() -> None:
            try:
                send()
            except BaseException as exc:
                failures.append(exc)

        return go

    one = threading.Thread(target=run(first), name="first")
    two = threading.Thread(target=run(second), name="second")
    with _writes(rt, "second") as writing:
        one.start()
        assert holding.wait(60), "the first send never reached its take"
        two.start()
        until_waiting(rt, two, writing)
        release.set()
        one.join(60)
        two.join(60)
    assert not failures, failures


def _reply(rt: Runtime, message_id: int) -> tuple[str, str, str]:
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert message is not None and item is not None
        return message.state, item.state, item.last_error


def _ours(rt: Runtime) -> list[str]:
    """What the conversation shows we sent."""
    with rt.factory() as session:
        return list(session.scalars(select(Message.text).where(Message.direction == "out")))


@pytest.fixture
def templated(rt: Runtime) -> Runtime:
    rt.settings.social.whatsapp_template = "service_follow_up"
    staff(rt)
    return rt


def test_two_replies_sent_at_once_send_one_template(
    templated: Runtime, worker: Worker, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = templated
    with TestClient(create_app(rt)) as client:
        first, second, auth = late_whatsapp_pair(client, worker.drain, REPLY)
        other = client.post(f"/api/messages/{second}/approve", headers=auth, json={"body": REPLY})
        assert other.status_code == 201, other.text
    send = partial(stages.send_stage, rt)
    _at_once(rt, monkeypatch, stages, partial(send, [first]), partial(send, [second]))
    assert [r.json["type"] for r in receiver.requests] == ["template"]
    state, item, why = _reply(rt, first)
    assert (state, item) == ("failed", "held") and "was sent instead" in why
    state, item, why = _reply(rt, second)
    assert (state, item) == ("failed", "held") and NO_SECOND in why
    assert _ours(rt) == [TEMPLATE], "one template, shown as sent"


@pytest.mark.parametrize("taken_first", ["acknowledgement", "reply"])
def test_an_acknowledgement_and_a_reply_sent_at_once_send_one_template(
    templated: Runtime,
    worker: Worker,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    taken_first: str,
) -> None:
    rt = templated
    acknowledging(rt, social=True)
    with TestClient(create_app(rt)) as client:
        first, _, _ = late_whatsapp_pair(client, worker.drain_claims, REPLY)
    acknowledged = partial(send_acknowledgements, rt)
    replied = partial(stages.send_stage, rt, [first])
    if taken_first == "acknowledgement":
        _at_once(rt, monkeypatch, acknowledge, acknowledged, replied)
    else:
        _at_once(rt, monkeypatch, stages, replied, acknowledged)
    assert [r.json["type"] for r in receiver.requests] == ["template"]
    state, item, why = _reply(rt, first)
    with rt.factory() as session:
        ack = session.scalars(select(Acknowledgement)).one()
    if taken_first == "acknowledgement":
        assert ack.state == "sent"
        assert (state, item) == ("failed", "held") and NO_SECOND in why
    else:
        assert (state, item) == ("failed", "held") and "was sent instead" in why
        assert ack.state == "not_sent" and NO_SECOND in ack.last_error
    assert _ours(rt) == [TEMPLATE], "one template, shown as sent"


def _writes(rt: Runtime, thread: str) -> AbstractContextManager[threading.Event]:
    """Set when the thread named `thread` first writes."""
    return statement_seen(
        rt,
        lambda statement: (
            threading.current_thread().name == thread
            and statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))
        ),
    )
