"""An agent sends a file with an email reply (a statement, a form to sign): picked on the
review page beside the draft, checked, approved in one step, and delivered over SMTP as a
multipart reply; limits and the channels that carry text only are refused with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import AuditEntry, Message, ReplyFile
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.reply_file_routes import FORM_BODY_LIMIT
from tests.browser_support import browser, log_in, on_sqlite_only
from tests.helpers import api_token, drop, make_email, staff
from tests.live_server import serve
from tests.smtp_server import SmtpServer, send_through, smtp_server
from tests.test_web_security import login

__all__ = ["smtp_server"]

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CSV = b"date,amount\n2026-11-02,84.20\n2026-11-09,12.50\n"


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    return send_through(settings, smtp_server, timeout=5.0)


def waiting_email(rt: Runtime, worker: Worker) -> int:
    staff(rt, "alice")
    drop(rt, make_email(), "files")
    worker.drain()
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.direction == "in")).one()


def form_of(page: str) -> dict[str, str]:
    return {
        "_csrf_token": re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1),
        "version": re.search(r'name="version" value="(\d+)"', page).group(1),
    }


def test_files_picked_beside_the_draft_go_out_with_the_reply(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    message_id = waiting_email(rt, worker)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert 'enctype="multipart/form-data"' in page and 'name="files"' in page
        saved = client.post(
            f"/messages/{message_id}/save",
            data={**form_of(page), "body": "Hello Aoife,\n\nYour statement is attached.\n"},
            files=[
                ("files", ("Statement Nov.pdf", PDF, "application/octet-stream")),
                ("files", ("../../charges.csv", CSV, "text/csv")),
            ],
        )
        assert "Draft saved." in saved.text
        page = client.get(f"/messages/{message_id}").text
        kept = dict(
            re.findall(r'name="keep_files" value="(\d+)" checked> <a [^>]+>([^<]+)</a>', page)
        )
        assert sorted(kept.values()) == ["Statement Nov.pdf", "charges.csv"]  # no folders
        pdf_id = next(i for i, name in kept.items() if name.endswith(".pdf"))
        assert "Your statement is attached." in page  # the saved text came back with them
        checked = client.get(f"/messages/{message_id}/reply-files/{pdf_id}")
        assert checked.content == PDF and checked.headers["content-type"] == "application/pdf"

        # Untick the CSV, approve: one step, the text as shown and the PDF.
        sent = client.post(
            f"/messages/{message_id}/approve",
            data={
                **form_of(page),
                "listed_files": list(kept),
                "keep_files": pdf_id,
                "body": "Hello Aoife,\n\nYour statement is attached.\n\nNorthwind Mobile",
            },
            files=[("files", ("", b"", "application/octet-stream"))],  # the field left empty
        )
        assert sent.status_code == 200
    worker.drain()

    (received,) = smtp_server.handler.received
    mail = received.message
    assert mail.get_content_type() == "multipart/mixed"
    # The words first, as text and as HTML, then the file.
    text, file = mail.iter_parts()
    assert text.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in text.iter_parts()] == ["text/plain", "text/html"]
    assert "Your statement is attached." in mail.get_body(("plain",)).get_content()
    assert "Your statement is attached." in mail.get_body(("html",)).get_content()
    assert file.get_filename() == "Statement Nov.pdf"
    (attached,) = list(mail.iter_attachments())
    assert attached.get_filename() == "Statement Nov.pdf"
    assert attached.get_content_type() == "application/pdf"  # its bytes say so
    assert attached.get_content() == PDF
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "sent"
        (row,) = session.scalars(select(ReplyFile)).all()  # the unticked CSV is gone
        assert row.outbox_id is not None
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert "reply.file_add" in actions and "reply.file_remove" in actions
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert re.search(r"Reply to [^<]+ with <a [^>]+>Statement Nov.pdf</a>: sent</p>", page)
        detail = client.get(f"/api/messages/{message_id}", headers=api_token(client)).json()
        assert [f["filename"] for f in detail["outbox"]["files"]] == ["Statement Nov.pdf"]
        assert detail["reply_files"] == []

    # The customer answers in the thread: the conversation shows what our reply carried.
    drop(
        rt,
        make_email(
            message_id="<m2@mail.test>",
            subject="Re: Roaming charges on my bill",
            body="Thanks, but the statement still shows the roaming charge.",
            headers={"In-Reply-To": mail["Message-ID"], "References": mail["Message-ID"]},
        ),
        "follow-up",
    )
    worker.drain()
    with rt.factory() as session:
        follow_up = session.scalars(
            select(Message.id).where(Message.direction == "in", Message.id != message_id)
        ).one()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{follow_up}").text
        earlier = page[page.index("<h2>Conversation</h2>") :]
        link = re.search(r'<a href="([^"]+)" download>Statement Nov.pdf</a>', earlier)
        assert link is not None
        assert client.get(link.group(1)).content == PDF


def test_too_much_is_refused_and_nothing_is_approved_or_kept(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    rt.settings.outbound.max_reply_files_bytes = 1_000
    message_id = waiting_email(rt, worker)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        forged = {**form_of(page), "_csrf_token": "0" * 64, "body": "Hello"}
        with_file = [("files", ("a.pdf", PDF, "application/pdf"))]
        assert (
            client.post(f"/messages/{message_id}/approve", data=forged, files=with_file).status_code
            == 403
        )  # multipart is checked for its token like any form
        refused = client.post(
            f"/messages/{message_id}/approve",
            data={**form_of(page), "body": "Hello, see the attached."},
            files=[("files", ("scan.pdf", PDF + b"\0" * 2_000, "application/pdf"))],
        )
        assert "The files were not attached: with scan.pdf the reply&#39;s files come to" in (
            refused.text
        )
        assert "one reply carries at most 1,000" in refused.text
        # Far over: refused before it is read, with the way back to the draft.
        huge = client.post(
            f"/messages/{message_id}/approve?intent=billing_dispute",
            data={**form_of(page), "body": "Hello"},
            files=[("files", ("scan.pdf", PDF, "application/pdf"))],
            headers={"content-length": str(FORM_BODY_LIMIT + 1)},  # as a browser says it
        )
        assert huge.status_code == 413 and "<h1>Files too large</h1>" in huge.text
        assert "One reply carries at most 1 kB of files in all" in huge.text
        back = f'<a href="/messages/{message_id}?intent=billing_dispute" id="back-link">'
        assert back + "Back to the draft</a>" in huge.text
    worker.drain()
    assert smtp_server.handler.received == []
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "in_review"
        assert session.scalars(select(ReplyFile)).all() == []


def test_the_api_adds_lists_and_removes_files_and_refuses_what_cannot_carry_them(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer
) -> None:
    message_id = waiting_email(rt, worker)
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "alice")
        schema = client.get("/schema/openapi.json", headers=auth).json()
        post = schema["paths"]["/api/messages/{message_id}/reply-files"]["post"]
        form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert form["properties"]["files"]["items"]["format"] == "binary", "documented for clients"
        drawn = client.get(f"/api/messages/{message_id}", headers=auth).json()["version"]
        url = f"/api/messages/{message_id}/reply-files"
        added = client.post(url, headers=auth, files=[("files", ("map.csv", CSV, "text/csv"))])
        assert added.status_code == 201, added.text
        (listed,) = added.json()
        assert (listed["filename"], listed["content_type"], listed["size"]) == (
            "map.csv",
            "text/csv",
            len(CSV),
        )
        empty = client.post(url, headers=auth, files=[("files", ("blank.txt", b"", "text/plain"))])
        assert empty.status_code == 422 and "blank.txt is empty" in empty.json()["detail"]
        assert client.post(url, headers=auth, data={"x": "1"}).status_code == 422
        # A page drawn before the file was added cannot approve without seeing it.
        stale = client.post(
            f"/api/messages/{message_id}/approve", headers=auth, json={"version": drawn}
        )
        assert stale.status_code == 409 and "changed since you opened it" in stale.text
        assert client.delete(f"{url}/{listed['id']}", headers=auth).json() == []
        assert client.delete(f"{url}/{listed['id']}", headers=auth).status_code == 404

        assert (
            client.post(
                f"/api/messages/{message_id}/reject", headers=auth, json={"reason": "duplicate"}
            ).status_code
            == 201
        )
        late = client.post(url, headers=auth, files=[("files", ("a.pdf", PDF, "application/pdf"))])
        assert late.status_code == 422
        assert "only while its draft waits for review" in late.json()["detail"]
        missing = client.post(
            "/api/messages/999999/reply-files",
            headers=auth,
            files=[("files", ("a.pdf", PDF, "application/pdf"))],
        )
        assert missing.status_code == 404


@on_sqlite_only
def test_a_file_chosen_in_the_browser_goes_out_with_the_reply_approved_by_keyboard(
    rt: Runtime, worker: Worker, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    message_id = waiting_email(rt, worker)
    statement = tmp_path / "Statement.pdf"
    statement.write_bytes(PDF)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", "correct horse battery")
        page.goto(f"{base}/messages/{message_id}")
        page.locator("#draft-body").fill("Hello Aoife,\n\nYour statement is attached.")
        page.locator('#reply-files input[name="files"]').set_input_files(str(statement))
        page.locator("#draft-body").press("Control+Enter")
        page.wait_for_url(lambda url: not url.endswith(f"/messages/{message_id}"))
    worker.drain()
    (received,) = smtp_server.handler.received
    assert "Your statement is attached." in received.message.get_body(("plain",)).get_content()
    (attached,) = list(received.message.iter_attachments())
    assert (attached.get_filename(), attached.get_content()) == ("Statement.pdf", PDF)
