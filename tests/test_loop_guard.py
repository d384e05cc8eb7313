"""Loops that headers do not catch stop at the per-sender cap; auto-sent replies say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from responder.bootstrap import pollers
from responder.db.models import Channel, ClassifierExample, Message, ReviewAction
from responder.db.session import transaction
from responder.pipeline.sender_cap import drafted_since
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from tests.helpers import drop, make_email, sent_replies


def test_sender_over_the_hourly_cap_is_ignored_with_the_reason(rt: Runtime, worker: Worker) -> None:
    rt.settings.guard.max_drafts_per_sender_per_hour = 2
    for n in range(3):
        drop(rt, make_email(message_id=f"<loop-{n}@mail.test>", subject=f"Ticket {n}"), f"l{n}")
    drop(
        rt,
        make_email(sender="Other <other@mail.test>", message_id="<other@mail.test>"),
        "other",
    )
    worker.drain()
    with rt.factory() as session:
        rows = session.execute(
            select(Message.message_id_header, Message.state, Message.state_reason).where(
                Message.direction == "in"
            )
        ).all()
    states = {row.message_id_header: (row.state, row.state_reason) for row in rows}
    assert states["<loop-0@mail.test>"][0] == "in_review"
    assert states["<loop-1@mail.test>"][0] == "in_review"
    state, reason = states["<loop-2@mail.test>"]
    assert state == "ignored"
    assert "rate cap" in reason and "aoife.murphy@gmail.test" in reason
    assert states["<other@mail.test>"][0] == "in_review", "other senders are not affected"


def test_the_cap_counts_earlier_batches_by_address_whatever_its_case(
    rt: Runtime, worker: Worker
) -> None:
    """The cap reads the stored messages of the batch's senders through an index (their last
    hour, not the whole table, which an operator's volume makes millions of rows)."""
    rt.settings.guard.max_drafts_per_sender_per_hour = 2
    for n in range(2):
        drop(rt, make_email(sender="Aoife.Murphy@GMAIL.test", message_id=f"<a{n}@t>"), f"a{n}")
        worker.drain()
    drop(rt, make_email(sender="aoife.murphy@gmail.test", message_id="<a2@t>"), "a2")
    worker.drain()
    with rt.factory() as session:
        third = session.scalars(select(Message).where(Message.message_id_header == "<a2@t>")).one()
        assert third.state == "ignored" and "rate cap" in third.state_reason
        query = drafted_since({"aoife.murphy@gmail.test"}, datetime.now(UTC) - timedelta(hours=1))
        sql = str(query.compile(rt.engine, compile_kwargs={"literal_binds": True}))
        if rt.engine.dialect.name == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
        else:
            plan = " ".join(row[3] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    assert "ix_messages_sender_key_received" in plan, plan


def test_cap_zero_turns_it_off(rt: Runtime, worker: Worker) -> None:
    rt.settings.guard.max_drafts_per_sender_per_hour = 0
    for n in range(3):
        drop(rt, make_email(message_id=f"<many-{n}@mail.test>", subject=f"Ticket {n}"), f"m{n}")
    worker.drain()
    assert state_counts(rt)["in_review"] == 3


def test_auto_sent_reply_carries_auto_submitted(rt: Runtime, worker: Worker) -> None:
    with transaction(rt.factory) as session:
        labels = set(
            session.scalars(
                select(ClassifierExample.label).where(ClassifierExample.classifier == "intent")
            )
        )
        channel = session.scalar(select(Channel).where(Channel.name == rt.settings.maildir.name))
        assert channel is not None
        channel.auto_send = {label: 0.0 for label in labels}
    drop(rt, make_email(), "auto")
    worker.drain()
    assert state_counts(rt)["sent"] == 1
    (reply,) = sent_replies(rt)
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<m1@mail.test>"
    with rt.factory() as session:
        action = session.scalar(select(ReviewAction))
        assert action is not None and action.user_id is None and action.detail["auto"] is True


def test_person_approved_reply_has_no_auto_submitted(rt: Runtime, worker: Worker) -> None:
    from tests.test_crash_recovery import approve_waiting

    drop(rt, make_email(), "manual")
    worker.drain()
    approve_waiting(rt)
    worker.drain()
    (reply,) = sent_replies(rt)
    assert reply["Auto-Submitted"] is None


def test_a_reply_the_composer_refuses_stays_in_review_with_the_reason(
    rt: Runtime, worker: Worker
) -> None:
    """An address no mail server could deliver to (a domain label over IDNA's 63 characters) is
    never sent, automatically or by a person: the message waits in review and says why."""
    from responder.review import ReviewError, approve

    with transaction(rt.factory) as session:
        channel = session.scalar(select(Channel).where(Channel.name == rt.settings.maildir.name))
        assert channel is not None
        labels = set(
            session.scalars(
                select(ClassifierExample.label).where(ClassifierExample.classifier == "intent")
            )
        )
        channel.auto_send = {label: 0.0 for label in labels}
    address = f"zoe@{'a' * 64}.test"
    raw = (
        f"From: Zoë Brennan <{address}>\r\nTo: support@northwind-mobile.test\r\n"
        "Subject: Roaming charges on my bill\r\nMessage-ID: <m9@mail.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hi, I was charged 80 euro for roaming in Spain. I thought the EU was included?\r\n"
    ).encode()
    claimed_after_route: list[str | None] = []

    class Watched(Worker):
        def _run_stage(self, stage: Any, ids: list[int]) -> None:
            super()._run_stage(stage, ids)
            if stage.name == "route":
                with rt.factory() as session:
                    claimed_after_route.extend(
                        session.scalars(select(Message.claimed_by).where(Message.id.in_(ids)))
                    )

    drop(rt, raw, "idn")
    Watched(rt, pollers(rt)).drain()
    assert claimed_after_route == [None], "a person's at once: Undo and others may act on it"
    assert state_counts(rt).get("sent", 0) == 0
    assert sent_replies(rt) == []
    with rt.factory() as session:
        message = session.scalar(select(Message))
        assert message is not None and message.state == "in_review"
        assert message.sender_address == address
        assert "not sent automatically: the reply cannot be sent: cannot send to" in (
            message.state_reason or ""
        )
        message_id = message.id
    with (
        pytest.raises(ReviewError, match="not a valid domain"),
        transaction(rt.factory) as session,  # rolled back by the refusal
    ):
        approve(session, message_id, None, rt.settings.outbound)
