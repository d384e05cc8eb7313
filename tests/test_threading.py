"""Which conversation a message joins, one test per rule; stale drafts when customers write."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.db.models import Conversation, Draft, Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_crash_recovery import approve_waiting
from tests.test_web_security import login

FIRST = make_email(message_id="<first@mail.test>", subject="Roaming charges on my bill")


def conversation_of(rt: Runtime, message_id_header: str) -> int:
    with rt.factory() as session:
        found = session.scalar(
            select(Message.conversation_id).where(
                Message.direction == "in", Message.message_id_header == message_id_header
            )
        )
        assert found is not None
        return found


def second(worker: Worker, rt: Runtime, **kwargs: object) -> int:
    drop(rt, make_email(message_id="<second@mail.test>", **kwargs), "second")  # type: ignore[arg-type]
    worker.drain()
    return conversation_of(rt, "<second@mail.test>")


def first(worker: Worker, rt: Runtime) -> int:
    drop(rt, FIRST, "first")
    worker.drain()
    return conversation_of(rt, "<first@mail.test>")


def test_in_reply_to_wins_over_a_different_subject(rt: Runtime, worker: Worker) -> None:
    conversation = first(worker, rt)
    assert conversation == second(
        worker, rt, subject="Something else", headers={"In-Reply-To": "<first@mail.test>"}
    )


def test_references_alone_thread_the_message(rt: Runtime, worker: Worker) -> None:
    conversation = first(worker, rt)
    assert conversation == second(
        worker,
        rt,
        subject="Another topic",
        headers={"References": "<unknown@elsewhere.test> <first@mail.test>"},
    )


def test_a_reply_to_our_own_reply_joins_the_conversation(rt: Runtime, worker: Worker) -> None:
    conversation = first(worker, rt)
    approve_waiting(rt)
    worker.drain()
    with rt.factory() as session:
        ours = session.scalar(select(OutboxItem.message_id_header))
    assert ours
    assert conversation == second(
        worker, rt, subject="Thanks but", headers={"In-Reply-To": ours, "References": ours}
    )


def test_same_subject_same_customer_within_the_window(rt: Runtime, worker: Worker) -> None:
    conversation = first(worker, rt)
    assert conversation == second(worker, rt, subject="RE: Roaming charges on my bill")


def test_same_subject_same_customer_after_the_window_starts_anew(
    rt: Runtime, worker: Worker
) -> None:
    conversation = first(worker, rt)
    with transaction(rt.factory) as session:
        session.execute(update(Conversation).values(last_message_at=utcnow() - timedelta(days=30)))
    assert conversation != second(worker, rt, subject="Re: Roaming charges on my bill")


def test_same_subject_from_another_sender_is_never_merged(rt: Runtime, worker: Worker) -> None:
    conversation = first(worker, rt)
    assert conversation != second(
        worker, rt, sender="Someone Else <someone@else.test>", subject="Roaming charges on my bill"
    )


def draft_of(rt: Runtime, message_id_header: str) -> Draft:
    with rt.factory() as session:
        draft = session.scalar(
            select(Draft)
            .join(Message, Message.id == Draft.message_id)
            .where(Message.message_id_header == message_id_header)
            .order_by(Draft.version.desc())
        )
        assert draft is not None
        return draft


def test_customer_writing_again_marks_the_waiting_draft_stale(rt: Runtime, worker: Worker) -> None:
    first(worker, rt)
    assert not draft_of(rt, "<first@mail.test>").stale
    second(
        worker,
        rt,
        subject="Re: Roaming charges on my bill",
        body="Also, the charge appeared twice.",
        headers={"In-Reply-To": "<first@mail.test>"},
    )
    assert draft_of(rt, "<first@mail.test>").stale
    assert not draft_of(rt, "<second@mail.test>").stale

    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        first_id = draft_of(rt, "<first@mail.test>").message_id
        detail = client.get(f"/api/messages/{first_id}", headers=auth).json()
        assert detail["draft"]["stale"] is True
        queue = {item["id"]: item for item in client.get("/api/queue", headers=auth).json()}
        assert queue[first_id]["stale"] is True
        second_id = draft_of(rt, "<second@mail.test>").message_id
        login(client, "alice")
        older, newer = (
            client.get(f"/messages/{first_id}").text,
            client.get(f"/messages/{second_id}").text,
        )
    # Either draft can be approved: each page names the other, so the customer gets one reply.
    assert (
        f'<a href="/messages/{second_id}">message {second_id}</a>'
        in older.split('id="stale-draft"')[1]
    )
    assert (
        f'<a href="/messages/{first_id}">message {first_id}</a>'
        in newer.split('id="earlier-waiting"')[1]
    )
    assert 'id="earlier-waiting"' not in older and 'id="stale-draft"' not in newer


def test_both_messages_in_one_batch_still_mark_the_older_draft_stale(
    rt: Runtime, worker: Worker
) -> None:
    drop(rt, FIRST, "first")
    drop(
        rt,
        make_email(
            message_id="<second@mail.test>",
            subject="Re: Roaming charges on my bill",
            headers={"In-Reply-To": "<first@mail.test>"},
        ),
        "second",
    )
    worker.drain()
    assert draft_of(rt, "<first@mail.test>").stale
    assert not draft_of(rt, "<second@mail.test>").stale


def test_a_new_senders_messages_in_one_batch_share_one_conversation(
    rt: Runtime, worker: Worker
) -> None:
    newcomer = "Nia Brennan <nia.brennan.new@mail.test>"
    drop(rt, make_email(sender=newcomer, message_id="<n1@mail.test>", subject="No signal"), "n1")
    drop(
        rt,
        make_email(
            sender=newcomer,
            message_id="<n2@mail.test>",
            subject="And another thing",
            headers={"In-Reply-To": "<n1@mail.test>"},
        ),
        "n2",
    )
    drop(rt, make_email(sender=newcomer, message_id="<n3@mail.test>", subject="No signal"), "n3")
    drop(
        rt,
        make_email(
            sender="Other Person <other.new@mail.test>",
            message_id="<o1@mail.test>",
            subject="No signal",
        ),
        "o1",
    )
    worker.drain()
    ids = {h: conversation_of(rt, f"<{h}@mail.test>") for h in ("n1", "n2", "n3", "o1")}
    assert ids["n1"] == ids["n2"] == ids["n3"]
    assert ids["o1"] != ids["n1"]
    with rt.factory() as session:
        customers = session.scalars(
            select(Message.customer_id).where(
                Message.message_id_header.in_(["<n1@mail.test>", "<n3@mail.test>"])
            )
        ).all()
        assert len(set(customers)) == 1


def test_the_parse_stage_writes_each_message_row_once(rt: Runtime, worker: Worker) -> None:
    """A batch with a known customer's reply, a new sender's thread, another new sender and an
    auto-reply: every row gets its parsed fields, customer, conversation and state in one
    write (a row written twice in a transaction is a second row version in PostgreSQL)."""
    from sqlalchemy import event

    from responder.pipeline.stages import parse_stage

    first(worker, rt)
    newcomer = "Nia Brennan <nia.brennan.new@mail.test>"
    batch = {
        "reply": make_email(
            message_id="<reply@mail.test>",
            subject="Re: Roaming charges on my bill",
            headers={"In-Reply-To": "<first@mail.test>"},
        ),
        "n1": make_email(sender=newcomer, message_id="<n1@mail.test>", subject="No signal"),
        "n2": make_email(
            sender=newcomer,
            message_id="<n2@mail.test>",
            subject="Still no signal",
            headers={"In-Reply-To": "<n1@mail.test>"},
        ),
        "o1": make_email(sender="Other <other.new@mail.test>", message_id="<o1@mail.test>"),
        "auto": make_email(
            sender="Robot <robot@mail.test>",
            message_id="<auto@mail.test>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    }
    for name, raw in batch.items():
        drop(rt, raw, name)
    assert worker.poll_sources() == len(batch)
    with rt.factory() as session:
        ids = list(session.scalars(select(Message.id).where(Message.state == "received")))
    assert len(ids) == len(batch)

    writes: list[int] = []
    others: list[str] = []

    def record(_conn, _cursor, statement: str, _parameters, context, _many) -> None:
        if not statement.lstrip().startswith("UPDATE messages"):
            return
        if "messages_id" in context.compiled_parameters[0]:
            writes.extend(row["messages_id"] for row in context.compiled_parameters)
        else:  # by a condition: the versions of drafts waiting for a person, not the batch's
            others.append(" ".join(statement.split()))

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        parse_stage(rt, ids)
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)
    assert sorted(writes) == sorted(ids)
    assert others and all(
        "SET version=(messages.version +" in o and "messages.state IN" in o for o in others
    ), others
    with rt.factory() as session:
        states = dict(
            session.execute(
                select(Message.message_id_header, Message.state).where(Message.id.in_(ids))
            ).all()
        )
    assert states == {
        "<reply@mail.test>": "parsed",
        "<n1@mail.test>": "parsed",
        "<n2@mail.test>": "parsed",
        "<o1@mail.test>": "parsed",
        "<auto@mail.test>": "ignored",
    }
    assert conversation_of(rt, "<reply@mail.test>") == conversation_of(rt, "<first@mail.test>")
    assert conversation_of(rt, "<n2@mail.test>") == conversation_of(rt, "<n1@mail.test>")
