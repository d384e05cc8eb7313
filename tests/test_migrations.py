"""The Alembic migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text, update

from responder.blocked_drafts import reject_waiting_from
from responder.blocklist import block, parse_pattern, unblock
from responder.db.migrate import alembic_config, upgrade
from responder.db.models import (
    Acknowledgement,
    Base,
    Customer,
    Message,
    MessageSearchText,
    OutboxItem,
    utcnow,
)
from responder.db.search_indexes import SEARCH_INDEXES, SQLITE_MESSAGE_INDEX
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.review import reject
from responder.runtime import Runtime
from responder.snooze import snooze
from responder.web.search import search
from responder.web.views import message_detail
from tests.helpers import drop, make_email, staff, staff_member
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_acknowledge import _closed_for_three_days
from tests.test_crash_recovery import approve_waiting

__all__ = ["smtp_server"]

OLD_REASON = "spam (sender blocked)"


def shared_by_both(item: object, name: str | None, kind: str, reflected: bool, _: object) -> bool:
    """The search indexes are not in the models: PostgreSQL's trigram indexes, SQLite's FTS5
    table and its shadow tables."""
    if kind == "table" and (name or "").startswith(SQLITE_MESSAGE_INDEX):
        return False
    return not (kind == "index" and name in SEARCH_INDEXES)


def test_migrations_match_the_models(rt: Runtime) -> None:
    with rt.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": shared_by_both}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrading_gives_waiting_messages_their_sentiment(rt: Runtime, worker: Worker) -> None:
    """A database from before messages.sentiment: the drafts already waiting show their mood
    after `responder db upgrade`, taken from the classification stored with them."""
    drop(rt, make_email(body="This is a disgrace. Third time I write and nobody answers!"), "a")
    worker.drain()
    with rt.factory() as session:
        (before,) = session.execute(select(Message.id, Message.sentiment, Message.state)).all()
    assert before.state == "in_review" and before.sentiment == "negative"

    rt.engine.dispose()
    command.downgrade(alembic_config(rt.engine), "web_0005")
    with rt.engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("messages")}
    assert "sentiment" not in columns
    upgrade(rt.engine)
    rt.engine.dispose()
    with rt.factory() as session:
        assert (
            session.scalar(select(Message.sentiment).where(Message.id == before.id)) == "negative"
        )


def _upgrade_from(rt: Runtime, revision: str) -> None:
    """The stored mail as a database at `revision` held it, then `responder db upgrade`."""
    rt.engine.dispose()
    command.downgrade(alembic_config(rt.engine), revision)
    upgrade(rt.engine)
    rt.engine.dispose()


def test_upgrading_makes_messages_parsed_before_findable(rt: Runtime, worker: Worker) -> None:
    """A database from before the search table: `responder db upgrade` fills it from the
    messages already parsed (and folds it, web_0021), so search finds them."""
    drop(rt, make_email(body="Is roaming in Portugal included in my plan? Seán"), "a")
    worker.drain()
    _upgrade_from(rt, "web_0012")
    with rt.factory() as session:
        found = search(session, "roaming in portugal")["messages"]
        folded = search(session, "plan? sean")["messages"]
    assert [m["sender_address"] for m in found] == ["aoife.murphy@gmail.test"]
    assert [m["id"] for m in folded] == [found[0]["id"]], "folded, as new mail is"


def test_upgrading_spells_stored_letters_plain(rt: Runtime, worker: Worker) -> None:
    """A database folded before "ø" and "ß" were spelled plain (web_0021): after `responder db
    upgrade` the mail and the customers already stored are found without those letters, on
    PostgreSQL through its customers' indexes, rebuilt on the new fold."""
    # The mail is taken in first: messages gained columns since web_0021 (customers did not).
    drop(rt, make_email(body="Die Rechnung kam an die falsche Straße."), "a")
    worker.drain()
    rt.engine.dispose()
    command.downgrade(alembic_config(rt.engine), "web_0021")
    with transaction(rt.factory) as session:
        session.add(Customer(name="Søren Løkke", external_id="DK-1"))
    with rt.engine.begin() as connection:  # the text as web_0021's fold stored it
        connection.execute(text("UPDATE message_search SET text = replace(text, 'ss', 'ß')"))
    upgrade(rt.engine)
    rt.engine.dispose()
    with rt.factory() as session:
        if rt.engine.dialect.name == "postgresql":
            session.execute(text("SET enable_seqscan = off"))
        customers = [c["name"] for c in search(session, "soren lokke")["customers"]]
        found = search(session, "falsche strasse")["messages"]
    assert customers == ["Søren Løkke"]
    assert [m["sender_address"] for m in found] == ["aoife.murphy@gmail.test"]


def test_upgrading_keys_stored_senders_for_the_cap(rt: Runtime, worker: Worker) -> None:
    """A database from before messages.sender_key: the mail already stored counts for the
    sender cap after `responder db upgrade`, by its address lower-cased."""
    drop(rt, make_email(sender="Aoife <Aoife.Murphy@gmail.test>"), "a")
    worker.drain()
    _upgrade_from(rt, "web_0019")
    with rt.factory() as session:
        assert session.scalars(select(Message.sender_key)).all() == ["aoife.murphy@gmail.test"]


def test_upgrading_finds_phone_numbers_in_mail_already_stored(rt: Runtime, worker: Worker) -> None:
    """Mail parsed before the numbers were kept beside the search text: after `responder db
    upgrade` a number the customer spaced their own way is found as staff type it."""
    drop(rt, make_email(body="Ring me on 0871 234 567 please."), "a")
    drop(rt, make_email(body="Or 086 111 2222.", message_id="<b@mail.test>"), "b")
    worker.drain()
    with rt.engine.begin() as connection:  # the text as web_0022 left it: no numbers
        connection.execute(
            text("UPDATE message_search SET text = replace(text, '\n+353871234567', '')")
        )
    with rt.factory() as session:
        assert search(session, "087 123 4567", phone_region="IE")["messages"] == []
    rt.engine.dispose()
    command.downgrade(alembic_config(rt.engine), "web_0022")
    upgrade(rt.engine, phone_region="IE")
    rt.engine.dispose()
    with rt.factory() as session:
        found = search(session, "087 123 4567", phone_region="IE")["messages"]
        texts = session.scalars(select(MessageSearchText.text)).all()
    assert [m["excerpt"]["match"] for m in found] == ["0871 234 567"]
    assert sum(t.count("+353871234567") for t in texts) == 1
    assert sum(t.count("+353861112222") for t in texts) == 1, "a row holding it is left alone"


def test_upgrading_finds_the_drafts_a_block_rejected_before(rt: Runtime, worker: Worker) -> None:
    """A sender blocked before blocks kept their rejected drafts (web_0025): after `responder
    db upgrade`, lifting the block still puts those back, a snoozed one to sleep again; one
    rejected by hand, or by a block lifted before this one was set, stays rejected."""
    for number in range(4):
        raw = make_email(sender="Pat <pat@byrne-farm.test>", message_id=f"<p{number}@mail.test>")
        drop(rt, raw, f"p{number}")
    worker.drain()
    staff(rt, "sam", role="supervisor")
    with rt.factory() as session:
        pat = list(session.scalars(select(Message.id).order_by(Message.id)))
    until = utcnow() + timedelta(hours=2)
    with transaction(rt.factory) as session:
        sam = staff_member(session, "sam")
        reject(session, pat[0], sam, OLD_REASON)  # by a block lifted since
        reject(session, pat[1], sam, "duplicate")
        snooze(session, pat[2], sam, until)
    with transaction(rt.factory) as session:
        entry = block(session, parse_pattern("pat@byrne-farm.test"), "spam", "sam")
        session.flush()
        assert reject_waiting_from(session, entry, staff_member(session, "sam")) == pat[2:]
        block_id = entry.id
    with rt.engine.begin() as connection:  # the reason web_0024's blocks gave
        for table, column in (("messages", "state_reason"), ("review_actions", "reason")):
            connection.execute(
                text(f"UPDATE {table} SET {column} = :old WHERE {column} = 'sender blocked: spam'"),
                {"old": OLD_REASON},
            )
    _upgrade_from(rt, "web_0024")
    with transaction(rt.factory) as session:
        lifted = unblock(session, block_id, process_stopped=False, by="sam")
    assert lifted.restored == pat[2:]
    with rt.factory() as session:
        detail = message_detail(session, pat[3])
    assert detail is not None
    assert [(a["action"], a["by"]) for a in detail["actions"]][-1] == ("restore", "sam")
    with rt.factory() as session:
        states = {m.id: (m.state, m.snoozed_until) for m in session.scalars(select(Message))}
    assert states == {
        pat[0]: ("rejected", None),
        pat[1]: ("rejected", None),
        pat[2]: ("snoozed", until),
        pat[3]: ("in_review", None),
    }


def test_upgrading_leaves_sends_cut_off_mid_delivery_for_staff_not_sent_again(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    """A worker of a release before takes were dated (web_0042) was stopped while it delivered
    a reply and an acknowledgement over SMTP. After `responder db upgrade` the next round
    cannot ask the server whether they went: both wait for staff as uncertain, and neither
    goes out a second time (the acknowledgement is not read as claimed but never taken)."""
    _closed_for_three_days(rt)
    send_through(rt.settings, smtp_server)
    drop(rt, make_email(), "first")
    worker.poll_sources()
    worker.drain_claims()  # waiting for a person; its acknowledgement queued
    approve_waiting(rt)
    lapsed = utcnow() - timedelta(seconds=1)
    with transaction(rt.factory) as session:  # the old worker's rows as it left them
        (message_id,) = session.scalars(select(Message.id).where(Message.state == "approved"))
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(state="sending", claimed_by="old", claimed_until=lapsed)
        )
        session.execute(update(OutboxItem).values(state="sending", attempts=1))
        session.execute(
            update(Acknowledgement).values(state="sending", attempts=1, claimed_until=lapsed)
        )
    _upgrade_from(rt, "web_0041")
    with rt.factory() as session:
        ack = session.scalars(select(Acknowledgement)).one()
        item = session.scalars(select(OutboxItem)).one()
    assert ack.taken_at is not None, "dated by the upgrade: possibly sent"
    assert item.taken_at is None, "a reply's recovery reads none as an earlier release's take"

    worker.drain()
    worker.drain()
    assert smtp_server.handler.received == []
    with rt.factory() as session:
        ack = session.scalars(select(Acknowledgement)).one()
        item = session.scalars(select(OutboxItem)).one()
        message = session.get(Message, message_id)
        assert message is not None
    assert (ack.state, ack.attempts) == ("uncertain", 1)
    assert ack.last_error == "the worker stopped during delivery; it may have gone out"
    assert (message.state, item.state, item.attempts) == ("failed", "uncertain", 1)
    assert item.last_error.startswith("the worker stopped during delivery; the server may have")
