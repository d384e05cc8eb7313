"""Secrets and personal data stay out of the logs, even at DEBUG, with the shipped redaction.

One pass through everything that handles a secret or a contact: an IMAP poll and an SMTP send
that log in with passwords, a web login, API calls with a bearer token, and a customer message
full of email addresses and phone numbers. Logs go through configure_logging (JSON lines) as
in production, and every line is checked.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.config import Settings
from responder.db.models import Message
from responder.ops.logs import configure_logging
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.dovecot import PASSWORD as IMAP_PASSWORD
from tests.dovecot import Dovecot, dovecot
from tests.helpers import make_email, staff
from tests.smtp_server import PasswordAuthenticator, SmtpServer, start_smtp
from tests.test_imap_ingestion import mailbox_settings

__all__ = ["dovecot"]

STAFF_PASSWORD = "correct horse battery"
SMTP_PASSWORD = "smtp-relay-Secret-42"
CONTACTS = (
    "aoife.murphy@gmail.test",
    "aoife.private@home.test",
    "+353 87 123 4567",
    "087 765 4321",
    "0871112222",
)
BODY = (
    "Hi, I was charged 80 euro for roaming in Spain. Call me on +353 87 123 4567 or "
    "087 765 4321 (or my husband on 0871112222), or write to aoife.private@home.test."
)


@pytest.fixture
def smtp_with_auth() -> Iterator[SmtpServer]:
    server = start_smtp(
        authenticator=PasswordAuthenticator("responder", SMTP_PASSWORD), auth_require_tls=False
    )
    yield server
    server.stop()


@pytest.fixture
def settings(
    settings: Settings,
    dovecot: Dovecot,
    smtp_with_auth: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", IMAP_PASSWORD)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    settings.maildir.enabled = False
    settings.imap.mailboxes = [mailbox_settings(dovecot)]
    settings.outbound.transport = "smtp"
    settings.smtp.port = smtp_with_auth.port
    settings.smtp.security = "none"
    settings.smtp.username = "responder"
    settings.smtp.password_env = "TEST_SMTP_PASSWORD"
    settings.logging.format = "json"
    return settings


@pytest.fixture
def logged(settings: Settings) -> Iterator[io.StringIO]:
    """Production logging (JSON lines, shipped redaction) at DEBUG into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    # aiosmtpd is the test's mail server, not Responder: its own logs are not under test.
    server_log = logging.getLogger("mail.log")
    server_level = server_log.level
    server_log.setLevel(logging.CRITICAL)
    buffer = io.StringIO()
    configure_logging(settings.logging, level="DEBUG", stream=buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    server_log.setLevel(server_level)


def test_a_full_pass_logs_no_secret_and_no_contact(
    rt: Runtime,
    worker: Worker,
    dovecot: Dovecot,
    smtp_with_auth: SmtpServer,
    logged: io.StringIO,
) -> None:
    staff(rt, "alice")
    dovecot.append(make_email(body=BODY, message_id="<logs-1@mail.test>"))
    worker.drain()  # IMAP login with a password, parse, classify, draft
    with TestClient(create_app(rt)) as client:
        token = client.post("/api/login", json={"username": "alice", "password": STAFF_PASSWORD})
        token = token.json()["token"]
        wrong = client.post(
            "/api/login", json={"username": "alice", "password": "wrong " + STAFF_PASSWORD}
        )
        assert wrong.status_code == 401
        page = client.get("/login")
        match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert match is not None
        csrf = match.group(1)
        client.post(
            "/login",
            data={"username": "alice", "password": STAFF_PASSWORD, "_csrf_token": csrf},
            follow_redirects=False,
        )
        session_id = client.cookies.get("responder_session")
        assert session_id
        assert client.get("/queue").status_code == 200
        bearer = {"Authorization": f"Bearer {token}"}
        (item,) = client.get("/api/queue", headers=bearer).json()
        approved = client.post(f"/api/messages/{item['id']}/approve", json={}, headers=bearer)
        assert approved.status_code == 201, approved.text
    worker.drain()  # SMTP AUTH with a password, send
    assert len(smtp_with_auth.handler.received) == 1, "the reply was not sent"
    with rt.factory() as session:
        assert session.scalar(select(Message.state).where(Message.direction == "in")) == "sent"

    lines = logged.getvalue().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("-> sent" in e["event"] for e in events), "the pipeline logged nothing"
    text = "\n".join(lines)
    for secret in (STAFF_PASSWORD, SMTP_PASSWORD, IMAP_PASSWORD, token, session_id, csrf):
        assert secret not in text, f"a secret ({secret[:4]}...) appeared in the logs"
    for contact in CONTACTS:
        assert contact not in text, f"{contact} appeared in the logs"
        assert contact.replace(" ", "") not in text.replace(" ", "")
    assert "charged 80 euro" not in text, "a message body appeared in the logs"
