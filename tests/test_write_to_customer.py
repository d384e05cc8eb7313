"""Write to this customer: a new email from the customer page goes out through the outbox and
the send stage, as approved replies do, to a real SMTP server (a refused one is retried from the
customer's page); the customer's answer threads into its conversation by its Message-ID."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import AuditEntry, Customer, CustomerIdentity, Message, OutboxItem
from responder.db.session import transaction
from responder.pipeline.stages import parse_stage
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_web_security import csrf, login

__all__ = ["smtp_server"]

ADDRESS = "aoife.murphy@gmail.test"
BODY = "Hi Aoife,\n\nyour phone is repaired: collect it at the Grafton Street shop.\n"


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return send_through(settings, smtp_server)


def a_customer(rt: Runtime) -> int:
    with transaction(rt.factory) as session:
        customer = Customer(name="Aoife Murphy", external_id="C-1001")
        customer.identities.append(CustomerIdentity(kind="email", value=ADDRESS))
        session.add(customer)
        session.flush()
        return customer.id


def test_a_new_message_goes_out_once_and_the_answer_joins_its_conversation(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    customer = a_customer(rt)
    staff(rt, "alice", "agent")
    page = f"/customers/{customer}/write"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert f'href="{page}"' in client.get(f"/customers/{customer}").text
        token = csrf(client, page)
        key = re.search(r'name="key" value="([\w-]+)"', client.get(page).text).group(1)

        def send(to: str, subject: str, body: str) -> object:
            form = {"to": to, "subject": subject, "body": body, "_csrf_token": token, "key": key}
            return client.post(page, data=form, follow_redirects=False)

        refused = send("someone@elsewhere.test", "Your repair is done", BODY)
        assert refused.status_code == 400
        said = "Not one of this customer&#39;s email addresses: someone@elsewhere.test"
        assert said in refused.text
        assert "collect it at the Grafton Street shop" in refused.text  # what was typed stays
        refused = send(ADDRESS, "  ", BODY)
        assert refused.status_code == 400 and "Write a subject" in refused.text
        assert "collect it at the Grafton Street shop" in refused.text
        api = client.post(
            f"/api/customers/{customer}/messages",
            json={"to": ADDRESS, "subject": "Your repair is done", "body": " \n"},
            headers=api_token(client, "alice"),
        )
        assert api.status_code == 400 and api.json()["detail"] == "write the message"
        with rt.factory() as session:
            assert session.scalar(select(OutboxItem.id)) is None

        smtp_server.handler.answers = ["550 5.1.1 mailbox unavailable"]  # the first attempt
        sent = send(ADDRESS.upper(), "Your repair is done", BODY.replace("\n", "\r\n"))
        assert sent.status_code in (302, 303), sent.text
        shown = client.get(sent.headers["location"]).text
        assert "on its way" in shown and "Your repair is done" in shown
        again = send(ADDRESS, "Your repair is done", BODY)  # a double click: one message
        assert (
            "already on its way: it was not sent twice"
            in client.get(again.headers["location"]).text
        )
        worker.drain()
        assert state_counts(rt)["failed"] == 1, "counted where the queue's figures are read"
        # Refused: on Needs attention, and retried from the customer's timeline, where its
        # link (our message has no review page) and the retry's answer lead.
        assert f"Us, to {ADDRESS}" in client.get("/problems").text
        timeline = client.get(f"/customers/{customer}").text
        assert "mailbox unavailable" in timeline and "Retry sending" in timeline
        ours_id = int(re.search(r'action="/messages/(\d+)/retry"', timeline).group(1))
        opened = client.get(f"/messages/{ours_id}", follow_redirects=False)
        assert opened.headers["location"] == f"/customers/{customer}#message-{ours_id}"
        retried = client.post(f"/messages/{ours_id}/retry", data={"_csrf_token": token})
        assert retried.url.path == f"/customers/{customer}" and "queued" in retried.text
        worker.drain()

        with rt.factory() as session:
            ours = session.scalars(select(Message).where(Message.direction == "out")).one()
            item = session.scalars(select(OutboxItem)).one()
            audited = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "customer.write")
            ).one()
        assert ours.state == "sent" and ours.sent_at is not None and ours.customer_id == customer
        assert item.message_id == ours.id and item.state == "sent" and item.attempts == 2
        assert audited.actor == "alice" and audited.object_id == str(customer)
        assert audited.detail["to"] == ADDRESS
        (received,) = smtp_server.handler.received
        assert received.rcpt_tos == [ADDRESS]
        assert received.mail_from == "support@northwind-mobile.test"
        mail = received.message
        assert mail["Message-ID"] == ours.message_id_header == item.message_id_header
        assert re.fullmatch(r"<[0-9a-f]{32}@northwind-mobile\.test>", mail["Message-ID"])
        assert mail["In-Reply-To"] is None and mail["References"] is None
        assert mail["Subject"] == "Your repair is done"
        assert mail["To"] == f"Aoife Murphy <{ADDRESS}>"
        assert str(mail["From"]) == "Northwind Mobile Support <support@northwind-mobile.test>"
        assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == BODY

        # The form brought back by Back and used for another text: refused, not swallowed.
        reused = send(ADDRESS, "Your repair is done", "Another text")
        assert reused.status_code == 409 and "this one was not sent" in reused.text
        assert "Another text" in reused.text and key not in reused.text
        key = re.search(r'name="key" value="([\w-]+)"', reused.text).group(1)
        smtp_server.handler.answers = ["550 5.1.1 mailbox unavailable"]
        send(ADDRESS, "Your repair is done", "Another text")
        worker.drain()
        timeline = client.get(f"/customers/{customer}").text
        (second,) = re.findall(r'action="/messages/(\d+)/leave-unsent"', timeline)
        left = client.post(
            f"/messages/{second}/leave-unsent",
            data={"reason": "phoned her instead", "_csrf_token": token},
        )
        assert left.url.path == f"/customers/{customer}" and "Left unsent" in left.text
        assert (
            "leave-unsent" not in left.text
            and f"Us, to {ADDRESS}" not in client.get("/problems").text
        )

    drop(
        rt,
        make_email(
            sender=f"Aoife Murphy <{ADDRESS}>",
            subject="Thank you!",  # another subject: only the headers can thread it
            message_id="<thanks@mail.test>",
            headers={"In-Reply-To": mail["Message-ID"], "References": mail["Message-ID"]},
        ),
        "answer",
    )
    worker.poll_sources()
    with rt.factory() as session:
        stored = session.scalars(select(Message.id).where(Message.state == "received")).one()
    parse_stage(rt, [stored])  # where threading is decided; classifying and drafting add nothing
    with rt.factory() as session:
        answer = session.scalars(
            select(Message).where(Message.message_id_header == "<thanks@mail.test>")
        ).one()
    assert answer.state == "parsed"
    assert answer.conversation_id == ours.conversation_id
    assert answer.customer_id == customer
    assert len(smtp_server.handler.received) == 1  # sent once, not again by a later round
