"""Search finds a customer's messages and the customer, on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import select, text

from responder.customers.importer import import_customers
from responder.db.models import Attachment, Channel, Customer, Message, MessageSearchText, utcnow
from responder.db.search_indexes import SEARCH_INDEXES, SQLITE_MESSAGE_INDEX
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.review import retry
from responder.runtime import Runtime
from responder.search_fold import find_folded, fold, folded
from responder.search_text import index_message
from responder.web.app import create_app
from responder.web.search import (
    customers_matching,
    messages_matching,
    search,
    sqlite_index_usable,
)
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import login


def test_search_finds_messages_and_customers_by_address_words_and_literal_wildcards(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, make_email(), "aoife")
    drop(
        rt,
        make_email(
            sender="Hannah Schmidt <hannah.schmidt@mail.test>",
            subject="50%_off offer?",
            body="My order NW-771035 still has not arrived. Where is it?",
            message_id="<m2@mail.test>",
        ),
        "hannah",
    )
    drop(
        rt,
        make_email(
            sender="Karl Jensen <karl.jensen@mail.test>",
            subject="500 off the new phone",
            body="Is the discount still on?",
            message_id="<m3@mail.test>",
        ),
        "karl",
    )
    worker.drain()
    staff(rt)
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.sender_address, Message.id)).all())
        aoife = session.scalar(select(Customer).where(Customer.name == "Aoife Murphy"))
        assert aoife is not None
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)

        def found(query: str) -> tuple[list[int], list[int]]:
            answer = client.get("/api/search", params={"q": query}, headers=auth).json()
            return [m["id"] for m in answer["messages"]], [c["id"] for c in answer["customers"]]

        messages, customers = found("  AOIFE.murphy@gmail ")
        assert messages == [ids["aoife.murphy@gmail.test"]]
        assert aoife.id in customers, "the customer, by the email address on file"
        assert found("nw-771035")[0] == [ids["hannah.schmidt@mail.test"]], "words of the mail"
        assert found("50%_")[0] == [ids["hannah.schmidt@mail.test"]], "% and _ are literal"
        assert found("no such words anywhere") == ([], [])
        assert found("\x00") == ([], [])
        pasted = client.get("/api/search", params={"q": "NW-" + "7" * 5000}, headers=auth)
        assert pasted.status_code == 200 and len(pasted.json()["query"]) == 200
        short = client.get("/api/search", params={"q": "a"}, headers=auth).json()
        assert short["too_short"] and short["messages"] == []
        accents = client.get("/api/search", params={"q": "\u0301\u0301"}, headers=auth).json()
        assert accents["too_short"] and accents["messages"] == [], "not every message"

        login(client, "alice")
        page = client.get("/search", params={"q": "Murphy"}).text
        assert f'href="/messages/{ids["aoife.murphy@gmail.test"]}"' in page
        assert f'href="/customers/{aoife.id}"' in page
        assert 'value="Murphy"' in page
        # a sender not in the customer data has no CRM id, tier or plan: said, not left blank
        assert "not in the CRM yet" not in page and aoife.external_id in page
        unknown = client.get("/search", params={"q": "Karl Jensen"}).text
        assert '<small class="provisional">not in the CRM yet</small>' in unknown
        assert re.search(r'id="too-short"', client.get("/search", params={"q": "a"}).text)


def test_search_ignores_capitals_and_accents_on_both_databases(rt: Runtime, worker: Worker) -> None:
    """Irish, German and Turkish names are found however staff type them: in capitals or not,
    with the accents or without (SQLite's own lower() folds only A-Z, and neither database
    drops accents by itself)."""
    with transaction(rt.factory) as session:
        session.add(Customer(name="SEÁN Ó BRIAIN", external_id="IE-1"))
        session.add(Customer(name="Jörg Müller", external_id="DE-Ä-7"))
        session.add(Customer(name="SØREN LØKKE", external_id="DK-9"))
    drop(rt, make_email(sender="ÖZGE ÇELİK <ozge@mail.test>", body="Ár mbille, le do thoil."), "ö")
    drop(rt, make_email(sender="Łukasz <l@mail.test>", body="Rechnung für die Straße"), "ł")
    worker.drain()
    with rt.factory() as session:

        def customers(query: str) -> list[str]:
            return [c["name"] for c in search(session, query)["customers"]]

        def senders(query: str) -> list[str]:
            return [m["sender"] for m in search(session, query)["messages"]]

        assert customers("seán ó briain") == customers("sean o briain") == ["SEÁN Ó BRIAIN"]
        assert customers("JORG MULLER") == customers("jörg") == ["Jörg Müller"]
        assert customers("de-a-7") == ["Jörg Müller"], "external ids fold too"
        assert senders("özge") == senders("OZGE CELIK") == senders("çelik") == ["ÖZGE ÇELİK"]
        assert senders("ar mbille") == senders("ÁR MBILLE") == ["ÖZGE ÇELİK"], "the mail's words"
        assert senders("öz") == senders("oz") == ["ÖZGE ÇELİK"], "two letters: every row is read"
        assert customers("joerg") == [], "a spelling is not a fold"
        assert customers("soren lokke") == customers("Søren") == ["SØREN LØKKE"]
        assert senders("lukasz") == senders("STRASSE") == senders("straße") == ["Łukasz"]


def test_customers_are_found_exactly_as_python_folds_them(rt: Runtime) -> None:
    """Every customer whose name holds the query, as Python folds both, and no other: on SQLite
    too, where plain ASCII names skip the Python fold and SQLite's LIKE answers for them."""
    names = [
        "Aoife Murphy",
        "SEÁN Ó BRIAIN",
        "Sean O'Brien",
        "Jörg Müller",
        "JORG\tMULLER",
        "Zoë Ní Bhriain",
        "Ｚｏｅ Wide",
        "50%_off Ltd",
    ]
    with transaction(rt.factory) as session:
        session.add_all(Customer(name=name, external_id=f"{n}X") for n, name in enumerate(names))
    sqlite = rt.engine.dialect.name == "sqlite"
    with rt.factory() as session:
        for query in ["sean", "O'BRI", "müller", "jorg", "zoe", "NÍ", "ｚｏｅ", "%_", "rphy", "1x"]:
            found = session.scalars(customers_matching(query, sqlite=sqlite)).all()
            wanted = [n for i, n in enumerate(names) if fold(query) in fold(f"{n}\n{i}x")]
            assert sorted(c.name for c in found) == sorted(wanted), query


def test_both_databases_fold_as_python_does(rt: Runtime) -> None:
    """The stored search text is folded in Python, customers' values in SQL: the two must
    agree, or a name would be found in one place and not the other."""
    names = [
        "SEÁN Ó BRIAIN",
        "Jörg Müller",
        "ÖZGE ÇELİK",
        "İstanbul",
        "Nguyễn Thị Ánh",
        "Ελένη Παπαδοπούλου",
        "Łukasz Søren",
        "ﬁle Straße",
        "Œuvre",
        "ℌ①",
        "Zoë\nNoël",
    ]
    with rt.factory() as session:
        in_sql = [session.scalar(select(folded(n))) for n in names]
    assert in_sql == [fold(n) for n in names]
    assert in_sql[:3] == ["sean o briain", "jorg muller", "ozge celik"]


def test_search_matches_each_field_and_each_database_finds_it_by_index(
    rt: Runtime, worker: Worker
) -> None:
    """A word in few messages is found through a trigram index instead of a pass over every
    message (bench/search.py has the times): pg_trgm on PostgreSQL, FTS5 on SQLite. On
    PostgreSQL the customers' folded values are indexed too."""
    drop(rt, make_email(), "aoife")
    worker.drain()
    with rt.factory() as session:
        indexed = sqlite_index_usable(session)
        assert indexed == (rt.engine.dialect.name == "sqlite")
        query = messages_matching("roaming in Spain", indexed=indexed)
        assert [row.sender_address for row in session.execute(query)] == ["aoife.murphy@gmail.test"]
        assert (
            session.execute(messages_matching("my bill Hi, I was", indexed=indexed)).all() == []
        ), "the end of the subject and the start of the text are two fields, not one"
        sql = str(query.compile(rt.engine, compile_kwargs={"literal_binds": True}))
        if rt.engine.dialect.name == "postgresql":
            # A table of one row is read whole; with those plans priced out, what is left shows
            # whether the index can answer the query's condition at all.
            session.execute(text("SET LOCAL enable_seqscan = off"))
            session.execute(text("SET LOCAL enable_indexscan = off"))
            plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
            assert "ix_search_message_text" in plan, plan
            customers = customers_matching("Ó Briain")
            sql = str(customers.compile(rt.engine, compile_kwargs={"literal_binds": True}))
            plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
            for index in SEARCH_INDEXES:
                if index != "ix_search_message_text":
                    assert index in plan, "\n" + plan  # each of the four folded values
        else:
            plan = " ".join(row[3] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert f"SCAN {SQLITE_MESSAGE_INDEX} VIRTUAL TABLE INDEX" in plan, plan
            assert "message_search " not in plan + " ", plan


def test_the_index_finds_what_reading_every_row_finds(rt: Runtime, worker: Worker) -> None:
    """Whatever is searched for, the database (through its index: FTS5 on SQLite, pg_trgm on
    PostgreSQL; two letters read every row) finds exactly the messages whose text holds it, as
    Python folds them (capitals and accents); the index follows the search table through an
    update and a deleted message."""
    mails = [
        ("Aoife Murphy <aoife.murphy@gmail.test>", "Roaming charges", "80 euro in Spain?"),
        ("Jörg Müller <joerg@mail.test>", "GEBÜHREN für Roaming", "Warum zahle ich 9,99?"),
        ("Karl <karl@mail.test>", "50%_off offer", "Is the 500 off still on?"),
        ("Dara <dara@mail.test>", "Outage", "No signal in Dublin 8 since Monday"),
    ]
    for n, (sender, subject, body) in enumerate(mails):
        drop(
            rt, make_email(sender=sender, subject=subject, body=body, message_id=f"<{n}@t>"), str(n)
        )
    worker.drain()
    queries = [
        "roaming",
        "ROAMING",
        "Dublin 8",
        "50%_",
        "500",
        "zz",
        "in",
        "off offer",
        "gebühren",
        "GEBUHREN",
        "jörg müller",
        "Ü",
    ]
    with rt.factory() as session:
        indexed = sqlite_index_usable(session)
        rows = session.execute(select(MessageSearchText.message_id, MessageSearchText.text))
        texts = dict(rows.tuples().all())
        for query in queries:
            found = session.execute(messages_matching(query, indexed=indexed)).all()
            holding = [i for i, t in texts.items() if fold(query) in fold(t)]
            assert [row.id for row in found] == sorted(holding, reverse=True), query
        dara = session.scalar(select(Message.id).where(Message.sender_address == "dara@mail.test"))
    with transaction(rt.factory) as session:
        session.execute(text("DELETE FROM messages WHERE id = :id"), {"id": dara})
        session.execute(
            text("UPDATE message_search SET text = 'renamed' WHERE message_id != :id"), {"id": dara}
        )
    with rt.factory() as session:
        assert session.execute(messages_matching("Dublin", indexed=indexed)).all() == []
        if indexed:  # the index itself let go of the deleted message, not only the join
            phrase = text(f"SELECT count(*) FROM {SQLITE_MESSAGE_INDEX} WHERE text MATCH :q")
            assert session.scalar(phrase, {"q": '"Dublin"'}) == 0
        assert session.execute(messages_matching("roaming", indexed=indexed)).all() == []
        assert len(session.execute(messages_matching("renamed", indexed=indexed)).all()) == 3


def _stored(rt: Runtime, count: int) -> list[int]:
    """`count` inbound messages written as the parse writes them, oldest first (the pipeline
    would take a minute for the 52 a second page needs)."""
    now = utcnow()
    with transaction(rt.factory) as session:
        channel = Channel(name="support", kind="maildir", address="support@example.test")
        session.add(channel)
        session.flush()
        messages = [
            Message(
                channel_id=channel.id,
                direction="in",
                external_key=f"k{n}",
                raw=b"",
                state="in_review",
                subject=f"Bill {n}",
                sender_address=f"c{n}@mail.test",
                sender_name=f"Seán Ó Briain {n}",
                new_text=f"Hi,\n\nI was charged for roaming in Spain, {n} times over.\nSeán",
                received_at=now - timedelta(minutes=count - n),
            )
            for n in range(count)
        ]
        session.add_all(messages)
        session.flush()
        for message in messages:
            index_message(session, message)
        return [message.id for message in messages]


def test_search_pages_through_older_matches_and_marks_each_match(rt: Runtime) -> None:
    """A word in more messages than a page: the newest 50, then "Older matches" for the
    rest (customers on the first page only); each row shows the words around the match in
    the customer's text, the match marked as the customer wrote it."""
    ids = _stored(rt, 52)
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        first = client.get("/search", params={"q": "ROAMING"}).text
        shown = [int(i) for i in re.findall(r'href="/messages/(\d+)"', first)]
        assert shown == ids[::-1][:50], "the newest 50, newest first"
        assert '<span class="count">50+</span>' in first and "<h2>Customers" in first
        older = re.search(r'id="older" href="([^"]+)"', first)
        assert older is not None
        assert "I was charged for <mark>roaming</mark> in Spain, 51 times" in first
        assert '<td title="in_review">awaiting review</td>' in first, "the state in words"
        second = client.get(older.group(1).replace("&amp;", "&")).text
        assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', second)] == ids[1::-1]
        assert "Older messages" in second and "<h2>Customers" not in second
        assert 'id="older"' not in second, "nothing older"
        accents = client.get("/search", params={"q": "sean", "before": ids[1]}).text
        assert "<mark>Seán</mark>" in accents, "marked as written, accents and all"
        auth = api_token(client)
        answer = client.get(
            "/api/search", params={"q": "roaming in spain", "before": ids[2]}, headers=auth
        ).json()
        assert [m["id"] for m in answer["messages"]] == ids[1::-1]
        assert answer["older"] is None and answer["customers"] == []
        assert answer["messages"][0]["excerpt"] == {
            "before": "Hi, I was charged for ",
            "match": "roaming in Spain",
            "after": ", 1 times over. Seán",
            "cut_before": False,
            "cut_after": False,
        }
        subject_only = client.get("/api/search", params={"q": "bill 7"}, headers=auth).json()
        assert [m["excerpt"] for m in subject_only["messages"]] == [None], "not in the text"


def test_a_message_that_failed_after_its_parse_is_parsed_again_once(
    rt: Runtime, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrying a message that failed at classifying parses it again from the raw: it keeps one
    copy of its attachment and is found by search once."""
    email = make_email(
        subject="Bill attached",
        body="My bill is wrong, the PDF is attached.",
        message_id="<bill@mail.test>",
        attachments=[("b.pdf", "application/pdf", b"%PDF-1.4 bill")],
    )
    drop(rt, email, "bill")
    rt.settings.pipeline.max_attempts = 1

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("classifier store unreachable")

    monkeypatch.setattr("responder.pipeline.stages.classify_texts", broken)
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert message.state == "failed", message.state_reason
    monkeypatch.undo()
    with transaction(rt.factory) as session:
        retry(session, message.id, "alice")
    worker.drain()
    with rt.factory() as session:
        assert session.get(Message, message.id).state == "in_review"  # type: ignore[union-attr]
        files = session.scalars(
            select(Attachment.filename).where(Attachment.message_id == message.id)
        )
        assert list(files) == ["b.pdf"]
        assert [m["id"] for m in search(session, "PDF is attached")["messages"]] == [message.id]


@given(st.text(alphabet="aAeEnNoOsS éÉÓó\u0301\u0308ﬁßø", max_size=30), st.data())
def test_the_marked_match_is_what_was_searched_for(text: str, data: st.DataObject) -> None:
    """Whatever part of a text is searched for, capitals, accents (composed or not) and
    ligatures included, the span found folds to the query."""
    start = data.draw(st.integers(0, len(text)))
    query = text[start : data.draw(st.integers(start, len(text)))]
    span = find_folded(text, query)
    if not fold(query):
        assert span is None
        return
    assert span is not None
    assert fold(text[span[0] : span[1]]) == fold(query)


def test_a_match_is_marked_as_the_customer_wrote_it() -> None:
    assert find_folded("Dia duit, Seán anseo", "SEAN") == (10, 14)
    assert find_folded("Se\u0301an", "sean") == (0, 5), "the accent of the last letter too"
    assert find_folded("a ﬁle", "file") == (2, 5)
    assert find_folded("roaming", "spain") is None


def test_letters_spelled_plain_are_found_and_marked_whole() -> None:
    assert fold("Søren Łódź Straße Æbeltoft") == "soren lodz strasse aebeltoft"
    assert find_folded("Hej, Søren her", "soren") == (5, 10)
    assert find_folded("aßas", "as") == (2, 4), "not half of the ß"
    assert find_folded("Straße", "strasse") == (0, 6)


def _roaming_found(client: TestClient, auth: dict[str, str], **params: object) -> list[int]:
    """The ids `/api/search?q=roaming` answers with these filters."""
    answer = client.get("/api/search", params={"q": "roaming", **params}, headers=auth)
    assert answer.status_code == 200, answer.text
    return [m["id"] for m in answer.json()["messages"]]


def test_search_narrows_messages_by_state_and_channel(rt: Runtime) -> None:
    """ "What did we send about roaming", "which of their mail still waits": the state and channel
    filters narrow the messages (customers stay), and the next page keeps them."""
    waiting = _stored(rt, 51)  # in review, on the "support" mailbox
    now = utcnow()
    with transaction(rt.factory) as session:
        whatsapp = Channel(name="WhatsApp", kind="whatsapp", address="+3531000")
        session.add(whatsapp)
        session.flush()
        support = session.scalar(select(Message.channel_id).where(Message.id == waiting[0]))
        others = {
            state: Message(
                channel_id=whatsapp.id if state != "sent" else support,
                direction="in",
                external_key=f"other-{state}",
                raw=b"",
                state=state,
                subject="",
                sender_address="+3538700",
                sender_name="Seán Ó Briain",
                new_text=f"Roaming again ({state})",
                received_at=now,
            )
            for state in ("snoozed", "sent", "quarantined")
        }
        session.add_all(others.values())
        session.flush()
        for message in others.values():
            index_message(session, message)
        ids = {state: m.id for state, m in others.items()}
        channel_id = whatsapp.id
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        auth = api_token(client)

        found = partial(_roaming_found, client, auth)

        assert found(state="answered") == [ids["sent"]]
        assert found(state="problems") == [ids["quarantined"]]
        assert found(channel=channel_id) == [ids["quarantined"], ids["snoozed"]]
        assert found(state="waiting", channel=channel_id) == [ids["snoozed"]]
        assert found(state="rejected") == []
        refused = client.get("/api/search", params={"q": "roaming", "state": "open"}, headers=auth)
        assert refused.status_code == 400 and "answered" in refused.text

        page = client.get("/search", params={"q": "roaming", "state": "waiting"}).text
        assert '<option value="waiting" selected>awaiting review or snoozed</option>' in page
        assert "<h2>Customers" in page, "customers are not narrowed"
        shown = [int(i) for i in re.findall(r'href="/messages/(\d+)"', page)]
        assert shown == [ids["snoozed"], *waiting[::-1][:49]], "the sent one is left out"
        older = re.search(r'id="older" href="([^"]+)"', page)
        assert older is not None and "state=waiting" in older.group(1)
        second = client.get(older.group(1).replace("&amp;", "&")).text
        assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', second)] == waiting[1::-1]
        assert '<option value="waiting" selected>' in second, "the next page keeps the filter"
        none = client.get("/search", params={"q": "roaming", "state": "ignored"}).text
        assert "No message matches here" in none and 'id="any-state"' in none
        words = client.get("/search", params={"q": "", "state": "waiting", "channel": ""}).text
        assert 'id="need-words"' in words, "filters alone: say what is missing"


def test_search_narrows_messages_to_the_days_they_came_in_on_the_teams_calendar(
    rt: Runtime,
) -> None:
    """ "Their mail of 1 July": the days are the team's (Dublin: UTC+1 in summer), both
    included; the next page keeps them; a "from" after the "to" is said, not searched."""
    day = _stored(rt, 51)
    at = {
        "evening 30 June": datetime(2026, 6, 30, 22, 30, tzinfo=UTC),  # 23:30 in Dublin
        "just after midnight": datetime(2026, 6, 30, 23, 30, tzinfo=UTC),  # 1 July 00:30
        "late 1 July": datetime(2026, 7, 1, 22, 59, tzinfo=UTC),  # 23:59
        "just after the next midnight": datetime(2026, 7, 1, 23, 0, tzinfo=UTC),  # 2 July
    }
    with transaction(rt.factory) as session:
        for n, message_id in enumerate(day):  # 1 July from noon, Dublin
            session.get(Message, message_id).received_at = datetime(2026, 7, 1, 11, n, tzinfo=UTC)
        channel_id = session.get(Message, day[0]).channel_id
        edges = {
            name: Message(
                channel_id=channel_id,
                direction="in",
                external_key=name,
                raw=b"",
                state="in_review",
                subject=name,
                sender_address="aoife@mail.test",
                new_text=f"Roaming charges again, {name}",
                received_at=received,
            )
            for name, received in at.items()
        }
        session.add_all(edges.values())
        session.flush()
        for message in edges.values():
            index_message(session, message)
        ids = {name: m.id for name, m in edges.items()}
    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone="Europe/Dublin")
    )
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        auth = api_token(client)

        found = partial(_roaming_found, client, auth)

        assert found(until="2026-06-30") == [ids["evening 30 June"]]
        assert found(since="2026-07-02") == [ids["just after the next midnight"]]
        # newest first by arrival order (the edges were stored after the 51)
        first_of_july = [ids["late 1 July"], ids["just after midnight"], *day[::-1]]
        page = client.get(
            "/search", params={"q": "roaming", "since": "2026-07-01", "until": "2026-07-01"}
        ).text
        assert 'name="since" id="since" value="2026-07-01"' in page, "the form keeps the days"
        assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', page)] == first_of_july[:50]
        older = re.search(r'id="older" href="([^"]+)"', page)
        assert older is not None
        second = client.get(older.group(1).replace("&amp;", "&")).text
        assert [int(i) for i in re.findall(r'href="/messages/(\d+)"', second)] == first_of_july[50:]

        reversed_days = client.get(
            "/search", params={"q": "roaming", "since": "2026-07-02", "until": "2026-07-01"}
        ).text
        assert 'id="dates-reversed"' in reversed_days and 'id="messages"' not in reversed_days
        # The days narrow the messages, not the customers: those are still listed.
        import_customers(rt.factory, rt.settings.path("demo") / "customers.csv")
        named = client.get(
            "/search", params={"q": "Aoife", "since": "2026-07-02", "until": "2026-07-01"}
        ).text
        assert 'id="dates-reversed"' in named and 'id="customers"' in named
        assert ">Aoife Murphy</a>" in named
        # A day at the calendar's end is no bound, not a server error.
        for path in ("/search", "/api/search"):
            last = client.get(path, params={"q": "roaming", "until": "9999-12-31"}, headers=auth)
            assert last.status_code == 200, last.text[:300]
        impossible = client.get(
            "/api/search", params={"q": "roaming", "since": "2026-02-30"}, headers=auth
        )
        assert impossible.status_code == 400 and "not a day of the calendar" in impossible.text
        no_day = client.get("/search", params={"q": "roaming", "since": "", "until": ""})
        assert no_day.status_code == 200, "a date field left empty is no bound"

    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone="UTC")
    )
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        auth = api_token(client)
        answer = client.get(
            "/api/search",
            params={"q": "roaming", "since": "2026-07-01", "until": "2026-07-01"},
            headers=auth,
        ).json()
        in_utc = [m["id"] for m in answer["messages"]]
        assert ids["just after the next midnight"] in in_utc, "1 July 23:00 in UTC"
        assert ids["just after midnight"] not in in_utc, "30 June 23:30 in UTC"


def test_a_phone_number_is_found_however_it_is_written(rt: Runtime) -> None:
    """Staff type a number as the caller says it ("087 123 4567"); numbers on file and WhatsApp
    senders are stored as +353871234567, and a customer writes 0871234567 in an email: all
    three are found, and the page says what else was searched for."""
    from responder.db.models import CustomerIdentity

    with transaction(rt.factory) as session:
        customer = Customer(name="Niamh Byrne", external_id="C5001")
        session.add(customer)
        session.flush()
        session.add(CustomerIdentity(customer_id=customer.id, kind="phone", value="+353871234567"))
    ids = _stored(rt, 2)
    with transaction(rt.factory) as session:
        whatsapp, email = (session.get(Message, i) for i in ids)
        assert whatsapp is not None and email is not None
        whatsapp.sender_address, whatsapp.sender_name = "+353871234567", ""
        email.new_text = "Please ring me back on 0871234567 after six."
        for message in (whatsapp, email):
            session.execute(
                MessageSearchText.__table__.delete().where(
                    MessageSearchText.message_id == message.id
                )
            )
            session.flush()
            index_message(session, message)
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        auth = api_token(client)
        for typed in ("087 123 4567", "+353 (87) 123-4567", "0871234567", "+353871234567"):
            answer = client.get("/api/search", params={"q": typed}, headers=auth).json()
            assert [c["name"] for c in answer["customers"]] == ["Niamh Byrne"], typed
            assert sorted(m["id"] for m in answer["messages"]) == sorted(ids), typed
        answer = client.get("/api/search", params={"q": "087 123 4567"}, headers=auth).json()
        assert answer["also"] == ["0871234567", "+353871234567", "+353 87 123 4567"]
        marked = {m["id"]: m["excerpt"] for m in answer["messages"]}[email.id]
        assert marked["match"] == "0871234567", "the number marked as the customer wrote it"
        page = client.get("/search", params={"q": "087 123 4567"}).text
        assert (
            "also searched for <strong>0871234567</strong>, <strong>+353871234567</strong>, "
            "<strong>+353 87 123 4567</strong>." in page
        )
        dated = client.get("/api/search", params={"q": "2026-12-05"}, headers=auth).json()
        assert dated["also"] == [], "a date is not a phone number"


def test_a_phone_number_spaced_any_way_in_the_mail_is_found(rt: Runtime, worker: Worker) -> None:
    """A customer writes "0871 234 567" or "+353 (0)87 123-4567": what staff type ("087 123
    4567", the number on file) finds it, through the E.164 form kept beside the text, and the
    number is marked as written."""
    for n, written in enumerate(("0871 234 567", "+353 (0)87 123-4567")):
        body = f"Please ring me back on {written} after six. Account 40012345."
        drop(rt, make_email(body=body, message_id=f"<ring{n}@mail.test>"), f"ring-{n}")
    worker.drain()
    with rt.factory() as session:
        ids = sorted(session.scalars(select(Message.id).where(Message.direction == "in")))
        found = search(session, "087 123 4567", phone_region="IE")
        assert sorted(m["id"] for m in found["messages"]) == ids
        marked = {m["id"]: m["excerpt"]["match"] for m in found["messages"]}
        assert marked == {ids[0]: "0871 234 567", ids[1]: "+353 (0)87 123-4567"}
        assert [m["id"] for m in search(session, "+353871234567")["messages"]] == ids[::-1]
        assert search(session, "+35340012345")["messages"] == [], "an account number is not one"


def test_phone_forms_of_what_staff_type() -> None:
    from responder.customers.identity import phone_forms

    assert phone_forms("+44 20 7946 0958", "IE") == [
        "+442079460958",
        "02079460958",
        "020 7946 0958",
    ]
    assert phone_forms("089/1234567", "DE") == [
        "0891234567",
        "+49891234567",
        "089 1234567",
        "+49 89 1234567",
    ]
    assert phone_forms("123 45", "IE") == [], "a fragment is searched as typed"
    assert phone_forms("05/12/2026", "IE") == phone_forms("C1234567", "IE") == []


def test_numbers_and_names_found_in_a_message_link_to_a_search(rt: Runtime, worker: Worker) -> None:
    """On the review page, the account and phone numbers the customer quoted open a search for
    their other mail and the customer on file; amounts do not."""
    body = "My account NW-204455 was charged EUR 80. Ring me on 087 123 4567 please."
    drop(rt, make_email(body=body), "quoted")
    drop(
        rt, make_email(subject="Earlier", body="Still waiting, NW-204455.", message_id="<e@x>"), "e"
    )
    worker.drain()
    staff(rt)
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.subject, Message.id)).all())
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{ids['Roaming charges on my bill']}").text
        links = dict(
            (text, href.replace("&amp;", "&"))
            for href, text in re.findall(r'<a href="(/search\?q=[^"]+)"[^>]*>([^<]+)</a>', page)
        )
        assert set(links) == {"NW-204455", "+353871234567"}, "amounts are not searched for"
        found = client.get(links["NW-204455"]).text
        shown = {int(i) for i in re.findall(r'href="/messages/(\d+)"', found)}
        assert shown == set(ids.values()), "both of her messages quoting it"
        assert (
            f'href="/messages/{ids["Roaming charges on my bill"]}"'
            in client.get(links["+353871234567"]).text
        ), "the number as she wrote it"


def test_a_place_the_customer_names_links_to_the_other_mail_from_there(
    rt: Runtime, worker: Worker
) -> None:
    """An outage report names the area: the reviewer opens every other message naming it (is
    it one phone, or the whole district?)."""
    drop(
        rt,
        make_email(
            sender="Maeve <maeve@mail.test>",
            subject="No signal",
            body="No signal at all since yesterday. I'm in Rathmines and my partner is too.",
        ),
        "maeve",
    )
    drop(
        rt,
        make_email(
            sender="Tom <tom@mail.test>",
            subject="Calls dropping",
            body="Calls keep dropping at home in Rathmines this week.",
            message_id="<tom@x>",
        ),
        "tom",
    )
    worker.drain()
    staff(rt)
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.subject, Message.id)).all())
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{ids['No signal']}").text
        assert "places: " in page
        links = dict(
            (text, href)
            for href, text in re.findall(r'<a href="(/search\?q=[^"]+)"[^>]*>([^<]+)</a>', page)
        )
        assert "Rathmines" in links
        found = client.get(links["Rathmines"]).text
        shown = {int(i) for i in re.findall(r'href="/messages/(\d+)"', found)}
        assert shown == {ids["No signal"], ids["Calls dropping"]}
