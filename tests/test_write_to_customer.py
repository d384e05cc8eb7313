"""Write to this customer: a new email from the customer page goes out through the outbox and
the send stage, as approved replies do, to a real SMTP server (a refused one is retried from the
customer's page); it waits out the undo window as they do, and Undo send puts it back on the
form; the timeline says who wrote it; the customer's answer threads into its conversation by
its Message-ID."""

from __future__ import annotations

import re

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import (
    AuditEntry,
    Customer,
    CustomerIdentity,
    Message,
    OutboxItem,
)
from responder.db.session import transaction
from responder.pipeline.stages import parse_stage
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from responder.users import set_display_name
from responder.web.app import create_app
from responder.web.audit_detail import action_words
from tests.helpers import api_token, drop, make_email, staff, staff_member
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
    with transaction(rt.factory) as session:
        set_display_name(session, staff_member(session).id, "Alice Byrne")
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
        headers = api_token(client, "alice")
        api = client.post(
            f"/api/customers/{customer}/messages",
            json={"to": ADDRESS, "subject": "Your repair is done", "body": " \n"},
            headers=headers,
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
        problems = client.get("/problems").text
        assert f"Us, to {ADDRESS}" in problems
        assert 'data-delivery="failed">message not delivered, 1 attempt' in problems
        timeline = client.get(f"/customers/{customer}").text
        assert "mailbox unavailable" in timeline and "Retry sending" in timeline
        ours_id = int(re.search(r'action="/messages/(\d+)/retry"', timeline).group(1))
        # who wrote it: the name colleagues know her by, on the timeline and in the API
        entry = timeline.split(f'id="message-{ours_id}"', 1)[1].split("</small>", 1)[0]
        assert "us · Alice Byrne" in entry
        opened = client.get(f"/messages/{ours_id}", follow_redirects=False)
        assert opened.headers["location"] == f"/customers/{customer}#message-{ours_id}"
        retried = client.post(f"/messages/{ours_id}/retry", data={"_csrf_token": token})
        assert retried.url.path == f"/customers/{customer}"
        assert "The message is queued to be sent again." in retried.text
        worker.drain()

        with rt.factory() as session:
            ours = session.scalars(select(Message).where(Message.direction == "out")).one()
            item = session.scalars(select(OutboxItem)).one()
            audited = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "customer.write")
            ).one()
        assert ours.state == "sent" and ours.sent_at is not None and ours.customer_id == customer
        assert item.message_id == ours.id and item.state == "sent"
        assert item.attempts == 1, "Retry starts the attempts again"
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
        assert 'data-state="unsent">not sent</span>' in left.text
        assert "Left unsent by alice: phoned her instead." in left.text
        with rt.factory() as session:  # in the audit log as a message left, not a reply
            (code,) = session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("%.leave_unsent"))
            ).all()
        assert (code, action_words(code)) == ("message.leave_unsent", "Message left unsent")

        # With an undo window, a new message waits as a person's approved reply does: the
        # page offers Undo send, which puts it back on the form, unsent for good and audited.
        rt.settings = msgspec.structs.replace(
            rt.settings, outbound=msgspec.structs.replace(rt.settings.outbound, undo_seconds=30)
        )
        key = re.search(r'name="key" value="([\w-]+)"', client.get(page).text).group(1)
        shown = client.get(send(ADDRESS, "Your dongle", BODY).headers["location"]).text
        (waiting,) = re.findall(r'action="/messages/(\d+)/undo"', shown)
        assert f"Message to {ADDRESS} (Your dongle): it goes out at" in shown
        assert 'data-state="approved">waiting to be sent</span>' in shown
        worker.drain()
        back = client.post(f"/messages/{waiting}/undo", data={"_csrf_token": token})
        assert back.url.path == page and "Not sent: your message is back here" in back.text
        assert f'<option value="{ADDRESS}" selected>' in back.text
        assert 'value="Your dongle"' in back.text and "Grafton Street shop" in back.text
        assert key not in back.text, "sending it again is a new message"
        timeline = client.get(f"/customers/{customer}").text
        assert "Taken back by alice with Undo send." in timeline
        assert f'href="{page}?again={waiting}"' in timeline
        again = send(ADDRESS, "Your dongle", BODY)  # the old form again, by Back
        assert again.status_code == 409 and "was taken back" in again.text
        made = client.post(
            f"/api/customers/{customer}/messages",
            json={"to": ADDRESS, "subject": "Your dongle", "body": BODY},
            headers=headers,
        ).json()
        assert made["undo_until"] is not None
        undone = client.post(f"/api/messages/{made['id']}/undo", headers=headers)
        assert (undone.status_code, undone.json()["state"]) == (201, "unsent")
        assert client.post(f"/api/messages/{made['id']}/undo", headers=headers).status_code == 409
        late = client.post(f"/messages/{ours.id}/undo", data={"_csrf_token": token})
        assert "Too late to undo: the message has been sent" in late.text
        # Only a message taken back or left unsent is put on the form again, not one sent.
        sent_again = client.get(f"{page}?again={ours.id}").text
        assert f'id="write-subject" name="subject" value="{ours.subject}"' not in sent_again
        (entry,) = [
            e
            for e in client.get(f"/api/customers/{customer}", headers=headers).json()["timeline"]
            if e["id"] == ours.id
        ]
        assert (entry["agent"], entry["by"]) == ("Alice Byrne", "alice")
        with rt.factory() as session:
            taken_back = session.scalars(
                select(AuditEntry.detail).where(AuditEntry.action == "customer.write_undo")
            ).all()
        assert [d["message"] for d in taken_back] == [int(waiting), made["id"]]

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
