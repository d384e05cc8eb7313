"""Two sends in one WhatsApp conversation at the same moment, outside the reply window: two
replies taken by two workers, or a reply and an automatic acknowledgement. One template reaches
the customer, and the other send is held (a reply) or not sent (an acknowledgement), saying so;
when the first's template did not go out after all (refused), the other goes back in the queue
and sends it.

The first send is held in the transaction that takes it, just after it read whether a template
went (`reply_details`); the second starts then, and the first is let through once the second
waits for it (PostgreSQL: a lock not granted; SQLite: its first write, which waits for the one
writer's lock) or is done. SQLite and PostgreSQL; the platform is the loopback receiver.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from functools import partial
from types import ModuleType
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder import acknowledge
from responder.acknowledge import send_acknowledgements
from responder.channels.delivery import OutgoingReply
from responder.channels.social.senders import SocialSender
from responder.db.models import Acknowledgement, Conversation, Message, OutboxItem, utcnow
from responder.db.session import transaction
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
#: WhatsApp refusing the first send's template for good: it certainly did not go out.
REFUSED = {"error": {"message": "(#131026) Message undeliverable", "code": 131026}}


def _at_once(
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    first_in: ModuleType,
    first: Callable[[], object],
    second: Callable[[], object],
    then: Callable[[threading.Thread], None] = lambda _: None,
) -> None:
    """`first` run by a thread held in its take (`reply_details` as `first_in` calls it), then
    `second` by another, the first let through once the second waits for it or is done; `then`
    (given the second's thread) runs while both go on."""
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
        then(two)
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


class _Outcomes:
    """The two sends' outcomes in `order`, both threads named as `_at_once` names them: the
    second's hold recorded before the first's template is withdrawn ("held first"), after it
    ("withdrawn first"), or while the withdrawal, its transaction not yet committed, holds the
    conversation ("at the same moment": the first's `withdraw` in `first_in`)."""

    def __init__(
        self,
        rt: Runtime,
        monkeypatch: pytest.MonkeyPatch,
        order: str,
        first_in: ModuleType,
    ) -> None:
        self.rt, self.order = rt, order
        self.done = {"first": threading.Event(), "second": threading.Event()}
        self.withdrawing, self.go = threading.Event(), threading.Event()
        deliver, withdraw = SocialSender.deliver, first_in.withdraw

        def delivering(
            sender: SocialSender, reply: OutgoingReply, now: datetime | None = None
        ) -> Any:
            name = threading.current_thread().name
            waits = {
                ("first", "held first"): self.done["second"],
                ("second", "withdrawn first"): self.done["first"],
                ("second", "at the same moment"): self.withdrawing,
            }.get((name, order))
            assert waits is None or waits.wait(60), f"{name} never went on"
            return deliver(sender, reply, now)

        def withdrawn(*args: Any) -> None:
            withdraw(*args)
            if threading.current_thread().name == "first" and order == "at the same moment":
                self.withdrawing.set()
                assert self.go.wait(60), "the test never let the withdrawal commit"

        monkeypatch.setattr(SocialSender, "deliver", delivering)
        monkeypatch.setattr(first_in, "withdraw", withdrawn)

    def run(self, name: str, send: Callable[[], object]) -> Callable[[], None]:
        def sending() -> None:
            try:
                send()
            finally:
                self.done[name].set()

        return sending

    def then(self, second: threading.Thread) -> None:
        """At the same moment: the withdrawal is let commit once the second's outcome waits
        for the conversation it holds (or is recorded: it did not wait)."""
        if self.order != "at the same moment":
            return
        watched = self.withdrawing

        def writes(statement: str) -> bool:
            return (
                threading.current_thread().name == "second"
                and watched.is_set()
                and statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))
            )

        with statement_seen(self.rt, writes) as writing:
            assert self.withdrawing.wait(60), "the first send's template was never withdrawn"
            until_waiting(self.rt, second, writing)
        self.go.set()


def _last_message_at(rt: Runtime) -> datetime:
    with rt.factory() as session:
        return session.scalars(select(Conversation.last_message_at)).one()


def _filed_later(rt: Runtime) -> datetime:
    """Her messages filed a minute ago, a day after she wrote them (a late delivery): the
    conversation's last message time is when they were filed, later than any message's."""
    at = utcnow() - timedelta(minutes=1)
    with transaction(rt.factory) as session:
        session.execute(update(Conversation).values(last_message_at=at))
    return at


def _first_clock_ahead(monkeypatch: pytest.MonkeyPatch, first_in: ModuleType) -> None:
    """The first send's worker host's clock runs a minute ahead of the second's: the second
    send, taken after the first's template was recorded, is dated before it."""
    now = first_in.utcnow

    def ahead() -> datetime:
        if threading.current_thread().name == "first":
            return now() + timedelta(minutes=1)
        return now()

    monkeypatch.setattr(first_in, "utcnow", ahead)


def _queued_again(rt: Runtime, message_id: int) -> None:
    """The reply is back in the queue, due now, saying why."""
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert message is not None and item is not None
        assert (message.state, item.state, item.last_error) == ("approved", "queued", "")
        assert message.next_attempt_at is None and item.next_attempt_at is None
        assert message.state_reason.startswith("queued again: the WhatsApp template it was held")


@pytest.mark.parametrize("order", ["held first", "withdrawn first", "at the same moment"])
def test_a_reply_held_behind_a_template_that_did_not_go_is_queued_again(
    templated: Runtime,
    worker: Worker,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
) -> None:
    """WhatsApp refuses the first reply's template: nothing reached her. The second reply,
    held behind that template at the same moment, goes back in the queue and sends it, however
    the two outcomes meet, and whatever the two workers' clocks say; the conversation's last
    message time is again what it was meanwhile."""
    rt = templated
    with TestClient(create_app(rt)) as client:
        first, second, auth = late_whatsapp_pair(client, worker.drain, REPLY)
        other = client.post(f"/api/messages/{second}/approve", headers=auth, json={"body": REPLY})
        assert other.status_code == 201, other.text
    before = _filed_later(rt)
    receiver.answer(400, REFUSED)
    _first_clock_ahead(monkeypatch, stages)
    outcomes = _Outcomes(rt, monkeypatch, order, stages)
    send = partial(stages.send_stage, rt)
    _at_once(
        rt,
        monkeypatch,
        stages,
        outcomes.run("first", partial(send, [first])),
        outcomes.run("second", partial(send, [second])),
        outcomes.then,
    )
    state, item, why = _reply(rt, first)
    assert (state, item) == ("failed", "failed") and "WhatsApp refused the reply (400)" in why
    _queued_again(rt, second)
    assert _last_message_at(rt) == before, "as before the template was taken"
    assert _ours(rt) == [], "nothing shown as sent"

    send([second])
    assert [r.json["type"] for r in receiver.requests] == ["template", "template"]
    state, item, why = _reply(rt, second)
    assert (state, item) == ("failed", "held") and "was sent instead" in why
    assert _ours(rt) == [TEMPLATE], "one template, shown as sent"


@pytest.mark.parametrize(
    ("taken_first", "order"),
    [
        ("acknowledgement", "held first"),
        ("acknowledgement", "withdrawn first"),
        # An acknowledgement's hold is recorded in its take, before any withdrawal it is held
        # behind: one taken after the withdrawal is not held, it takes the template itself.
        ("reply", "held first"),
    ],
)
def test_an_acknowledgement_or_a_reply_held_behind_a_template_that_did_not_go_is_queued_again(
    templated: Runtime,
    worker: Worker,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    taken_first: str,
    order: str,
) -> None:
    """The first send's template is refused: the acknowledgement left unsent behind it goes
    back to be sent, or the reply held behind it back in the queue, and sends the template,
    whatever the two workers' clocks say; the conversation's last message time is again what
    it was meanwhile."""
    rt = templated
    acknowledging(rt, social=True)
    with TestClient(create_app(rt)) as client:
        first, _, _ = late_whatsapp_pair(client, worker.drain_claims, REPLY)
    before = _filed_later(rt)
    receiver.answer(400, REFUSED)
    _first_clock_ahead(monkeypatch, acknowledge if taken_first == "acknowledgement" else stages)
    acknowledged = partial(send_acknowledgements, rt)
    replied = partial(stages.send_stage, rt, [first])
    if taken_first == "acknowledgement":
        outcomes = _Outcomes(rt, monkeypatch, order, acknowledge)
        ack_run, reply_run = outcomes.run("first", acknowledged), outcomes.run("second", replied)
        _at_once(rt, monkeypatch, acknowledge, ack_run, reply_run, outcomes.then)
    else:
        outcomes = _Outcomes(rt, monkeypatch, order, stages)
        reply_run, ack_run = outcomes.run("first", replied), outcomes.run("second", acknowledged)
        _at_once(rt, monkeypatch, stages, reply_run, ack_run, outcomes.then)
    assert _last_message_at(rt) == before, "as before the template was taken"
    with rt.factory() as session:
        ack = session.scalars(select(Acknowledgement)).one()
    if taken_first == "acknowledgement":
        assert ack.state == "failed" and "WhatsApp refused the reply (400)" in ack.last_error
        _queued_again(rt, first)
        replied()
        state, item, why = _reply(rt, first)
        assert (state, item) == ("failed", "held") and "was sent instead" in why
    else:
        state, item, _ = _reply(rt, first)
        assert (state, item) == ("failed", "failed")
        assert (ack.state, ack.last_error, ack.next_attempt_at) == ("queued", "", None)
        assert acknowledged() == 1
        with rt.factory() as session:
            assert session.scalars(select(Acknowledgement.state)).one() == "sent"
    assert [r.json["type"] for r in receiver.requests] == ["template", "template"]
    assert _ours(rt) == [TEMPLATE], "one template, shown as sent"
