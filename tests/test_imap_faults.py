"""Faults of the server during a poll: Dovecot stopped between two fetched batches and
started again, and messages the server will not return.

The IDLE case is in tests/test_imap_ingestion.py; this is the worker loop's `poll()`: the batch
committed before the stop is kept, the poll backs off instead of failing the worker, and the
next poll after the restart fetches the rest, each message exactly once. A message the server
refuses is kept as a quarantined row that says so, and the folder goes on.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from litestar.testing import TestClient
from sqlalchemy import func, select, text, update

from responder.bootstrap import imap_pollers
from responder.channels.imap import FolderPoller
from responder.channels.imap_state import ImapKey, parse_key
from responder.db.models import AuditEntry, ImapFlagJob, ImapFolder, Message
from responder.db.session import transaction
from responder.pipeline.worker import Worker, state_counts
from responder.review import AlreadyHandled, retry
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.dovecot import Dovecot, dovecot, start_dovecot
from tests.helpers import api_token, staff
from tests.smtp_server import smtp_server
from tests.test_imap_ingestion import (
    WAIT_SECONDS,
    email,
    flags_by_message_id,
    inbound,
    mailbox_settings,
    record_answered_for,
    settings,
    wait_until,
)
from tests.test_web_security import login

__all__ = ["dovecot", "settings", "smtp_server"]


def server_stops_after_a_batch(
    poller: FolderPoller, dovecot: Dovecot, when: Callable[[], bool] = lambda: True
) -> Callable[..., int]:
    """The real server goes away once a batch is stored and `when` holds (the first such
    batch only); the poller's own store, to put back."""
    store = poller.state.store
    stopped: list[bool] = []

    def store_then_server_stops(*args: object) -> int:
        stored = store(*args)  # type: ignore[arg-type]
        if not stopped and when():
            stopped.append(True)
            dovecot.stop()
        return stored

    poller.state.store = store_then_server_stops  # type: ignore[method-assign]
    return store


def test_server_stopped_mid_poll_backfills_each_message_once(rt: Runtime, dovecot: Dovecot) -> None:
    rt.settings.imap.fetch_batch = 2
    (poller,) = imap_pollers(rt)
    for n in range(1, 6):
        dovecot.append(email(n))
    server_stops_after_a_batch(poller, dovecot)  # between two FETCHes of one poll
    assert poller.poll() == 0  # the connection error is backed off, not raised
    assert [m.message_id_header for m in inbound(rt)] == [
        "<imap-1@mail.test>",
        "<imap-2@mail.test>",
    ]

    dovecot.deliver_offline(email(6), "six")
    dovecot.start()
    wait_until(lambda: poller.poll() >= 0 and len(inbound(rt)) == 6, "the rest after the restart")
    assert poller.poll() == 0

    messages = inbound(rt)
    assert sorted(m.message_id_header for m in messages) == sorted(
        f"<imap-{n}@mail.test>" for n in range(1, 7)
    )
    assert len({m.external_key for m in messages}) == 6
    with rt.factory() as session:
        folder = session.scalar(select(ImapFolder))
        assert folder is not None and folder.last_uid == 6


def problem_rows(rt: Runtime) -> dict[str, str]:
    """Needs attention's rows (message id: row text), as a person sees them."""
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/problems").text
    return dict(re.findall(r'<tr id="problem-(\d+)">(.*?)</tr>', page, re.S))


def test_a_message_the_server_will_not_return_is_quarantined_and_the_rest_stored(
    rt: Runtime, worker: Worker, dovecot: Dovecot
) -> None:
    """Dovecot answers "FETCH failed" and hangs up when it cannot read a message's file: the
    batch is fetched one message at a time, that one is kept as a quarantined row saying so,
    the checkpoint moves past it and later mail keeps coming in. Retry fetches it again."""
    staff(rt)
    (poller,) = imap_pollers(rt)
    for n in range(1, 4):
        dovecot.append(email(n))
    dovecot.message_file(2).chmod(0)  # the server cannot read its own file: its fault
    assert poller.poll() == 3
    dovecot.append(email(4))
    assert poller.poll() == 1, "the folder is not stuck on the message"
    assert poller.state.checkpoint().last_uid == 4

    messages = inbound(rt)
    assert [m.message_id_header for m in messages] == [
        "<imap-1@mail.test>",
        None,
        "<imap-3@mail.test>",
        "<imap-4@mail.test>",
    ]
    lost = messages[1]
    assert lost.state == "quarantined" and lost.raw_size == 0
    assert lost.state_reason.startswith("the IMAP server would not return UID 2 in INBOX: ")
    assert "Internal error occurred" in lost.state_reason, "the server's own answer"
    row = problem_rows(rt)[str(lost.id)]
    assert "the IMAP server would not return UID 2 in INBOX" in row
    worker.drain()
    assert state_counts(rt)["in_review"] == 3

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{lost.id}").text
        assert "Retry asks the server for it again, by its number in the folder" in page
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        retried = client.post(f"/messages/{lost.id}/retry", data={"_csrf_token": token})
        assert "Asked the mail server for it again on the mailbox&#39;s next check" in retried.text
    dovecot.message_file(2).chmod(0o600)  # repaired on the server (Dovecot may have moved it)
    assert poller.poll() == 1
    worker.drain()
    with rt.factory() as session:
        found = session.get(Message, lost.id)
        assert found is not None and found.message_id_header == "<imap-2@mail.test>"
        assert found.state == "in_review", found.state_reason


def ignored_rows(rt: Runtime) -> dict[str, str]:
    """Ignored mail's rows (message id: row text), as a person sees them."""
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/ignored").text
    return dict(re.findall(r'<tr id="ignored-(\d+)">(.*?)</tr>', page, re.S))


def unfetchable_audit(rt: Runtime, message_id: int) -> list[AuditEntry]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "message.unfetchable",
                    AuditEntry.object_id == str(message_id),
                )
            )
        )


def fetch_jobs(rt: Runtime) -> int:
    with rt.factory() as session:
        return session.scalar(select(func.count(ImapFlagJob.id))) or 0


def test_retry_of_a_message_deleted_on_the_server_ends_ignored_with_the_reason(
    rt: Runtime, dovecot: Dovecot
) -> None:
    """Retry asks the poller for the UID again, but someone deleted the message on the server
    meanwhile: the job ends (it is not tried round after round) and the message leaves Needs
    attention for Ignored mail, saying why, audited."""
    staff(rt)
    (poller,) = imap_pollers(rt)
    dovecot.append(email(1))
    dovecot.append(email(2))
    dovecot.message_file(1).chmod(0)
    assert poller.poll() == 2
    lost = inbound(rt)[0]
    assert lost.state == "quarantined" and lost.raw_size == 0
    was = lost.state_reason
    assert str(lost.id) in problem_rows(rt)

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{lost.id}").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        retried = client.post(f"/messages/{lost.id}/retry", data={"_csrf_token": token})
        assert "Asked the mail server for it again" in retried.text
    assert fetch_jobs(rt) == 1
    with dovecot.client() as imap:  # deleted in a mail client meanwhile
        imap.select_folder("INBOX")
        imap.delete_messages([1])
        imap.expunge()

    assert poller.poll() == 0
    assert fetch_jobs(rt) == 0, "the job ends: it is not tried again every round"
    with rt.factory() as session:
        found = session.get(Message, lost.id)
        assert found is not None and found.state == "ignored"
        assert found.state_reason == (
            "the mail server no longer holds this message as it was stored: UID 1 is no longer "
            "in INBOX (deleted or moved on the server), so it cannot be fetched again; none of "
            "it was fetched"
        )
    assert str(lost.id) not in problem_rows(rt)
    assert (
        "UID 1 is no longer in INBOX (deleted or moved on the server)"
        in ignored_rows(rt)[str(lost.id)]
    )
    (entry,) = unfetchable_audit(rt, lost.id)
    assert entry.actor == "system" and entry.detail["was"] == was
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{lost.id}").text
        assert 'id="gone-help"' in page and 'id="draft-anyway"' not in page
    assert poller.poll() == 0
    assert [m.state for m in inbound(rt)] == ["ignored", "received"]


def support_poller(rt: Runtime, dovecot: Dovecot) -> FolderPoller:
    """A poller of the mailbox's "Support" folder, which tests rebuild (renumber)."""
    (inbox,) = imap_pollers(rt)
    return FolderPoller(
        rt.factory,
        mailbox_settings(dovecot, ["Support"]),
        rt.settings.imap,
        inbox.state.channel_id,
        "Support",
        pipeline=rt.settings.pipeline,
    )


def rebuild_support(dovecot: Dovecot, poller: FolderPoller, *raws: bytes) -> None:
    """The folder is rebuilt (a new UIDVALIDITY, UIDs from 1) holding `raws`, in that order,
    as a migration to a new server or a lost index leaves it."""
    poller.close()
    with dovecot.client() as client:
        client.delete_folder("Support")
        client.create_folder("Support")
    for raw in raws:
        dovecot.append(raw, folder="Support")


def test_a_renumbered_folder_ends_its_unfetched_mail_as_ignored_with_the_reason(
    rt: Runtime, worker: Worker, dovecot: Dovecot
) -> None:
    """Dovecot's folder is rebuilt (a new UIDVALIDITY) while a message it would not return waits
    for a Retry and one over the size limit waits with its header, and is no longer there:
    neither can be fetched by its UID any more, so both leave Needs attention for Ignored
    mail, the header kept; the copy of the first still in the folder comes in as new mail (its
    Message-ID was never known)."""
    staff(rt)
    rt.settings.pipeline.max_message_bytes = 5_000
    poller = support_poller(rt, dovecot)
    dovecot.append(email(1), folder="Support")
    dovecot.append(sized_email(2, 20_000), folder="Support")
    dovecot.message_file(1, "Support").chmod(0)
    assert poller.poll() == 2
    unread, large = inbound(rt)
    assert unread.state == large.state == "quarantined"
    with rt.factory() as session:
        header = session.scalar(select(Message.raw).where(Message.id == large.id))
    assert header and len(header) < 5_000
    with transaction(rt.factory) as session:
        assert retry(session, unread.id, "alice").state == "quarantined"
    assert fetch_jobs(rt) == 1

    rebuild_support(dovecot, poller, email(1))  # the big one was deleted meanwhile
    assert poller.poll() == 1, "the copy still in the folder, as new mail"
    assert fetch_jobs(rt) == 0

    with rt.factory() as session:
        gone_unread = session.get(Message, unread.id)
        gone_large = session.get(Message, large.id)
        assert gone_unread is not None and gone_large is not None
        assert gone_unread.state == gone_large.state == "ignored"
        assert gone_unread.state_reason == (
            "the mail server no longer holds this message as it was stored: the server "
            "renumbered Support (its UIDVALIDITY changed), so UID 1 no longer names it and it "
            "cannot be fetched again (if it is still in the folder, look for it in the queue or "
            "in the mailbox); none of it was fetched"
        )
        assert "so UID 2 no longer names it" in gone_large.state_reason
        assert gone_large.state_reason.endswith("; its header, as fetched, is kept here")
        assert gone_large.raw == header
    rows = problem_rows(rt)
    assert str(unread.id) not in rows and str(large.id) not in rows
    ignored = ignored_rows(rt)
    assert "renumbered Support (its UIDVALIDITY changed)" in ignored[str(unread.id)]
    assert "its header, as fetched, is kept here" in ignored[str(large.id)]
    assert [e.actor for e in unfetchable_audit(rt, large.id)] == ["system"]
    fresh = [(m.message_id_header, m.state) for m in inbound(rt)][2:]
    assert fresh == [("<imap-1@mail.test>", "received")]
    assert poller.poll() == 0


def header_only_waiting(rt: Runtime, dovecot: Dovecot) -> tuple[FolderPoller, list[Message]]:
    """imap-1 stored, imap-2 (20 kB, over a 5 kB limit) stored with its header only, alice
    on the staff; the Support poller and the two rows."""
    staff(rt)
    rt.settings.pipeline.max_message_bytes = 5_000
    poller = support_poller(rt, dovecot)
    dovecot.append(email(1), folder="Support")
    dovecot.append(sized_email(2, 20_000), folder="Support")
    assert poller.poll() == 2
    return poller, inbound(rt)


def retry_on_its_page(rt: Runtime, message_id: int) -> None:
    """alice presses Retry on the message's page."""
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        retried = client.post(f"/messages/{message_id}/retry", data={"_csrf_token": token})
        assert "Asked the mail server for it again" in retried.text


def test_a_renumbered_folder_finds_header_only_mail_again_under_its_new_uid(
    rt: Runtime, worker: Worker, dovecot: Dovecot
) -> None:
    """A message over the size limit waits under Needs attention with its header when the
    folder is rebuilt with its UIDs shifted: the header's Message-ID finds it again, so it
    keeps its row (not a second one beside an ignored first), its reason names its new UID,
    and Retry, once the limit is raised, fetches that UID whole."""
    poller, (small, large) = header_only_waiting(rt, dovecot)
    assert "as UID 2 in Support" in large.state_reason

    rebuild_support(dovecot, poller, email(3), email(1), sized_email(2, 20_000))
    assert poller.poll() == 1, "only imap-3 is new"
    assert [(m.id, m.message_id_header, m.state) for m in inbound(rt)] == [
        (small.id, "<imap-1@mail.test>", "received"),
        (large.id, "<imap-2@mail.test>", "quarantined"),
        (large.id + 1, "<imap-3@mail.test>", "received"),
    ]
    with rt.factory() as session:
        found = session.get(Message, large.id)
        assert found is not None
        assert parse_key(found.external_key) == ImapKey(
            "Support", poller.state.checkpoint().uidvalidity, 3
        )
    row = problem_rows(rt)[str(large.id)]
    assert "the rest stays on the IMAP server as UID 3 in Support" in row
    assert unfetchable_audit(rt, large.id) == []
    assert poller.poll() == 0

    rt.settings.pipeline.max_message_bytes = 50_000
    retry_on_its_page(rt, large.id)
    assert poller.poll() == 1
    worker.drain()
    messages = inbound(rt)
    assert [m.message_id_header for m in messages].count("<imap-2@mail.test>") == 1
    whole = next(m for m in messages if m.id == large.id)
    assert whole.state == "in_review", whole.state_reason
    assert whole.raw_size > 20_000


def test_a_header_only_message_retried_before_the_renumbering_is_fetched_under_its_new_uid(
    rt: Runtime, worker: Worker, dovecot: Dovecot
) -> None:
    """The limit is raised and Retry pressed, then the folder is renumbered before the poller
    gets to it: the job does not point at the dead UID, the resync finds the message by its
    Message-ID and fetches it whole into its own row."""
    poller, (_, large) = header_only_waiting(rt, dovecot)
    rt.settings.pipeline.max_message_bytes = 50_000
    with transaction(rt.factory) as session:
        assert retry(session, large.id, "alice").state == "quarantined"
    assert fetch_jobs(rt) == 1

    rebuild_support(dovecot, poller, sized_email(2, 20_000), email(1))
    assert poller.poll() == 1, "the big one, fetched whole; imap-1 is known by its Message-ID"
    assert fetch_jobs(rt) == 0
    worker.drain()
    assert [(m.message_id_header, m.state) for m in inbound(rt)] == [
        ("<imap-1@mail.test>", "in_review"),
        ("<imap-2@mail.test>", "in_review"),
    ]
    with rt.factory() as session:
        whole = session.get(Message, large.id)
        assert whole is not None and whole.raw_size > 20_000
        key = parse_key(whole.external_key)
        assert key is not None and key.uid == 1
    assert unfetchable_audit(rt, large.id) == []


def test_retry_during_a_resync_cut_short_waits_for_the_header_only_message_to_be_found(
    rt: Runtime, worker: Worker, dovecot: Dovecot
) -> None:
    """The server goes away after the first batch of the resync that follows a renumbering, so
    the folder is known renumbered while the big message is not found yet: Retry then asks for
    it instead of ignoring it, and the next round finds it and fetches it whole."""
    rt.settings.imap.fetch_batch = 1
    poller, (_, large) = header_only_waiting(rt, dovecot)

    rebuild_support(dovecot, poller, email(3), email(4), sized_email(2, 20_000))
    server_stops_after_a_batch(poller, dovecot)
    assert poller.poll() == 0  # backed off
    assert poller.state.checkpoint().last_uid == 1, "the folder is known renumbered"
    rt.settings.pipeline.max_message_bytes = 50_000
    retry_on_its_page(rt, large.id)
    assert fetch_jobs(rt) == 1

    dovecot.start()
    wait_until(lambda: poller.poll() >= 0 and fetch_jobs(rt) == 0, "the rest of the resync")
    worker.drain()
    messages = inbound(rt)
    assert [m.message_id_header for m in messages].count("<imap-2@mail.test>") == 1
    whole = next(m for m in messages if m.id == large.id)
    assert whole.state == "in_review", whole.state_reason
    assert whole.raw_size > 20_000
    assert unfetchable_audit(rt, large.id) == []


def test_retry_once_the_folder_is_known_renumbered_ignores_the_message_at_once(
    rt: Runtime, dovecot: Dovecot
) -> None:
    """The poller stopped after it saw the new UIDVALIDITY, before it ended the old mail: Retry
    itself ends it, audited under the person who pressed it."""
    staff(rt)
    (poller,) = imap_pollers(rt)
    dovecot.append(email(1))
    dovecot.message_file(1).chmod(0)
    assert poller.poll() == 1
    (lost,) = inbound(rt)
    with transaction(rt.factory) as session:
        session.execute(update(ImapFolder).values(uidvalidity=ImapFolder.uidvalidity + 1))
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{lost.id}").text
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        retried = client.post(f"/messages/{lost.id}/retry", data={"_csrf_token": token}).text
        assert "Not fetched: the mail server no longer holds this message" in retried
        assert "It is under Ignored mail now." in retried
        refused = client.post(
            f"/api/messages/{lost.id}/draft-anyway", headers=api_token(client), json={}
        )
        assert refused.status_code == 400, refused.text
        assert "there is nothing to draft from" in refused.json()["detail"]
    with rt.factory() as session:
        found = session.get(Message, lost.id)
        assert found is not None and found.state == "ignored"
        assert "INBOX (its UIDVALIDITY changed), so UID 1 no longer names it" in found.state_reason
    assert fetch_jobs(rt) == 0
    (entry,) = unfetchable_audit(rt, lost.id)
    assert entry.actor == "alice"
    assert entry.detail["was"].startswith("the IMAP server would not return UID 1 in INBOX")


class RefusingClient:
    """Gmail's way: a FETCH that names a message it cannot serve answers NO (the connection
    stays up), and a UID it would rather not serve comes back without its body. The rest is
    the real Dovecot underneath."""

    def __init__(self, client: IMAPClient, refused: int, bodiless: int) -> None:
        self.client = client
        self.refused = refused
        self.bodiless = bodiless
        self.fetches: list[list[int]] = []

    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, object]]:
        self.fetches.append(list(uids))
        if self.refused in uids:
            raise IMAPClientError("fetch failed: Some messages could not be FETCHed (Failure)")
        data = self.client.fetch(uids, items)
        if self.bodiless in data:
            data[self.bodiless].pop(b"BODY[]", None)
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


def test_a_refused_fetch_is_fetched_one_at_a_time_and_a_bodiless_uid_is_kept(
    rt: Runtime, dovecot: Dovecot
) -> None:
    (poller,) = imap_pollers(rt)
    real_connect = poller._connect
    stubs: list[RefusingClient] = []

    def connect() -> IMAPClient:
        stubs.append(RefusingClient(real_connect(), refused=2, bodiless=4))
        return stubs[-1]  # type: ignore[return-value]

    poller._connect = connect  # type: ignore[method-assign]
    for n in range(1, 6):
        dovecot.append(email(n))
    assert poller.poll() == 5
    assert len(stubs) == 1, "a NO is the server's answer, not a broken connection"
    assert stubs[0].fetches[0] == [1, 2, 3, 4, 5]
    assert [2] in stubs[0].fetches and [4] in stubs[0].fetches
    states = {m.external_key.split(":")[2]: m for m in inbound(rt)}
    assert states["2"].state_reason == (
        "the IMAP server would not return UID 2 in INBOX: "
        "Some messages could not be FETCHed (Failure)"
    )
    assert states["4"].state_reason == (
        "the IMAP server would not return UID 4 in INBOX: it answered without the message's bytes"
    )
    assert [states[k].state for k in "12345"] == [
        "received",
        "quarantined",
        "received",
        "quarantined",
        "received",
    ]
    assert poller.state.checkpoint().last_uid == 5
    assert poller.poll() == 0


#: Dovecot's ACL plugin: each folder's rights from the dovecot-acl file in it.
ACL_PLUGIN = "mail_plugins = $mail_plugins acl\nplugin {\n  acl = vfile\n  acl_cache_ttl = 0\n}\n"


def test_a_read_only_folder_is_read_and_watched_with_idle(rt: Runtime) -> None:
    """A shared mailbox we may only read: Dovecot opens it READ-ONLY (imaplib refuses such a
    SELECT), so it is EXAMINEd; mail is stored, the \\Answered job is dropped once, and the
    poller IDLEs as usual instead of backing off round after round."""
    server = start_dovecot(ACL_PLUGIN)
    try:
        (inbox,) = imap_pollers(rt)
        poller = FolderPoller(
            rt.factory, mailbox_settings(server), rt.settings.imap, inbox.state.channel_id, "INBOX"
        )
        server.append(email(1))
        assert poller.poll() == 1
        record_answered_for(rt, "<imap-1@mail.test>")
        poller.close()
        acl = server.home / "Maildir" / "dovecot-acl"
        acl.write_text("owner lr\n")  # lookup and read: no flags, no APPEND
        nobody = pwd.getpwnam("nobody")
        os.chown(acl, nobody.pw_uid, nobody.pw_gid)

        stop = threading.Event()
        thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
        thread.start()
        try:
            assert poller.idling.wait(WAIT_SECONDS), "IDLE, not one backoff after another"
            assert poller.read_only
            with rt.factory() as session:
                assert session.scalar(select(func.count(ImapFlagJob.id))) == 0
            server.deliver_offline(email(2), "two")
            wait_until(lambda: len(inbound(rt)) == 2, "new mail in the read-only folder")
        finally:
            stop.set()
            thread.join(timeout=WAIT_SECONDS)
        assert b"\\Answered" not in flags_by_message_id(server)["<imap-1@mail.test>"]
    finally:
        server.cleanup()


class FlagRefusingClient:
    """A server (Exchange, Gmail's shared mailboxes) that answers NO to STORE +FLAGS; the rest
    is the real Dovecot underneath."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        self.stores = 0

    def add_flags(self, uids: list[int], flags: list[bytes]) -> None:
        self.stores += 1
        raise IMAPClientError("store failed: [NOPERM] Permission denied")

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


def test_a_refused_flag_is_logged_once_and_the_poller_carries_on(
    rt: Runtime, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    (poller,) = imap_pollers(rt)
    real_connect = poller._connect
    stubs: list[FlagRefusingClient] = []

    def connect() -> IMAPClient:
        stubs.append(FlagRefusingClient(real_connect()))
        return stubs[-1]  # type: ignore[return-value]

    poller._connect = connect  # type: ignore[method-assign]
    dovecot.append(email(1))
    assert poller.poll() == 1
    record_answered_for(rt, "<imap-1@mail.test>")
    dovecot.append(email(2))
    assert poller.poll() == 1, "the round ends normally, with the new mail counted"
    assert poller.poll() == 0
    assert len(stubs) == 1 and stubs[0].stores == 1, "tried once, on the same connection"
    with rt.factory() as session:
        assert session.scalar(select(func.count(ImapFlagJob.id))) == 0
    refused = [r.getMessage() for r in caplog.records if "refused \\Answered" in r.getMessage()]
    assert len(refused) == 1 and "[NOPERM] Permission denied" in refused[0]
    assert len(inbound(rt)) == 2


class RecordingClient:
    """The real Dovecot, each FETCH's UIDs and items written down."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        self.fetches: list[tuple[list[int], list[str]]] = []

    def fetch(self, uids: list[int], items: list[str]) -> object:
        self.fetches.append((list(uids), list(items)))
        return self.client.fetch(uids, items)

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)

    def bodies(self) -> list[list[int]]:
        """The UIDs of each FETCH of whole messages."""
        return [uids for uids, items in self.fetches if "BODY.PEEK[]" in items]


def recorded(poller: FolderPoller) -> list[RecordingClient]:
    real_connect = poller._connect
    clients: list[RecordingClient] = []

    def connect() -> IMAPClient:
        clients.append(RecordingClient(real_connect()))
        return clients[-1]  # type: ignore[return-value]

    poller._connect = connect  # type: ignore[method-assign]
    return clients


def sized_email(n: int, size: int) -> bytes:
    raw = email(n, body="Scan of my bill attached.\n" + "x" * size)
    assert len(raw) >= size
    return raw


def test_big_messages_are_fetched_in_batches_capped_by_bytes(rt: Runtime, dovecot: Dovecot) -> None:
    """A weekend of big attachments: the sizes are asked first, then no FETCH asks for more
    than `fetch_batch_bytes` (one bigger message alone), so memory and each transaction stay
    bounded whatever waits on the server."""
    rt.settings.imap.fetch_batch_bytes = 10_000
    (poller,) = imap_pollers(rt)
    clients = recorded(poller)
    sizes = [4_000, 4_000, 4_000, 15_000, 1_000, 1_000]
    for n, size in enumerate(sizes, start=1):
        dovecot.append(sized_email(n, size))
    assert poller.poll() == 6
    (client,) = clients
    assert client.fetches[0] == ([1, 2, 3, 4, 5, 6], ["RFC822.SIZE"])
    assert client.bodies() == [[1, 2], [3], [4], [5, 6]]
    assert all(m.state == "received" for m in inbound(rt))
    assert [m.raw_size >= s for m, s in zip(inbound(rt), sizes, strict=True)] == [True] * 6


def test_a_message_over_the_size_limit_is_not_fetched_whole(
    rt: Runtime, worker: Worker, dovecot: Dovecot
) -> None:
    """It would be quarantined by the parse stage anyway: only its header is fetched and kept,
    quarantined with the reason naming the setting; raised, Retry fetches the whole message."""
    rt.settings.pipeline.max_message_bytes = 5_000
    (poller,) = imap_pollers(rt)
    clients = recorded(poller)
    dovecot.append(email(1))
    big = sized_email(2, 20_000)
    dovecot.append(big)
    on_server = big.replace(b"\n", b"\r\n")  # as IMAP serves (and sizes) it
    assert poller.poll() == 2
    (client,) = clients
    assert all(2 not in uids for uids in client.bodies()), "never asked for whole"
    small, large = inbound(rt)
    assert small.state == "received"
    assert large.state == "quarantined"
    header = on_server.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    with rt.factory() as session:
        assert session.scalar(select(Message.raw).where(Message.id == large.id)) == header
    assert large.message_id_header == "<imap-2@mail.test>"
    assert large.state_reason.startswith(
        f"only the header was fetched: the message is {len(on_server):,} bytes, "
        "over the 5,000 byte limit ([pipeline] max_message_bytes); the rest stays on the IMAP "
        "server as UID 2 in INBOX"
    )
    staff(rt)
    with TestClient(create_app(rt)) as app:
        login(app, "alice")
        page = app.get(f"/messages/{large.id}").text
        assert "its From header says Aoife Murphy" in page, "who sent it, from the header"

    rt.settings.pipeline.max_message_bytes = 50_000
    with transaction(rt.factory) as session:
        assert retry(session, large.id, "alice").state == "quarantined"
    assert poller.poll() == 1
    worker.drain()
    with rt.factory() as session:
        whole = session.get(Message, large.id)
        assert whole is not None and whole.state == "in_review", whole.state_reason
        assert whole.raw == on_server


def test_a_first_sync_cut_short_is_a_first_sync_again(rt: Runtime, dovecot: Dovecot) -> None:
    """The server goes away after the first batch of a first sync: the next round picks up
    the recent mail, and still leaves the old mail between it on the server."""
    rt.settings.imap.fetch_batch = 1
    years_ago = datetime.now(UTC) - timedelta(days=800)
    dovecot.append(email(1), arrived=years_ago)
    dovecot.append(email(2))
    dovecot.append(email(3), arrived=years_ago)  # copied in from an archive, between new mail
    dovecot.append(email(4))
    (poller,) = imap_pollers(rt)
    store = server_stops_after_a_batch(poller, dovecot)
    assert poller.poll() == 0  # backed off
    poller.state.store = store  # type: ignore[method-assign]
    assert [m.message_id_header for m in inbound(rt)] == ["<imap-2@mail.test>"]
    dovecot.start()
    wait_until(lambda: poller.poll() >= 0 and len(inbound(rt)) == 2, "the rest of the first sync")
    assert [m.message_id_header for m in inbound(rt)] == [
        "<imap-2@mail.test>",
        "<imap-4@mail.test>",
    ]
    assert poller.state.checkpoint().last_uid == 4


def test_a_first_sync_cut_short_again_fetches_only_what_it_has_not_stored(
    rt: Runtime, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    """A first sync moves the checkpoint only when it is done, so a cut (a time-out, the server
    going away) makes the next round a first sync again: it asks for the bodies of only the
    mail it has not stored yet, so a big mailbox's first sync cut again and again still ends,
    and nothing is stored twice."""
    caplog.set_level(logging.INFO, logger="responder.channels.imap")
    rt.settings.imap.fetch_batch = 2
    for n in range(1, 7):
        dovecot.append(email(n))
    (poller,) = imap_pollers(rt)
    clients = recorded(poller)
    store = server_stops_after_a_batch(poller, dovecot, lambda: len(inbound(rt)) == 4)  # 2 of 3
    assert poller.poll() == 0  # backed off
    poller.state.store = store  # type: ignore[method-assign]
    assert clients[0].bodies()[:2] == [[1, 2], [3, 4]]
    assert len(inbound(rt)) == 4
    assert poller.state.checkpoint().last_uid == 0, "still a first sync"

    dovecot.start()
    counts: list[int] = []
    wait_until(lambda: counts.append(poller.poll()) or sum(counts) > 0, "the resumed first sync")
    assert sum(counts) == 2
    assert [uids for client in clients[1:] for uids in client.bodies()] == [[5, 6]]
    said = [r.getMessage() for r in caplog.records if "first sync" in r.getMessage()]
    assert "2 message(s) since" in said[-1] and "(4 more stored already)" in said[-1]
    messages = inbound(rt)
    assert [m.message_id_header for m in messages] == [f"<imap-{n}@mail.test>" for n in range(1, 7)]
    assert len({m.external_key for m in messages}) == 6
    assert poller.state.checkpoint().last_uid == 6
    assert poller.poll() == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_retries_of_one_unfetched_message_at_once_ask_the_server_once(
    rt: Runtime, dovecot: Dovecot
) -> None:
    """Alice's Retry is not yet committed when Bob's arrives: Bob's waits for it and is refused
    in words (a 409), not a server error, and the poller has one fetch to make."""
    (poller,) = imap_pollers(rt)
    dovecot.append(email(1))
    dovecot.message_file(1).chmod(0)
    assert poller.poll() == 1
    (lost,) = inbound(rt)
    outcome: dict[str, BaseException | None] = {}

    def bob() -> None:
        try:
            with transaction(rt.factory) as session:
                retry(session, lost.id, "bob")
            outcome["bob"] = None
        except BaseException as exc:
            outcome["bob"] = exc

    with transaction(rt.factory) as alice:
        retry(alice, lost.id, "alice")
        second = threading.Thread(target=bob)
        second.start()
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while second.is_alive() and datetime.now(UTC) < deadline:
            with rt.engine.connect() as watcher:
                if watcher.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                    break
    second.join(60)
    refused = outcome["bob"]
    assert isinstance(refused, AlreadyHandled), repr(refused)
    assert refused.status_code == 409
    assert "someone retried or handled it meanwhile" in str(refused)
    assert fetch_jobs(rt) == 1
