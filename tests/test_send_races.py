"""Two workers, or two people, at one reply at once: it reaches the customer once at most, and
a reply left unsent never goes out.

A real SMTP server (aiosmtpd on 127.0.0.1) takes the replies; the database is SQLite and
PostgreSQL. Leases "run out" by moving their end into the past, or the queue's clock past it,
never by waiting.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from responder import acknowledge
from responder.acknowledge import send_acknowledgements
from responder.config import Settings
from responder.db.models import Acknowledgement, Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.pipeline import queue
from responder.pipeline.queue import Claim, claim_batch
from responder.pipeline.stages import send_stage
from responder.pipeline.states import State
from responder.pipeline.worker import Worker
from responder.review import AlreadyHandled, retry
from responder.runtime import Runtime
from responder.unsent import leave_unsent
from tests.helpers import WAIT_SECONDS, drop, make_email, staff, staff_member, wait_for
from tests.lock_waits import statement_seen, until_waiting
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_acknowledge import _closed_for_three_days
from tests.test_crash_recovery import approve_waiting

__all__ = ["smtp_server"]

LEASE = 300


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return send_through(settings, smtp_server)


def approved_replies(rt: Runtime, worker: Worker, count: int) -> list[int]:
    for n in range(count):
        drop(rt, make_email(message_id=f"<race{n}@mail.test>", sender=f"c{n}@home.test"), f"r{n}")
    worker.drain()
    approve_waiting(rt)
    with rt.factory() as session:
        return list(
            session.scalars(
                select(Message.id).where(Message.state == State.APPROVED).order_by(Message.id)
            )
        )


def lease_runs_out(rt: Runtime, model: type[Message] | type[Acknowledgement], *ids: int) -> None:
    """Worker A's lease on these rows (all, without ids) runs out, as a stalled worker's does."""
    lapsed = utcnow() - timedelta(seconds=1)
    running_out = update(model).values(claimed_until=lapsed)
    with transaction(rt.factory) as session:
        session.execute(running_out.where(model.id.in_(ids)) if ids else running_out)


def test_a_second_worker_after_a_lapsed_lease_sends_each_reply_once(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """Worker A's batch outlasted its lease (a slow relay); worker B claimed the replies A had
    not reached. Both send stages run at once: every reply goes out once, none is marked
    uncertain while the other worker sends it."""
    ids = approved_replies(rt, worker, 3)
    assert len(ids) == 3
    smtp_server.handler.delay = 0.2  # a slow relay: each answer to DATA takes a while
    assert claim_batch(rt.factory, "A", [State.APPROVED], 32, LEASE) == ids
    lease_runs_out(rt, Message, *ids)
    assert claim_batch(rt.factory, "B", [State.APPROVED], 32, LEASE) == ids

    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(send_stage, rt, ids, Claim(name, LEASE)) for name in ("A", "B")]
        for run in runs:
            run.result()

    received = sorted(r.rcpt_tos[0] for r in smtp_server.handler.received)
    assert received == ["c0@home.test", "c1@home.test", "c2@home.test"]
    with rt.factory() as session:
        states = session.execute(
            select(Message.state, OutboxItem.state, OutboxItem.attempts).join(
                OutboxItem, OutboxItem.message_id == Message.id
            )
        ).all()
    assert sorted(states) == [("sent", "sent", 1)] * 3


def test_a_worker_that_lost_its_claim_leaves_the_reply_to_the_one_holding_it(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """Run one after the other: the worker whose lease lapsed sends nothing, even first."""
    (message_id,) = approved_replies(rt, worker, 1)
    claim_batch(rt.factory, "A", [State.APPROVED], 32, LEASE)
    lease_runs_out(rt, Message)
    claim_batch(rt.factory, "B", [State.APPROVED], 32, LEASE)
    send_stage(rt, [message_id], Claim("A", LEASE))
    assert smtp_server.handler.received == []
    with rt.factory() as session:
        assert session.get(Message, message_id).state == State.APPROVED  # type: ignore[union-attr]
    send_stage(rt, [message_id], Claim("B", LEASE))
    assert len(smtp_server.handler.received) == 1


def test_a_delivery_that_outlasts_the_lease_is_not_taken_over_while_it_goes_on(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker A's one delivery lasts past its lease (a relay answers DATA only when let go);
    worker B's round meanwhile, which would mark a reply a stopped worker left mid-send
    uncertain, leaves it alone: it is still sending, then sent once, never needing attention.
    B's round runs with the queue's clock just past the lease A took before delivering, once
    A's renewal has moved it on: nothing hangs on how fast either thread runs."""
    (message_id,) = approved_replies(rt, worker, 1)
    rt.settings.pipeline.lease_seconds = 2
    rt.settings.smtp.timeout_seconds = WAIT_SECONDS  # the held DATA must not time out first
    # Both made now: on SQLite a new Worker releases every claim (one process owns the queue).
    a, b = Worker(rt, worker_id="A"), Worker(rt, worker_id="B")
    smtp_server.handler.hold = True

    def lease_end() -> datetime:
        with rt.factory() as session:
            until = session.get(Message, message_id).claimed_until  # type: ignore[union-attr]
        assert until is not None
        return until

    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(a.run_once)
        try:
            assert smtp_server.handler.holding.wait(WAIT_SECONDS)
            first = lease_end()
            wait_for(lambda: lease_end() > first, "A to renew its lease while it delivers")
            monkeypatch.setattr(queue, "utcnow", lambda: first + timedelta(seconds=0.1))
            b.drain_claims()
            monkeypatch.undo()
            with rt.factory() as session:
                meanwhile = session.get(Message, message_id).state  # type: ignore[union-attr]
        finally:
            smtp_server.let_go()
        assert sending.result() == 1
    assert meanwhile == State.SENDING
    assert len(smtp_server.handler.received) == 1
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert message is not None and item is not None
        outcome = (message.state, item.state, item.attempts, item.last_error)
    assert outcome == (State.SENT, "sent", 1, "")


def test_an_acknowledgement_that_outlasts_the_lease_is_not_taken_over_while_it_goes_on(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """The same for the automatic "we have your message": worker A's one delivery lasts past
    its lease; worker B's round meanwhile, which would mark one a stopped worker left
    mid-send uncertain, leaves it alone, and the customer gets it once. B's round runs at a
    time just past the lease A took, once A's renewal has moved it on."""
    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    worker.poll_sources()
    worker.drain_claims()  # the message waits for a person; its acknowledgement is queued
    rt.settings.pipeline.lease_seconds = 2
    rt.settings.smtp.timeout_seconds = WAIT_SECONDS  # the held DATA must not time out first
    smtp_server.handler.hold = True

    def acknowledgement() -> Acknowledgement:
        with rt.factory() as session:
            return session.scalars(select(Acknowledgement)).one()

    def lease_end() -> datetime:
        until = acknowledgement().claimed_until
        assert until is not None
        return until

    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send_acknowledgements, rt)
        try:
            assert smtp_server.handler.holding.wait(WAIT_SECONDS)
            first = lease_end()
            wait_for(lambda: lease_end() > first, "A to renew its lease while it delivers")
            taken_over = send_acknowledgements(rt, now=first + timedelta(seconds=0.1))
            meanwhile = acknowledgement().state
        finally:
            smtp_server.let_go()
        assert sending.result() == 1
    assert (taken_over, meanwhile) == (0, "sending")
    (received,) = smtp_server.handler.received
    assert received.rcpt_tos == ["aoife.murphy@gmail.test"]
    assert received.message["Auto-Submitted"] == "auto-replied"
    ack = acknowledgement()
    assert (ack.state, ack.attempts, ack.last_error) == ("sent", 1, "")


def queued_acknowledgement(rt: Runtime, worker: Worker) -> int:
    """A message waiting for a person while the team is closed: its acknowledgement queued."""
    _closed_for_three_days(rt)
    drop(rt, make_email(), "first")
    worker.poll_sources()
    worker.drain_claims()
    with rt.factory() as session:
        return session.scalars(select(Acknowledgement.id)).one()


def acknowledgement_row(rt: Runtime, ack_id: int) -> tuple[str, int, str]:
    with rt.factory() as session:
        ack = session.get(Acknowledgement, ack_id)
        assert ack is not None
        return ack.state, ack.attempts, ack.last_error


def locking_the_acknowledgement(statement: str) -> bool:
    """A's lock on the acknowledgement as its outcome is written: FOR UPDATE on PostgreSQL,
    SQLite's no-op write."""
    if "acknowledgements" not in statement:
        return False
    return "FOR UPDATE" in statement or "SET state=acknowledgements.state" in statement


@pytest.mark.parametrize("b_claims", ["before_the_outcome", "as_the_outcome_is_written"])
def test_an_acknowledgement_whose_delivery_ends_as_another_worker_claims_it_is_sent_once(
    rt: Runtime,
    worker: Worker,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    b_claims: str,
) -> None:
    """Worker A's acknowledgement went, after its lease ran out; worker B claimed it (to
    recover one a stopped worker left mid-send) but had not yet looked at it: its claim
    committed before A's delivery ended (B's recovery comes after A's outcome), or being
    written as A's outcome comes (which waits for it). B's claim alone does not take the
    acknowledgement over: A records it sent, and B's recovery, under its own claim, finds it
    so. The customer has it once and staff are not asked about it."""
    ack_id = queued_acknowledgement(rt, worker)
    smtp_server.handler.hold = True
    a = threading.Thread(target=send_acknowledgements, args=(rt,))
    a.start()
    try:
        assert smtp_server.handler.holding.wait(WAIT_SECONDS)
        lease_runs_out(rt, Acknowledgement, ack_id)
        if b_claims == "before_the_outcome":
            recover = acknowledge._recover

            def after_a(*args: Any) -> None:  # B's claim is in; A's delivery ends first
                smtp_server.let_go()
                a.join(WAIT_SECONDS)
                recover(*args)

            monkeypatch.setattr(acknowledge, "_recover", after_a)
            assert send_acknowledgements(rt) == 0  # B's round
        else:
            with statement_seen(rt, locking_the_acknowledgement) as writing:
                with rt.factory() as b, b.begin():
                    b.execute(
                        update(Acknowledgement)
                        .where(Acknowledgement.id == ack_id)
                        .values(claimed_until=utcnow() + timedelta(seconds=LEASE))
                    )
                    smtp_server.let_go()
                    until_waiting(rt, a, writing)
                a.join(WAIT_SECONDS)
    finally:
        smtp_server.let_go()
        a.join(WAIT_SECONDS)
    assert not a.is_alive()
    assert acknowledgement_row(rt, ack_id) == ("sent", 1, "")
    later = utcnow() + timedelta(seconds=3 * LEASE)  # past any claim: a round recovers nothing
    assert send_acknowledgements(rt, now=later) == 0
    assert acknowledgement_row(rt, ack_id) == ("sent", 1, "")
    assert len(smtp_server.handler.received) == 1
    assert not any("taken it over" in r.getMessage() for r in caplog.records)


def failed_reply(rt: Runtime, worker: Worker, smtp_server: SmtpServer) -> int:
    smtp_server.handler.rcpt_answer = "550 5.1.1 no such mailbox"
    (message_id,) = approved_replies(rt, worker, 1)
    worker.drain()
    smtp_server.handler.rcpt_answer = None
    with rt.factory() as session:
        assert session.get(Message, message_id).state == State.FAILED  # type: ignore[union-attr]
    return message_id


def test_leave_unsent_after_a_colleagues_retry_is_refused_and_the_reply_goes_out(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """Bob's page showed the failed reply; Alice pressed Retry first. Bob's Leave unsent,
    working from the failed row he loaded, is refused in words, and the retried reply goes."""
    staff(rt, "alice")
    staff(rt, "bob")
    message_id = failed_reply(rt, worker, smtp_server)
    with rt.factory() as bob:
        shown = bob.get(Message, message_id)  # kept: the row the page was made from
        assert shown is not None and shown.state == State.FAILED
        with transaction(rt.factory) as alice:
            retry(alice, message_id, "alice")
        with pytest.raises(AlreadyHandled) as refused:
            leave_unsent(bob, message_id, staff_member(bob, "bob"), "phoned the customer")
        bob.rollback()
    assert refused.value.status_code == 409
    assert "only a reply that could not be delivered can be left unsent" in str(refused.value)
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert message is not None and item is not None
        assert (message.state, item.state) == (State.APPROVED, "queued")
    worker.drain()
    assert len(smtp_server.handler.received) == 1
    with rt.factory() as session:
        assert session.get(Message, message_id).state == State.SENT  # type: ignore[union-attr]


def test_retry_after_a_colleague_left_the_reply_unsent_is_refused(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """The other order: Bob left it unsent first; Alice's Retry, from the failed row her page
    loaded, is refused naming who left it, and nothing goes out."""
    staff(rt, "alice")
    staff(rt, "bob")
    message_id = failed_reply(rt, worker, smtp_server)
    with rt.factory() as alice:
        shown = alice.get(Message, message_id)  # kept: the row the page was made from
        assert shown is not None and shown.state == State.FAILED
        with transaction(rt.factory) as bob:
            leave_unsent(bob, message_id, staff_member(bob, "bob"), "phoned the customer")
        with pytest.raises(AlreadyHandled) as refused:
            retry(alice, message_id, "alice")
        alice.rollback()
    assert refused.value.status_code == 409
    assert "already left unsent by bob" in str(refused.value)
    worker.drain()
    assert smtp_server.handler.received == []
    with rt.factory() as session:
        assert session.get(Message, message_id).state == State.UNSENT  # type: ignore[union-attr]


def test_a_reply_a_worker_gave_up_on_before_delivery_can_be_left_unsent(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """A worker that failed the message on an error outside delivery (a full disk, say) leaves
    its outbox row queued: Leave unsent still works, and the reply never goes out after it."""
    staff(rt, "bob")
    message_id = failed_reply(rt, worker, smtp_server)
    with transaction(rt.factory) as session:
        session.execute(
            update(OutboxItem).where(OutboxItem.message_id == message_id).values(state="queued")
        )
    with transaction(rt.factory) as bob:
        leave_unsent(bob, message_id, staff_member(bob, "bob"), "phoned the customer")
    worker.drain()
    assert smtp_server.handler.received == []
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert message is not None and item is not None
        assert (message.state, item.state) == (State.UNSENT, "unsent")


def reply_rows(rt: Runtime, message_id: int) -> tuple[str, str, int, str]:
    with rt.factory() as session:
        message = session.get(Message, message_id)
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        assert message is not None and item is not None
        return message.state, item.state, item.attempts, item.last_error


def ours_shown(rt: Runtime) -> int:
    """Our messages in the customers' conversations: a sent reply shows there once."""
    with rt.factory() as session:
        return len(session.scalars(select(Message.id).where(Message.direction == "out")).all())


@pytest.mark.parametrize("a_ends", [None, "451 4.3.0 try again later", "554 5.7.1 message refused"])
def test_a_reply_whose_delivery_ends_after_another_worker_took_it_over(
    rt: Runtime,
    worker: Worker,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    a_ends: str | None,
) -> None:
    """Past the kept-alive leases (none here), worker B takes over worker A's reply still in
    delivery: over SMTP nobody can tell whether it went, so B leaves it uncertain for staff.
    A's delivery then going through makes it sent, not a false question for staff, in the
    conversation once. Failing for the moment, it does not put the reply back in the queue
    over B's record (a second copy of one that may have gone); refused, it does not mark
    refused one that may have gone: B's record stands, and A's answer is in the log."""
    monkeypatch.setattr(queue, "KEPT_ALIVE_LEASES", 1)  # no renewal at all
    (message_id,) = approved_replies(rt, worker, 1)
    rt.settings.smtp.timeout_seconds = WAIT_SECONDS  # the held DATA must not time out first
    a, b = Worker(rt, worker_id="A"), Worker(rt, worker_id="B")
    smtp_server.handler.hold = True
    smtp_server.handler.answers = [a_ends]
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(a.run_once)
        try:
            assert smtp_server.handler.holding.wait(WAIT_SECONDS)
            with rt.factory() as session:
                until = session.get(Message, message_id).claimed_until  # type: ignore[union-attr]
            assert until is not None
            with monkeypatch.context() as later:  # the queue's clock just past A's lease
                later.setattr(queue, "utcnow", lambda: until + timedelta(seconds=0.1))
                assert b.run_once() == 1
            meanwhile = reply_rows(rt, message_id)
        finally:
            smtp_server.let_go()
        assert sending.result() == 1
    assert meanwhile[:3] == (State.FAILED, "uncertain", 1)
    if a_ends is None:
        assert reply_rows(rt, message_id) == (State.SENT, "sent", 1, "")
        assert len(smtp_server.handler.received) == 1
        assert ours_shown(rt) == 1, "in her conversation once"
    else:
        assert reply_rows(rt, message_id) == meanwhile, "B's record stands"
        assert smtp_server.handler.received == []
        assert ours_shown(rt) == 0
        (logged,) = [r.getMessage() for r in caplog.records if "taken it over" in r.getMessage()]
        assert logged == (
            f"message {message_id}: its delivery ended (SMTP server answered {a_ends}) after "
            "another worker had taken it over; left uncertain as that worker recorded it"
        )
    worker.drain()  # nothing is sent again by itself
    assert len(smtp_server.handler.received) == (1 if a_ends is None else 0)
    assert reply_rows(rt, message_id)[:2] == (
        (State.SENT, "sent") if a_ends is None else (State.FAILED, "uncertain")
    )


def locking_the_reply(statement: str) -> bool:
    """A's lock on the message as its outcome is written: FOR UPDATE on PostgreSQL (a claim's
    is SKIP LOCKED), SQLite's no-op write."""
    if "messages" not in statement:
        return False
    return ("FOR UPDATE" in statement and "SKIP LOCKED" not in statement) or (
        "SET updated_at=messages.updated_at" in statement
    )


@pytest.mark.parametrize("first", ["outcome", "claim"])
def test_a_delivery_that_ends_as_another_worker_claims_the_reply_is_recorded_by_one(
    rt: Runtime,
    worker: Worker,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    first: str,
) -> None:
    """Worker A's delivery went, after its lease ran out; its outcome and worker B's claim
    meet. Whichever comes first holds the reply, the other waits at that point: the outcome
    first, B then finds the reply sent and claims nothing; the claim first, A then finds the
    reply claimed by B but not yet touched, still in A's take, and records it sent, which B's
    send then finds (no question for staff about a reply the customer has). Either way it
    went out once and is not sent again."""
    (message_id,) = approved_replies(rt, worker, 1)
    assert claim_batch(rt.factory, "A", [State.APPROVED], 32, LEASE) == [message_id]
    smtp_server.handler.hold = True
    a = threading.Thread(target=send_stage, args=(rt, [message_id], Claim("A", LEASE)))
    a.start()
    try:
        assert smtp_server.handler.holding.wait(WAIT_SECONDS)
        lease_runs_out(rt, Message, message_id)
        if first == "outcome":
            claimed = outcome_then_claim(rt, smtp_server, a)
        else:
            claim_then_outcome(rt, smtp_server, a, message_id)
            claimed = [message_id]
    finally:
        smtp_server.let_go()
        a.join(WAIT_SECONDS)
    assert not a.is_alive()
    assert len(smtp_server.handler.received) == 1
    if first == "outcome":
        assert claimed == []
        assert reply_rows(rt, message_id) == (State.SENT, "sent", 1, "")
    else:
        assert reply_rows(rt, message_id) == (State.SENT, "sent", 1, "")
        send_stage(rt, claimed, Claim("B", LEASE))  # B's recovery of what it claimed
        assert reply_rows(rt, message_id) == (State.SENT, "sent", 1, "")
        assert not any("taken it over" in r.getMessage() for r in caplog.records)
    assert claim_batch(rt.factory, "B", [State.SENDING], 32, LEASE) == []
    worker.drain()
    assert len(smtp_server.handler.received) == 1


def test_a_reply_queued_again_under_another_workers_claim_waits_out_its_back_off(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """Worker A's delivery fails for the moment (451) after its lease ran out and worker B
    claimed the reply, not yet touching it: A queues it again with a back-off, and B's send
    then leaves it untaken and lets go of its claim; it goes out once the back-off is over,
    once."""
    (message_id,) = approved_replies(rt, worker, 1)
    assert claim_batch(rt.factory, "A", [State.APPROVED], 32, LEASE) == [message_id]
    smtp_server.handler.hold = True
    smtp_server.handler.answers = ["451 4.3.0 try again later"]
    a = threading.Thread(target=send_stage, args=(rt, [message_id], Claim("A", LEASE)))
    a.start()
    try:
        assert smtp_server.handler.holding.wait(WAIT_SECONDS)
        lease_runs_out(rt, Message, message_id)
        assert claim_batch(rt.factory, "B", [State.SENDING], 32, LEASE) == [message_id]
    finally:
        smtp_server.let_go()
        a.join(WAIT_SECONDS)
    assert not a.is_alive()
    state, item_state, attempts, error = reply_rows(rt, message_id)
    assert (state, item_state, attempts) == (State.APPROVED, "queued", 1)
    assert "451 4.3.0 try again later" in error

    send_stage(rt, [message_id], Claim("B", LEASE))  # B's recovery of what it claimed

    assert smtp_server.handler.received == []
    assert reply_rows(rt, message_id)[:3] == (State.APPROVED, "queued", 1)
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message is not None
        assert (message.claimed_by, message.claimed_until) == (None, None)
        assert message.state_reason.startswith("retrying at ")
    worker.drain()  # still within the back-off
    assert smtp_server.handler.received == []
    with transaction(rt.factory) as session:  # the back-off is over
        over = utcnow() - timedelta(seconds=1)
        session.execute(
            update(Message).where(Message.id == message_id).values(next_attempt_at=over)
        )
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.message_id == message_id)
            .values(next_attempt_at=over)
        )
    worker.drain()
    assert len(smtp_server.handler.received) == 1
    assert reply_rows(rt, message_id) == (State.SENT, "sent", 2, "")


def outcome_then_claim(rt: Runtime, smtp_server: SmtpServer, a: threading.Thread) -> list[int]:
    """A's outcome takes its lock on the reply and is held there; B's claim then runs, and
    waits for it (SQLite's one writer) or passes the locked reply by (PostgreSQL's SKIP
    LOCKED); A is let go. What B claimed."""
    locked, go_on = threading.Event(), threading.Event()

    def hold_a(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread() is a and locking_the_reply(statement):
            locked.set()
            go_on.wait(WAIT_SECONDS)

    claimed: list[int] = []
    claiming = statement_seen(rt, lambda s: s.startswith("UPDATE messages SET claimed_by"))
    with claiming as writing:  # both listening before A runs into them
        event.listen(rt.engine, "after_cursor_execute", hold_a)
        try:
            smtp_server.let_go()
            assert locked.wait(WAIT_SECONDS)
            b = threading.Thread(
                target=lambda: claimed.extend(
                    claim_batch(rt.factory, "B", [State.SENDING], 32, LEASE)
                )
            )
            b.start()
            until_waiting(rt, b, writing)
            go_on.set()
            b.join(WAIT_SECONDS)
        finally:
            go_on.set()
            a.join(WAIT_SECONDS)
            event.remove(rt.engine, "after_cursor_execute", hold_a)
    return claimed


def claim_then_outcome(
    rt: Runtime, smtp_server: SmtpServer, a: threading.Thread, message_id: int
) -> None:
    """B's claim is written and not yet committed; A's delivery ends and its outcome waits
    for B's lock; B commits."""
    with statement_seen(rt, locking_the_reply) as writing:  # listening until A is done
        with rt.factory() as b, b.begin():
            b.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(claimed_by="B", claimed_until=utcnow() + timedelta(seconds=LEASE))
            )
            smtp_server.let_go()
            until_waiting(rt, a, writing)
        a.join(WAIT_SECONDS)
