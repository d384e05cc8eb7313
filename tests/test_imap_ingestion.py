"""IMAP ingestion against a real Dovecot (started per test) and replies through a real aiosmtpd.

Waiting is on events and bounded polling loops, never on fixed sleeps.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from responder.bootstrap import imap_pollers
from responder.channels.imap import FolderPoller
from responder.channels.imap_state import parse_key
from responder.config import ImapMailboxSettings, Settings
from responder.db.models import ImapFlagJob, ImapFolder, Message, OutboxItem
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from tests.dovecot import PASSWORD, USER, Dovecot, dovecot
from tests.helpers import make_email
from tests.smtp_server import SmtpServer, smtp_server
from tests.test_crash_recovery import approve_waiting

__all__ = ["dovecot", "smtp_server"]

WAIT_SECONDS = 30.0


def mailbox_settings(server: Dovecot, folders: list[str] | None = None) -> ImapMailboxSettings:
    return ImapMailboxSettings(
        name="imap-support",
        host="127.0.0.1",
        port=server.port,
        security="none",
        user=USER,
        password_env="TEST_IMAP_PASSWORD",
        folders=folders or ["INBOX"],
        address="support@northwind-mobile.test",
    )


@pytest.fixture
def settings(
    settings: Settings,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)
    settings.maildir.enabled = False
    settings.imap.mailboxes = [mailbox_settings(dovecot)]
    settings.imap.reconnect_base_seconds = 0.05
    settings.imap.reconnect_max_seconds = 0.5
    settings.imap.timeout_seconds = 10.0
    settings.outbound.transport = "smtp"
    settings.smtp.port = smtp_server.port
    settings.smtp.security = "none"
    return settings


def email(n: int, **kwargs: object) -> bytes:
    return make_email(
        message_id=f"<imap-{n}@mail.test>",
        subject=f"Roaming charges on my bill, case {n}",
        **kwargs,  # type: ignore[arg-type]
    )


def inbound(rt: Runtime) -> list[Message]:
    with rt.factory() as session:
        return list(
            session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))
        )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.05)


def flags_by_message_id(server: Dovecot, folder: str = "INBOX") -> dict[str, set[bytes]]:
    with server.client() as client:
        client.select_folder(folder, readonly=True)
        data = client.fetch(client.search(), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    found = {}
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
        found[header] = set(item[b"FLAGS"])
    return found


def test_appended_mail_is_drafted_answered_and_flagged(
    rt: Runtime, worker: Worker, dovecot: Dovecot, smtp_server: SmtpServer
) -> None:
    dovecot.append(email(1))
    dovecot.append(email(2, headers={"References": "<earlier@mail.test>"}), flags=(b"\\Seen",))
    worker.drain()
    assert state_counts(rt)["in_review"] == 2
    assert all(parse_key(m.external_key) for m in inbound(rt))
    flags = flags_by_message_id(dovecot)
    assert b"\\Seen" not in flags["<imap-1@mail.test>"], "fetching must not mark mail read"
    assert b"\\Answered" not in flags["<imap-1@mail.test>"]

    worker.drain()  # nothing new: `UID n:*` returns the last message again, which is dropped
    assert len(inbound(rt)) == 2

    approve_waiting(rt)
    worker.drain()
    assert state_counts(rt)["sent"] == 2
    with rt.factory() as session:
        outbox = {o.message_id: o for o in session.scalars(select(OutboxItem))}
    replies = {r.message["In-Reply-To"]: r.message for r in smtp_server.handler.received}
    assert set(replies) == {"<imap-1@mail.test>", "<imap-2@mail.test>"}
    second = replies["<imap-2@mail.test>"]
    assert second["References"].split() == ["<earlier@mail.test>", "<imap-2@mail.test>"]
    assert second["Subject"] == "Re: Roaming charges on my bill, case 2"
    message_two = next(m for m in inbound(rt) if m.message_id_header == "<imap-2@mail.test>")
    assert second["Message-ID"] == outbox[message_two.id].message_id_header

    worker.poll_sources()  # the next round applies the flags the send recorded
    flags = flags_by_message_id(dovecot)
    assert b"\\Answered" in flags["<imap-1@mail.test>"]
    assert b"\\Answered" in flags["<imap-2@mail.test>"]
    assert b"\\Seen" not in flags["<imap-1@mail.test>"]
    assert b"\\Seen" in flags["<imap-2@mail.test>"]
    with rt.factory() as session:
        assert session.scalar(select(func.count(ImapFlagJob.id))) == 0


@pytest.fixture
def watcher(rt: Runtime) -> Iterator[tuple[FolderPoller, threading.Event]]:
    (poller,) = imap_pollers(rt)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    yield poller, stop
    stop.set()
    thread.join(timeout=WAIT_SECONDS)
    assert not thread.is_alive()


def test_restart_during_idle_backfills_each_message_exactly_once(
    rt: Runtime, dovecot: Dovecot, watcher: tuple[FolderPoller, threading.Event]
) -> None:
    poller, _ = watcher
    dovecot.append(email(1))
    wait_until(lambda: len(inbound(rt)) == 1, "the first message")
    assert poller.idling.wait(WAIT_SECONDS)

    dovecot.append(email(2))  # IDLE reports it
    wait_until(lambda: len(inbound(rt)) == 2, "the message IDLE reported")
    assert poller.idling.wait(WAIT_SECONDS)

    dovecot.stop()
    wait_until(lambda: not poller.idling.is_set(), "the poller to notice the server went away")
    dovecot.deliver_offline(email(3), "three")
    dovecot.deliver_offline(email(4), "four")
    dovecot.start()
    wait_until(lambda: len(inbound(rt)) == 4, "the backfill after the restart")
    assert poller.idling.wait(WAIT_SECONDS)
    dovecot.append(email(5))
    wait_until(lambda: len(inbound(rt)) == 5, "a message after the restart")

    messages = inbound(rt)
    assert sorted(m.message_id_header for m in messages) == [
        f"<imap-{n}@mail.test>" for n in range(1, 6)
    ]
    assert len({m.external_key for m in messages}) == 5
    with rt.factory() as session:
        folder = session.scalar(select(ImapFolder))
        assert folder is not None and folder.last_uid == 5
        assert folder.lease_owner == poller.state.owner


def test_uidvalidity_change_resyncs_without_duplicates(
    rt: Runtime, dovecot: Dovecot, worker: Worker
) -> None:
    (inbox,) = imap_pollers(rt)
    mailbox = mailbox_settings(dovecot, ["Support"])
    poller = FolderPoller(rt.factory, mailbox, rt.settings.imap, inbox.state.channel_id, "Support")
    dovecot.append(email(1), folder="Support")
    dovecot.append(email(2), folder="Support")
    assert poller.poll() == 2
    before = poller.state.checkpoint()

    poller.close()
    with dovecot.client() as client:  # the folder is rebuilt: new UIDVALIDITY, UIDs from 1
        client.delete_folder("Support")
        client.create_folder("Support")
    dovecot.append(email(2), folder="Support")
    dovecot.append(email(3), folder="Support")
    dovecot.append(email(1), folder="Support")
    assert poller.poll() == 1
    after = poller.state.checkpoint()
    assert after.uidvalidity != before.uidvalidity
    assert after.last_uid == 3
    assert sorted(m.message_id_header for m in inbound(rt)) == [
        "<imap-1@mail.test>",
        "<imap-2@mail.test>",
        "<imap-3@mail.test>",
    ]
    assert poller.poll() == 0


def test_one_poller_per_folder_at_a_time(rt: Runtime, dovecot: Dovecot) -> None:
    (first,) = imap_pollers(rt)
    (second,) = imap_pollers(rt)
    dovecot.append(email(1))
    assert first.poll() == 1
    dovecot.append(email(2))
    assert second.poll() == 0, "the first poller's lease keeps the second out"
    assert len(inbound(rt)) == 1
    first.state.release()
    assert second.poll() == 1
    assert first.poll() == 0
    assert len(inbound(rt)) == 2


def test_idle_is_reissued_and_still_reports_new_mail(
    rt: Runtime, dovecot: Dovecot, watcher: tuple[FolderPoller, threading.Event]
) -> None:
    poller, _ = watcher
    poller.imap.idle_seconds = 0.3  # the real default re-issues every 5 minutes
    wait_until(lambda: poller.idle_count >= 3, "IDLE to be re-issued")
    dovecot.append(email(1))
    wait_until(lambda: len(inbound(rt)) == 1, "the message after re-issued IDLEs")


def test_server_without_idle_is_polled(rt: Runtime) -> None:
    from tests.dovecot import start_dovecot

    server = start_dovecot("imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS\n")
    try:
        (inbox,) = imap_pollers(rt)
        rt.settings.imap.poll_seconds = 0.1
        poller = FolderPoller(
            rt.factory, mailbox_settings(server), rt.settings.imap, inbox.state.channel_id, "INBOX"
        )
        stop = threading.Event()
        thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
        thread.start()
        try:
            server.append(email(1))
            wait_until(lambda: len(inbound(rt)) == 1, "the first poll")
            server.append(email(2))
            wait_until(lambda: len(inbound(rt)) == 2, "a later poll")
            assert not poller.can_idle and poller.idle_count == 0
        finally:
            stop.set()
            thread.join(timeout=WAIT_SECONDS)
    finally:
        server.cleanup()


def test_starttls_verifies_the_server_with_the_configured_ca(rt: Runtime) -> None:
    from tests.dovecot import start_dovecot
    from tests.smtp_server import self_signed_certificate

    cert = self_signed_certificate()
    server = start_dovecot(f"ssl = yes\nssl_cert = <{cert.cert}\nssl_key = <{cert.key}\n")
    try:
        (inbox,) = imap_pollers(rt)
        mailbox = mailbox_settings(server)
        mailbox.security = "starttls"
        mailbox.ca_file = str(cert.cert)
        poller = FolderPoller(
            rt.factory, mailbox, rt.settings.imap, inbox.state.channel_id, "INBOX"
        )
        server.append(email(1))
        assert poller.poll() == 1
        assert poller.client is not None and isinstance(poller.client.socket(), ssl.SSLSocket)
        poller.close()
        poller.state.release()

        mailbox.ca_file = ""  # the system CAs do not know this certificate: nothing is fetched
        untrusted = FolderPoller(
            rt.factory, mailbox, rt.settings.imap, inbox.state.channel_id, "INBOX"
        )
        server.append(email(2))
        assert untrusted.poll() == 0
        assert untrusted.client is None and len(inbound(rt)) == 1
    finally:
        server.cleanup()


def record_answered_for(rt: Runtime, message_id_header: str) -> None:
    from responder.channels.imap_state import record_answered
    from responder.db.session import transaction

    with transaction(rt.factory) as session:
        message = session.scalar(
            select(Message).where(Message.message_id_header == message_id_header)
        )
        assert message is not None
        record_answered(session, message)


def test_flag_job_survives_a_crash_after_the_store(
    rt: Runtime, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from responder.channels.imap_state import FolderState

    (poller,) = imap_pollers(rt)
    dovecot.append(email(1))
    assert poller.poll() == 1
    record_answered_for(rt, "<imap-1@mail.test>")

    def crash(self: FolderState, job_id: int) -> None:
        raise RuntimeError("process died after STORE, before the job was deleted")

    monkeypatch.setattr(FolderState, "flag_done", crash)
    with pytest.raises(RuntimeError):
        poller.poll()
    monkeypatch.undo()
    poller.poll()  # the job is still there: STORE again (idempotent), then it is done
    assert b"\\Answered" in flags_by_message_id(dovecot)["<imap-1@mail.test>"]
    with rt.factory() as session:
        assert session.scalar(select(func.count(ImapFlagJob.id))) == 0


def test_flag_after_uidvalidity_change_finds_the_message_by_message_id(
    rt: Runtime, dovecot: Dovecot
) -> None:
    (poller,) = imap_pollers(rt)
    dovecot.append(email(1))
    assert poller.poll() == 1
    before = poller.state.checkpoint().uidvalidity
    poller.close()
    with dovecot.client() as client:
        client.select_folder("INBOX")
        client.delete_messages(client.search())
        client.expunge()
    (dovecot.home / "Maildir" / "dovecot-uidlist").unlink()  # lost index: new UIDVALIDITY
    for index in (dovecot.home / "Maildir").glob("dovecot.index*"):
        index.unlink()
    dovecot.append(email(0))
    dovecot.append(email(1))
    record_answered_for(rt, "<imap-1@mail.test>")
    assert poller.poll() == 1  # imap-0 is new; imap-1 is known by its Message-ID
    assert poller.state.checkpoint().uidvalidity != before
    flags = flags_by_message_id(dovecot)
    assert b"\\Answered" in flags["<imap-1@mail.test>"]
    assert b"\\Answered" not in flags["<imap-0@mail.test>"]


def test_mail_arriving_between_search_and_idle_is_not_missed(
    rt: Runtime, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server reports such mail only when the IDLE ends: the short first IDLE catches it."""
    original = FolderPoller.sync
    appended: list[int] = []

    def sync_then_append(self: FolderPoller) -> int:
        stored = original(self)
        if not appended:
            appended.append(1)
            dovecot.append(email(1))  # after the UID SEARCH, before the IDLE command
        return stored

    monkeypatch.setattr(FolderPoller, "sync", sync_then_append)
    (poller,) = imap_pollers(rt)
    assert poller.imap.idle_seconds >= 300, "the long IDLE alone would not end in time"
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(inbound(rt)) == 1, "mail that arrived just before IDLE")
    finally:
        stop.set()
        thread.join(timeout=WAIT_SECONDS)


def test_first_sync_fetches_only_the_last_days_and_moves_past_the_rest(
    rt: Runtime, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    """Connecting a mailbox with years of history: only mail of the last `first_sync_days`
    (by the server's arrival date) is fetched; the checkpoint moves past the older mail, even
    one copied in last (a high UID, an old date), and the count left on the server is logged."""
    caplog.set_level(logging.INFO, logger="responder.channels.imap")
    years_ago = datetime.now(UTC) - timedelta(days=800)
    dovecot.append(email(1), arrived=years_ago)
    dovecot.append(email(2), arrived=datetime.now(UTC) - timedelta(days=30))
    dovecot.append(email(3))
    dovecot.append(email(4), arrived=years_ago)  # copied in from an old archive
    (poller,) = imap_pollers(rt)
    assert poller.imap.first_sync_days == 7
    assert poller.poll() == 1
    assert [m.message_id_header for m in inbound(rt)] == ["<imap-3@mail.test>"]
    assert poller.state.checkpoint().last_uid == 4
    said = [r.getMessage() for r in caplog.records if "first sync" in r.getMessage()]
    assert len(said) == 1 and "1 message(s) since" in said[0]
    assert "3 older left on the server ([imap] first_sync_days = 7)" in said[0]

    dovecot.append(email(5), arrived=years_ago)  # after the first sync, all new mail counts
    assert poller.poll() == 1
    assert [m.message_id_header for m in inbound(rt)][-1] == "<imap-5@mail.test>"


def test_first_sync_days_0_reads_only_mail_arriving_from_now_on(
    rt: Runtime, dovecot: Dovecot
) -> None:
    rt.settings.imap.first_sync_days = 0
    (inbox,) = imap_pollers(rt)
    dovecot.append(email(1))
    dovecot.append(email(2))
    assert inbox.poll() == 0
    assert inbox.state.checkpoint().last_uid == 2
    dovecot.append(email(3))
    assert inbox.poll() == 1

    support = FolderPoller(
        rt.factory,
        mailbox_settings(dovecot, ["Support"]),
        rt.settings.imap,
        inbox.state.channel_id,
        "Support",
    )
    with dovecot.client() as client:
        client.create_folder("Support")
    assert support.poll() == 0, "an empty folder's first sync"
    dovecot.append(email(4), folder="Support")
    assert support.poll() == 1, "mail after an empty first sync is new mail"
    assert [m.message_id_header for m in inbound(rt)] == [
        "<imap-3@mail.test>",
        "<imap-4@mail.test>",
    ]
