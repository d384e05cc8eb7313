"""Small builders for test messages and a logged-in API client."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import format_datetime
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from responder.channels.maildir_source import deliver_to_maildir
from responder.cli import main
from responder.config import ConfigError, load_settings
from responder.customers import import_finish
from responder.db.models import Channel, ClassifierExample, StaffUser
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.users import add_user
from responder.web.session_cache import SessionCache


def make_email(
    *,
    sender: str = "Aoife Murphy <aoife.murphy@gmail.test>",
    subject: str = "Roaming charges on my bill",
    body: str = "Hi, I was charged 80 euro for roaming in Spain. I thought the EU was included?",
    message_id: str = "<m1@mail.test>",
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    date: str = "",
) -> bytes:
    """`attachments`: (file name, MIME type, content) each. Written now unless `date` (a Date
    header) says otherwise: mail written over a day before it arrives gets no automatic mail."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@northwind-mobile.test"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = date or format_datetime(datetime.now(UTC))
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, mime_type, content in attachments:
        maintype, _, subtype = mime_type.partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def drop(rt: Runtime, raw: bytes, name: str) -> Path:
    return deliver_to_maildir(rt.settings.path(rt.settings.maildir.path), raw, name)


def sent_replies(rt: Runtime) -> list[EmailMessage]:
    folder = rt.settings.path(rt.settings.outbound.sent_maildir) / "cur"
    if not folder.is_dir():
        return []
    return [
        BytesParser(policy=default).parsebytes(p.read_bytes())  # type: ignore[misc]
        for p in sorted(folder.iterdir())
    ]


def staff(rt: Runtime, username: str = "alice", role: str = "agent") -> None:
    with transaction(rt.factory) as session:
        add_user(session, username, "correct horse battery", role)


def staff_member(session: Session, username: str = "alice") -> StaffUser:
    """The account `staff` made, loaded in `session` (review actions take the acting user)."""
    return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def api_token(client: TestClient, username: str = "alice") -> dict[str, str]:
    response = client.post(
        "/api/login", json={"username": username, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def run_cli(rt: Runtime, project: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`responder ARGS` on the test's project and database; its output, once it exits 0."""
    os.environ["RESPONDER_DATABASE__URL"] = rt.settings.database.url
    try:
        assert main(["--config", str(project / "config.toml"), *args]) == 0
    finally:
        del os.environ["RESPONDER_DATABASE__URL"]
    return capsys.readouterr().out


def auto_send_every_intent(rt: Runtime) -> None:
    """The demo mailbox sends every draft without review (confidence 0 for each intent)."""
    with transaction(rt.factory) as session:
        channel = session.scalar(select(Channel).where(Channel.name == rt.settings.maildir.name))
        assert channel is not None
        labels = session.scalars(
            select(ClassifierExample.label).where(ClassifierExample.classifier == "intent")
        )
        channel.auto_send = dict.fromkeys(labels, 0.0)


def start_up_refusal(tmp_path: Path, section: str, setting: str) -> str:
    """Why start-up refuses a config file holding only `setting` in `[section]`."""
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{setting}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    return str(raised.value)


def refuse_plan(rt: Runtime, plan: str) -> None:
    """A trigger that makes the database refuse a customer with this plan, as a constraint the
    importer cannot know of would: what a batch the database refuses does to an import."""
    with transaction(rt.factory) as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(
                text(
                    "CREATE TRIGGER refuse_plan BEFORE INSERT ON customers "
                    f"WHEN NEW.plan = '{plan}' BEGIN SELECT RAISE(ABORT, 'plan refused'); END"
                )
            )
            return
        session.execute(
            text(
                "CREATE FUNCTION refuse_plan() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.plan = '{plan}' THEN RAISE EXCEPTION 'plan refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER refuse_plan BEFORE INSERT ON customers "
                "FOR EACH ROW EXECUTE FUNCTION refuse_plan()"
            )
        )


def lose_database_at_import_audit(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, times: int | None = None
) -> None:
    """The database fails an import's last step, its audit entry, after every batch is in:
    PostgreSQL drops the connection (the backend ends itself, as a restart or failover would).
    SQLite cannot lose one: it refuses the entry, or with `times` a function the trigger calls
    fails, which the driver reports as it would a lost database (OperationalError). `times`:
    only the first so many attempts fail (None: every one). The waits between the step's
    retries are shortened so the test stays quick."""
    monkeypatch.setattr(import_finish, "RETRY_SECONDS", (0.01, 0.01, 0.01))
    sqlite = rt.engine.dialect.name == "sqlite"
    if sqlite and times is not None:
        _sqlite_function_failing(rt, "lose_import_audit", times)
    with transaction(rt.factory) as session:
        if sqlite:
            body = (
                "SELECT RAISE(ABORT, 'audit entry refused')"
                if times is None
                else "SELECT lose_import_audit()"
            )
            session.execute(
                text(
                    "CREATE TRIGGER lose_import_audit BEFORE INSERT ON audit_log "
                    f"WHEN NEW.action LIKE 'import.%' BEGIN {body}; END"
                )
            )
            return
        session.execute(text("CREATE SEQUENCE lose_import_audit_attempts"))
        first = "" if times is None else f"AND nextval('lose_import_audit_attempts') <= {times} "
        session.execute(
            text(
                "CREATE FUNCTION lose_import_audit() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.action LIKE 'import.%' {first}THEN "
                "PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER lose_import_audit BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION lose_import_audit()"
            )
        )


def _sqlite_function_failing(rt: Runtime, name: str, times: int) -> None:
    """A SQL function `name()` that raises its first `times` calls, on every connection: the
    pool is emptied so each connection is opened again with it."""
    calls = [0]

    def fail() -> int:
        calls[0] += 1
        if calls[0] <= times:
            raise RuntimeError("connection lost")
        return 0

    event.listen(rt.engine, "connect", lambda dbapi, _record: dbapi.create_function(name, 0, fail))
    rt.engine.dispose()


# -- web processes hearing of a change made in another (PostgreSQL's session cache) --------------

WAIT_SECONDS = 15.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


def cache_of(client: TestClient) -> SessionCache:
    return client.app.state.sessions


def ready(rt: Runtime, *clients: TestClient) -> None:
    """On PostgreSQL each process's listener is heard before the test goes on."""
    if rt.engine.dialect.name == "postgresql":
        for client in clients:
            wait_for(cache_of(client).listening, "the session listener to connect")


@contextmanager
def heard_by(rt: Runtime, client: TestClient) -> Iterator[None]:
    """Wraps a change made elsewhere: on PostgreSQL, returns once `client`'s process has heard
    of it (its cache forgot); on SQLite there is nothing to hear."""
    before = cache_of(client).generation
    yield
    if rt.engine.dialect.name == "postgresql":
        wait_for(lambda: cache_of(client).generation > before, "the change's notification")


def bounce_of(reply: bytes, recipient: str, answer: str, name: str) -> bytes:
    """A delivery status notification, as a receiving server returns `reply` days later:
    the reply's headers enclosed, `recipient` failed with `answer`."""
    headers = reply.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()
    status = answer.split()[1]
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.home.test>
To: support@northwind-mobile.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <{name}@mx.home.test>
Return-Path: <>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered to {recipient}.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.home.test

Final-Recipient: rfc822; {recipient}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {answer}
--b
Content-Type: text/rfc822-headers

{headers}
--b--
""".encode()
