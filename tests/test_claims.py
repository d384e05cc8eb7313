"""Claiming messages: what changes between a claim's look and its take is not taken.

On SQLite the claim's SELECT runs outside the write transaction (no row locks there), so
another connection may commit between it and the UPDATE; on PostgreSQL the SELECT locks the
rows it found (`FOR UPDATE SKIP LOCKED`) and no one can.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from responder.db.models import Message, utcnow
from responder.db.session import transaction
from responder.pipeline.queue import claim_batch
from responder.pipeline.states import State
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.helpers import drop, make_email
from tests.test_crash_recovery import approve_waiting

LEASE = 300


def one_approved(rt: Runtime, worker: Worker) -> int:
    drop(rt, make_email(message_id="<claim@mail.test>", sender="c@home.test"), "c")
    worker.drain()
    approve_waiting(rt)
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.state == State.APPROVED)).one()


def claimed_with(rt: Runtime, change: Callable[[], None]) -> list[int]:
    """What worker A claims when `change` commits from another connection once A's claim has
    looked for messages."""
    done = []

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        looked = (
            statement.lstrip().startswith("SELECT messages.id") and "claimed_until" in statement
        )
        if looked and not done:
            done.append(True)
            change()

    event.listen(rt.engine, "after_cursor_execute", after)
    try:
        taken = claim_batch(rt.factory, "A", [State.APPROVED], 32, LEASE)
    finally:
        event.remove(rt.engine, "after_cursor_execute", after)
    assert done, "the claim never looked"
    return taken


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL locks the rows
@pytest.mark.parametrize("change", ["sent", "backed off"])
def test_a_reply_sent_or_put_off_meanwhile_is_not_claimed_by_a_worker_that_held_it_before(
    rt: Runtime, worker: Worker, change: str
) -> None:
    """Worker A held this approved reply once (its lease ran out); as A looks again, another
    worker sends it, or a failed try puts it off for later. A does not take it: its batch
    would try it in a state (or at a time) no claim asked for."""
    message_id = one_approved(rt, worker)
    with transaction(rt.factory) as session:
        lapsed = utcnow() - timedelta(seconds=1)
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(claimed_by="A", claimed_until=lapsed)
        )

    def meanwhile() -> None:
        values: dict[str, Any] = (
            {"state": State.SENT}
            if change == "sent"
            else {"next_attempt_at": utcnow() + timedelta(hours=1)}
        )
        with transaction(rt.factory) as session:
            session.execute(update(Message).where(Message.id == message_id).values(**values))

    assert claimed_with(rt, meanwhile) == []
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message is not None
        assert message.claimed_until is not None and message.claimed_until < utcnow()
