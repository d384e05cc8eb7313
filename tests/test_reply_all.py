"""A reply goes to everyone the customer wrote to or copied (their colleague, their accounts
department), never to our own mailboxes; staff can leave anyone off before approving, and one left
off in a saved draft stays listed, unticked, to be ticked again."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import AuditEntry, Message
from responder.mail.compose import MAX_REPLY_CC, reply_all_cc
from responder.mail.parse import parse_email
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_reply_files import form_of
from tests.test_web_security import login

__all__ = ["smtp_server"]

OURS = frozenset({"support@northwind-mobile.test", "billing@northwind-mobile.test"})


def office_email(cc: str, reply_to: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Declan Brennan <declan.brennan@brennanlogistics.test>"
    msg["To"] = "Support <SUPPORT@northwind-mobile.test>, Niamh Walsh <niamh@brennanlogistics.test>"
    msg["Cc"] = cc
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = "Five lines, one bill too many"
    msg["Message-ID"] = "<office@brennanlogistics.test>"
    msg.set_content("We were billed twice for the depot lines this month. Please fix it.")
    return msg.as_bytes()


def test_reply_all_copies_the_other_people_and_never_us() -> None:
    parsed = parse_email(
        office_email(
            "accounts@brennanlogistics.test, billing@northwind-mobile.test, "
            "declan.brennan@brennanlogistics.test, Niamh <NIAMH@brennanlogistics.test>"
        )
    )
    copied = [(a.name, a.address) for a in reply_all_cc(parsed, OURS)]
    assert copied == [
        ("Niamh Walsh", "niamh@brennanlogistics.test"),
        ("", "accounts@brennanlogistics.test"),
    ]
    # With Reply-To, the reply goes there, and the writer is not copied twice over.
    redirected = parse_email(office_email("", reply_to="office@brennanlogistics.test"))
    assert [a.address for a in reply_all_cc(redirected, OURS)] == ["niamh@brennanlogistics.test"]
    broken = parse_email(
        b"From: Ann <ann@b.test>\r\nTo: support@northwind-mobile.test, broken@, "
        b"undisclosed-recipients:;\r\nCc: ok@b.test, <no at sign>\r\nSubject: x\r\n"
        b"Message-ID: <broken@b.test>\r\n\r\nHello\r\n"
    )
    assert [a.address for a in reply_all_cc(broken, OURS)] == ["ok@b.test"]
    crowd = ", ".join(f"person{n}@example.test" for n in range(MAX_REPLY_CC + 1))
    assert reply_all_cc(parse_email(office_email(crowd)), OURS) == ()  # a mailing, not a talk


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return send_through(settings, smtp_server, timeout=5.0)


def test_the_reply_copies_everyone_unless_staff_untick_them(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    staff(rt, "alice")
    drop(rt, office_email("Accounts <accounts@brennanlogistics.test>"), "office")
    drop(
        rt,
        make_email(message_id="<m2@mail.test>", headers={"Cc": "sis@family.test"}),
        "family",
    )
    worker.drain()
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.subject, Message.id)).all())
    office, family = ids["Five lines, one bill too many"], ids["Roaming charges on my bill"]
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{office}").text
        listed = re.findall(r'name="keep_cc" value="([^"]+)" checked>', page)
        assert listed == ["niamh@brennanlogistics.test", "accounts@brennanlogistics.test"]
        assert "To: Declan Brennan &lt;declan.brennan@brennanlogistics.test&gt;" in page
        assert "The customer's message is quoted below your reply when it is sent." in page
        body = "Hello Declan,\n\nThe second charge is refunded.\n"
        niamh, accounts = listed
        # Unticked and saved, accounts stays listed, unticked, and can be ticked again.
        saved = client.post(
            f"/messages/{office}/save",
            data={**form_of(page), "body": body, "listed_cc": listed, "keep_cc": niamh},
        )
        assert "Draft saved." in saved.text
        assert re.findall(r'name="keep_cc" value="([^"]+)" checked>', saved.text) == [niamh]
        left_off = (
            f'name="listed_cc_off" value="{accounts}">'
            f'<input type="checkbox" name="keep_cc" value="{accounts}"> Accounts &lt;{accounts}&gt;'
        )
        assert left_off in saved.text
        ticked_again = client.post(
            f"/messages/{office}/save",
            data={
                **form_of(saved.text),
                "body": body,
                "listed_cc": niamh,
                "listed_cc_off": accounts,
                "keep_cc": [niamh, accounts],
            },
        )
        assert re.findall(r'name="keep_cc" value="([^"]+)" checked>', ticked_again.text) == listed
        page = ticked_again.text
        client.post(
            f"/messages/{office}/approve",
            data={**form_of(page), "body": body, "listed_cc": listed, "keep_cc": niamh},
        )
        approved = client.post(
            f"/api/messages/{family}/approve", headers=api_token(client), json={}
        )
        assert approved.status_code == 201, approved.text
    worker.drain()

    by_subject = {r.message["Subject"]: r for r in smtp_server.handler.received}
    office_reply = by_subject["Re: Five lines, one bill too many"]
    assert sorted(office_reply.rcpt_tos) == [
        "declan.brennan@brennanlogistics.test",
        "niamh@brennanlogistics.test",
    ]
    assert office_reply.message["Cc"] == "Niamh Walsh <niamh@brennanlogistics.test>"
    assert "accounts@" not in office_reply.raw.decode()
    family_reply = by_subject["Re: Roaming charges on my bill"]
    assert family_reply.rcpt_tos == ["aoife.murphy@gmail.test", "sis@family.test"]
    assert family_reply.message["Cc"] == "sis@family.test"
    with rt.factory() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(["reply.cc_remove", "reply.cc_restore"]))
            .order_by(AuditEntry.id)
        ).all()
    assert [(e.action, e.detail["cc"]) for e in entries] == [
        ("reply.cc_remove", ["accounts@brennanlogistics.test"]),
        ("reply.cc_restore", ["accounts@brennanlogistics.test"]),
        ("reply.cc_remove", ["accounts@brennanlogistics.test"]),
    ]
