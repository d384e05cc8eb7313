"""The whole path of one email on the embedded default: Maildir in, review, threaded reply out."""

from __future__ import annotations

import email
import re
from email.policy import default

import msgspec
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.db.models import Draft, Message, OutboxItem, StaffUser
from responder.db.session import transaction
from responder.pipeline.worker import Worker, state_counts
from responder.review import approve
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, sent_replies, staff
from tests.supervisor.history import waiting_message


def test_dropped_email_becomes_an_approved_threaded_reply(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    path = drop(
        rt,
        make_email(headers={"References": "<earlier@mail.test>"}),
        "first",
    )
    worker.drain()
    assert not path.exists(), "the file moves from new/ to cur/ after it is stored"
    assert state_counts(rt)["in_review"] == 1

    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        queue = client.get("/api/queue", headers=auth).json()
        assert [item["subject"] for item in queue] == ["Roaming charges on my bill"]
        detail = client.get(f"/api/messages/{queue[0]['id']}", headers=auth).json()
        assert detail["customer"]["name"] == "Aoife Murphy"
        assert detail["draft"]["body"].startswith("Hi Aoife,")
        assert (
            detail["draft"]["body"]
            .rstrip()
            .endswith("Kind regards,\nNorthwind Mobile Customer Care")
        )
        response = client.post(f"/api/messages/{queue[0]['id']}/approve", headers=auth, json={})
        assert response.status_code == 201, response.text
        reply_id = response.json()["outbox_message_id"]

    worker.drain()
    replies = sent_replies(rt)
    assert len(replies) == 1
    reply = replies[0]
    assert reply["To"] == "Aoife Murphy <aoife.murphy@gmail.test>"
    assert reply["Subject"] == "Re: Roaming charges on my bill"
    assert reply["In-Reply-To"] == "<m1@mail.test>"
    assert reply["References"].split() == ["<earlier@mail.test>", "<m1@mail.test>"]
    assert reply["Message-ID"] == reply_id
    text = reply.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Hi Aoife,")
    ours, _, quoted = text.partition("Northwind Mobile Customer Care\n\n")
    # The customer's words follow, quoted under the line mail clients write.
    assert re.fullmatch(
        r"On \d{4}-\d\d-\d\d \d\d:\d\d UTC, Aoife Murphy <aoife\.murphy@gmail\.test> wrote:\n",
        quoted.splitlines(keepends=True)[0],
    ), quoted
    assert quoted.splitlines()[1:] == [
        "> Hi, I was charged 80 euro for roaming in Spain. I thought the EU was included?"
    ]
    with rt.factory() as session:
        item = session.scalars(select(OutboxItem)).one()
    assert item.body.strip() == ours.strip() + "\nNorthwind Mobile Customer Care"
    assert state_counts(rt)["sent"] == 1


def test_edited_approval_sends_the_edited_text_and_keeps_both_versions(
    rt: Runtime, worker: Worker
) -> None:
    drop(rt, make_email(subject="RE: Re: Roaming"), "edit")
    worker.drain()
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        message_id = client.get("/api/queue", headers=auth).json()[0]["id"]
        body = "Hi Aoife,\n\nWe have refunded the roaming charge.\n\nNorthwind Mobile"
        response = client.post(
            f"/api/messages/{message_id}/approve", headers=auth, json={"body": body}
        )
        assert response.status_code == 201
    worker.drain()
    (reply,) = sent_replies(rt)
    assert reply["Subject"] == "Re: Roaming"
    assert "We have refunded the roaming charge." in reply.get_body(("plain",)).get_content()
    with rt.factory() as session:
        versions = session.scalars(select(Draft.version).where(Draft.message_id == message_id))
        assert sorted(versions) == [1, 2]


def test_reject_keeps_the_reason_and_sends_nothing(rt: Runtime, worker: Worker) -> None:
    drop(rt, make_email(), "reject")
    worker.drain()
    staff(rt)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)
        message_id = client.get("/api/queue", headers=auth).json()[0]["id"]
        response = client.post(
            f"/api/messages/{message_id}/reject", headers=auth, json={"reason": "wrong customer"}
        )
        assert response.status_code == 201
        again = client.post(f"/api/messages/{message_id}/approve", headers=auth, json={})
        assert again.status_code == 409
        assert "rejected by alice" in again.json()["detail"]
    worker.drain()
    assert sent_replies(rt) == []
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message.state == "rejected" and message.state_reason == "wrong customer"


def test_demo_emails_get_drafts_and_machine_mail_does_not(rt: Runtime, worker: Worker) -> None:
    import csv

    from responder.demo import load_demo

    load_demo(rt.settings)
    worker.drain()
    expected = {
        row["file"]: row
        for row in csv.DictReader((rt.settings.path("demo") / "expected.csv").open())
    }
    with rt.factory() as session:
        rows = session.execute(
            select(Message.external_key, Message.state).where(Message.direction == "in")
        ).all()
        drafted = session.scalar(select(func.count(Draft.id)).where(Draft.body != ""))
    assert len(rows) == len(expected)
    for key, state in rows:
        row = expected[key.removeprefix("demo-") + ".eml"]
        wanted = "in_review" if row["draft"] == "yes" else "ignored"
        assert state == wanted, key
    assert drafted == sum(1 for r in expected.values() if r["draft"] == "yes")
    with rt.factory() as session:
        german = session.scalars(
            select(Draft.grounding)
            .join(Message, Message.id == Draft.message_id)
            .where(Message.external_key == "demo-08-outage-kein-netz-de")
        ).one()
    assert german["entities"]["people"] == [], "German nouns are not taken for names"
    cork, rathmines = "demo-07-outage-sos-only", "demo-05-outage-no-signal-since-yesterday"
    spain = "demo-10-roaming-spain-portugal-eu-pass"
    with rt.factory() as session:
        body = dict(
            session.execute(
                select(Message.external_key, Draft.body)
                .join(Message, Message.id == Draft.message_id)
                .where(Message.external_key.in_([cork, rathmines, spain]))
            ).all()
        )
    assert "We know of a network fault in Cork since" in body[cork]
    assert "We see no known fault in your area right now" in body[rathmines]
    asked = "You mentioned Rathmines, Dublin: if you haven't already, reply with your Eircode"
    assert asked in body[rathmines], "the place the customer named"
    assert "about using your phone abroad." in body[spain], "two countries: not named back"


def test_a_large_mail_is_read_from_the_database_by_the_parse_stage_only(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """A customer's 4 MB photo of their bill: the parse stage reads the raw bytes once; the
    later stages, the review page and the approval read the parsed copy, so a big mail does not
    cross the wire again at every step."""
    from email import message_from_bytes, policy

    from sqlalchemy import event

    mail = message_from_bytes(make_email(), policy=policy.default)
    mail.add_attachment(bytes(range(256)) * 16_384, "image", "jpeg", filename="bill.jpg")
    drop(rt, mail.as_bytes(), "photo")
    reads: list[str] = []

    def record(_conn, _cursor, statement: str, *_args: object) -> None:
        if re.search(r"\bmessages\.raw\b", statement) and statement.lstrip().startswith("SELECT"):
            reads.append(statement)

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        worker.drain()
        assert state_counts(rt)["in_review"] == 1
        staff(rt)
        with TestClient(create_app(rt)) as client:
            auth = api_token(client)
            queue = client.get("/api/queue", headers=auth).json()
            detail = client.get(f"/api/messages/{queue[0]['id']}", headers=auth).json()
            assert detail["draft"]["body"].startswith("Hi Aoife,")
            approved = client.post(f"/api/messages/{queue[0]['id']}/approve", headers=auth, json={})
            assert approved.status_code == 201, approved.text
        worker.drain()
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)
    assert len(sent_replies(rt)) == 1
    assert len(reads) == 1, reads
    with rt.factory() as session:
        stored = session.scalar(select(Message).where(Message.direction == "in"))
        assert stored.raw == mail.as_bytes(), "the raw bytes are still kept exactly"


def test_quoting_the_customer_can_be_turned_off(rt: Runtime) -> None:
    message_id = waiting_message(rt, 1)
    staff(rt, "alice")
    unquoted = msgspec.structs.replace(rt.settings.outbound, quote_original=False)
    with transaction(rt.factory) as session:
        alice = session.scalars(select(StaffUser).where(StaffUser.username == "alice")).one()
        approve(session, message_id, alice, unquoted)
    with rt.factory() as session:
        item = session.scalars(select(OutboxItem)).one()
        assert item.raw is not None
        sent = email.message_from_bytes(item.raw, policy=default).get_body(("plain",)).get_content()
    assert sent.replace("\r\n", "\n").strip() == item.body.strip()
    assert "wrote:" not in sent and "> " not in sent
