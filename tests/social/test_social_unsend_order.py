"""An unsend that comes with its message, or before it is stored: the message is still stored
without its words, ignored as any unsent message is, and no webhook body keeps them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from responder.channels.social import ingest
from responder.channels.social.changes import PENDING_UNSEND_DAYS
from responder.channels.social.ingest import (
    IngestOutcome,
    process_delivery,
    record_delivery,
    retry_unprocessed,
)
from responder.db.models import Draft, Message, PendingUnsend, WebhookDelivery, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.lock_waits import statement_seen, until_waiting
from tests.social.payloads import PAGE_ID, encode, messenger_message, messenger_unsend, post_meta

CARD = "4111 1111 1111 1111"
SAID = f"Take the bill from my card {CARD} please"


def _inbound(rt: Runtime) -> list[Message]:
    with rt.factory() as session:
        query = select(Message).where(Message.direction == "in").order_by(Message.id)
        return list(session.scalars(query.options(undefer(Message.raw))))


def _bodies(rt: Runtime) -> list[bytes]:
    with rt.factory() as session:
        return list(session.scalars(select(WebhookDelivery.body)))


def _pending(rt: Runtime) -> list[str]:
    with rt.factory() as session:
        return list(session.scalars(select(PendingUnsend.external_key)))


def _assert_unsent(rt: Runtime, mid: str) -> Message:
    """Stored once, without the words, ignored with why, never drafted; no body keeps them."""
    (message,) = _inbound(rt)
    assert message.external_key == mid
    assert (message.state, message.state_reason) == ("ignored", "the customer deleted this message")
    assert CARD.encode() not in message.raw and CARD not in (message.text or "")
    assert not [body for body in _bodies(rt) if CARD.encode() in body], "nor any webhook body"
    with rt.factory() as session:
        assert session.scalars(select(Draft).where(Draft.message_id == message.id)).all() == []
    assert _pending(rt) == [], "the kept unsend is used up"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        found = client.get("/api/search", params={"q": "4111 1111"}, headers=auth).json()
        anyway = client.post(f"/api/messages/{message.id}/draft-anyway", headers=auth)
    assert found["messages"] == []
    assert anyway.status_code == 400
    assert "the customer deleted this message" in anyway.json()["detail"]
    return message


def _together(mid: str, *, unsend_first: bool) -> dict[str, Any]:
    """One body holding the message and its unsend, in either order."""
    payload = messenger_message(SAID, mid=mid)
    unsend = messenger_unsend(mid)["entry"][0]["messaging"][0]
    events = payload["entry"][0]["messaging"]
    events.insert(0 if unsend_first else 1, unsend)
    return payload


@pytest.mark.parametrize("unsend_first", [False, True])
def test_an_unsend_in_the_same_body_as_its_message(
    rt: Runtime, worker: Worker, unsend_first: bool
) -> None:
    mid = "m_same_body"
    with TestClient(create_app(rt)) as client:
        answer = post_meta(client, _together(mid, unsend_first=unsend_first)).json()
        assert (answer["stored"], answer["changes"], answer["ignored"]) == (1, 1, [])
        redelivered = post_meta(client, _together(mid, unsend_first=unsend_first)).json()
        assert redelivered["duplicates"] == 1
    worker.drain()
    _assert_unsent(rt, mid)


def test_an_unsend_before_its_message_comes_in(rt: Runtime, worker: Worker) -> None:
    """Meta sent the unsend first: kept, and the message is stored without its words."""
    mid = "m_out_of_order"
    with TestClient(create_app(rt)) as client:
        early = post_meta(client, messenger_unsend(mid)).json()
        assert (early["changes"], early["awaiting"], early["ignored"]) == (0, 1, [])
        assert post_meta(client, messenger_unsend(mid)).json()["awaiting"] == 1, "kept once"
        assert _pending(rt) == [mid]
        answer = post_meta(client, messenger_message(SAID, mid=mid)).json()
        assert (answer["stored"], answer["ignored"]) == (1, [])
        # A message sent afterwards is not touched.
        post_meta(client, messenger_message("And my roaming bill?", mid="m_next"))
    worker.drain()
    first, second = _inbound(rt)
    assert (first.state, first.state_reason) == ("ignored", "the customer deleted this message")
    assert CARD.encode() not in first.raw
    assert second.state == "in_review"
    assert not [body for body in _bodies(rt) if CARD.encode() in body]
    staff(rt, "sam", "supervisor")
    with TestClient(create_app(rt)) as client:
        listed = client.get("/api/supervisor/webhooks", headers=api_token(client, "sam")).json()
    assert listed["items"] == [], "nothing left not used"
    with rt.factory() as session:
        (outcome,) = session.scalars(
            select(WebhookDelivery.outcome).order_by(WebhookDelivery.id).limit(1)
        )
    assert "1 deleted by the customer before it came in" in outcome


def test_a_redelivered_body_loses_the_words_too(rt: Runtime, worker: Worker) -> None:
    """Meta sent the message twice (two bodies kept) before the customer unsent it: the
    unsend cuts the words from both, not only from the body the message was stored from."""
    mid = "m_twice"
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, messenger_message(SAID, mid=mid)).json()["stored"] == 1
        again = post_meta(client, messenger_message(SAID, mid=mid)).json()
        assert again["duplicates"] == 1
        assert post_meta(client, messenger_unsend(mid)).json()["changes"] == 1
    worker.drain()
    assert len(_bodies(rt)) == 3
    _assert_unsent(rt, mid)


@pytest.fixture
def breaking(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Splitting a body that holds the card number raises, as a bug would; others split."""
    split = ingest.split_meta

    def split_meta(body: Any) -> Any:
        if CARD in encode(body).decode():
            raise RuntimeError("the split broke on this body")
        return split(body)

    monkeypatch.setattr(ingest, "split_meta", split_meta)
    return monkeypatch


def test_an_unsend_while_its_message_waits_to_be_split(
    rt: Runtime, worker: Worker, breaking: pytest.MonkeyPatch
) -> None:
    """The message's body failed to split; the unsend comes meanwhile and is kept (a row, so
    a restart loses nothing); the body split later, by a person's Retry, stores it unsent."""
    mid = "m_waiting"
    with TestClient(create_app(rt)) as client:
        waiting = post_meta(client, messenger_message(SAID, mid=mid))
        assert waiting.status_code == 202, "stored, to be split again"
        unsent = post_meta(client, messenger_unsend(mid)).json()
        assert (unsent["awaiting"], unsent["ignored"]) == (1, [])
    assert _inbound(rt) == [] and _pending(rt) == [mid]
    breaking.undo()  # the bug is fixed
    staff(rt, "bob")
    with TestClient(create_app(rt)) as client:
        delivery = waiting.json()["delivery"]
        retried = client.post(
            f"/api/webhook-deliveries/{delivery}/retry", headers=api_token(client, "bob")
        )
        assert retried.status_code == 201, retried.text
    worker.drain()
    _assert_unsent(rt, mid)


def test_an_unsend_whose_message_never_comes_is_dropped_in_time(rt: Runtime) -> None:
    """Kept while the message may still come: a month, longer while an older body waits."""
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_unsend("m_never"))
    old = utcnow() - timedelta(days=PENDING_UNSEND_DAYS + 1)
    with rt.factory.begin() as session:
        session.execute(update(PendingUnsend).values(received_at=old))
    # A body from before the unsend still waits to be split: it may hold the message.
    stuck = record_delivery(rt.factory, "meta", b"{}")
    with rt.factory.begin() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == stuck)
            .values(received_at=old - timedelta(hours=1), failed_at=utcnow())
        )
    retry_unprocessed(rt.factory, older_than=timedelta(minutes=1))
    assert _pending(rt) == ["m_never"], "kept: the waiting body may hold its message"
    with rt.factory.begin() as session:
        session.execute(update(WebhookDelivery).values(processed_at=utcnow()))
    retry_unprocessed(rt.factory, older_than=timedelta(minutes=1))
    assert _pending(rt) == [], "dropped: nothing left that could bring it"


def test_an_unsend_split_while_its_message_is_being_stored_is_not_missed(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers split the message's body and its unsend's at the same moment: the unsend
    waits for the message to be stored and then takes its words (SQLite too, which has no row
    locks); it is never kept for a message already stored with its words."""
    mid = "m_racing"
    message, unsent = _at_once(
        rt, monkeypatch, messenger_message(SAID, mid=mid), messenger_unsend(mid)
    )
    assert (message.stored, unsent.changes, unsent.awaiting) == (1, 1, 0)
    worker.drain()
    _assert_unsent(rt, mid)


def test_two_bodies_each_with_a_message_and_an_early_unsend_both_split(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each body stores a message and keeps an unsend for one not come yet, both for one Page
    at the same moment: the second waits for the first (PostgreSQL would otherwise abort one
    as a deadlock, each holding the Page's row to share and waiting to hold it alone)."""

    def body(n: int) -> dict[str, Any]:
        payload = messenger_message(f"Question {n}", mid=f"m_new_{n}")
        early = messenger_unsend(f"m_later_{n}")["entry"][0]["messaging"][0]
        payload["entry"][0]["messaging"].append(early)
        return payload

    first, second = _at_once(rt, monkeypatch, body(1), body(2))
    assert (first.stored, first.awaiting) == (second.stored, second.awaiting) == (1, 1)
    assert sorted(_pending(rt)) == ["m_later_1", "m_later_2"]


def _at_once(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, first: Any, second: Any
) -> tuple[IngestOutcome, IngestOutcome]:
    """`first` is split up to the moment it has looked for an early unsend of its message
    and not stored it yet, then `second` is split until it waits for `first` (or has looked
    for its own, or is done), then both go on: the moment two workers would miss each other."""
    with transaction(rt.factory) as session:  # the Page's channel exists already
        ingest.channel_for(session, "messenger", PAGE_ID, create=True)
    ids = [record_delivery(rt.factory, "meta", encode(body)) for body in (first, second)]
    looked = {name: threading.Event() for name in ("first", "second")}
    go = threading.Event()
    looking = ingest.unsend_waiting

    def unsend_waiting(*args: Any) -> bool:
        found = looking(*args)
        name = threading.current_thread().name
        if name in looked and not looked[name].is_set():
            looked[name].set()
            go.wait(timeout=120)
        return found

    monkeypatch.setattr(ingest, "unsend_waiting", unsend_waiting)
    outcomes: dict[str, IngestOutcome] = {}
    errors: list[BaseException] = []

    def split(name: str, delivery_id: int) -> Callable[[], None]:
        def run() -> None:
            try:
                outcomes[name] = process_delivery(rt.factory, delivery_id)
            except BaseException as exc:
                errors.append(exc)

        return run

    one = threading.Thread(target=split("first", ids[0]), name="first")
    two = threading.Thread(target=split("second", ids[1]), name="second")
    with _channel_writes(rt, "second") as writing:
        one.start()
        looked["first"].wait(timeout=120)
        two.start()
        until_waiting(rt, two, writing, done=looked["second"])
        go.set()
        one.join(timeout=120)
        two.join(timeout=120)
    assert errors == []
    return outcomes["first"], outcomes["second"]


def _channel_writes(rt: Runtime, thread: str) -> AbstractContextManager[threading.Event]:
    """Set when the thread named `thread` writes to the channels' table."""
    return statement_seen(
        rt,
        lambda statement: (
            threading.current_thread().name == thread
            and statement.upper().startswith("UPDATE CHANNELS")
        ),
    )
