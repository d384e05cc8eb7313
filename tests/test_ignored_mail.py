"""The ignore rules guess: a customer's phone or web form can stamp a real complaint as
machine mail. Staff see what was ignored and why, and can have that one message drafted."""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from responder.channels.imap_state import Fetched, FolderState
from responder.channels.maildir_source import MaildirSource, deliver_to_maildir, ensure_channel
from responder.db.models import Attachment, AuditEntry, Draft, Message
from responder.db.session import transaction
from responder.pipeline import stages
from responder.pipeline.worker import Worker
from responder.review import retry
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.parse_race import parse_at_once
from tests.test_web_security import csrf, login


def stamped_complaint(number: int) -> bytes:
    """What the operator's own "contact us" form sends: a person's words, a machine's header."""
    msg = EmailMessage()
    msg["From"] = "Niamh Walsh <niamh.walsh@gmail.test>"
    msg["To"] = "support@northwind-mobile.test"
    msg["Subject"] = f"Contact form: no signal at home ({number})"
    msg["Message-ID"] = f"<form{number}@forms.test>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        "I have had no signal at home in Galway since Monday. Please help, I work from home."
    )
    msg.add_attachment(
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40, maintype="image", subtype="png", filename="signal.png"
    )
    return msg.as_bytes()


def message_row(rt: Runtime, header: str) -> Message:
    with rt.factory() as session:
        return session.scalars(select(Message).where(Message.message_id_header == header)).one()


def test_an_ignored_complaint_is_drafted_after_all(rt: Runtime, worker: Worker) -> None:
    staff(rt, "alice")
    drop(rt, stamped_complaint(1), "form-1")
    drop(rt, make_email(message_id="<waiting@mail.test>"), "waiting")
    worker.drain()
    ignored = message_row(rt, "<form1@forms.test>")
    assert ignored.state == "ignored" and "Auto-Submitted" in ignored.state_reason

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert 'href="/ignored"' in client.get("/problems").text
        listing = client.get("/ignored").text
        assert f'<tr id="ignored-{ignored.id}">' in listing
        assert "Contact form: no signal at home (1)" in listing
        assert "Roaming charges" not in listing, "drafted mail is not listed"
        example = re.search(r'placeholder="e\.g\. (\w+)', listing).group(1)
        found = client.get("/ignored", params={"q": example}).text  # the box's own example
        assert f'<tr id="ignored-{ignored.id}">' in found, example
        page = client.get(f"/messages/{ignored.id}").text
        assert "Draft a reply anyway" in page
        done = client.post(
            f"/messages/{ignored.id}/draft-anyway",
            data={"_csrf_token": csrf(client, f"/messages/{ignored.id}")},
        )
        assert f"It was ignored as: {ignored.state_reason}." in done.text

        waiting = message_row(rt, "<waiting@mail.test>")
        refused = client.post(
            f"/api/messages/{waiting.id}/draft-anyway", headers=api_token(client), json={}
        )
        assert refused.status_code == 400
        assert "only ignored messages" in refused.json()["detail"]

    worker.drain()
    drafted = message_row(rt, "<form1@forms.test>")
    assert drafted.state == "in_review"
    with rt.factory() as session:
        assert session.scalar(select(func.count()).where(Draft.message_id == drafted.id)) == 1
        assert session.scalar(select(func.count()).where(Attachment.message_id == drafted.id)) == 1
        (entry,) = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.draft_anyway")
        ).all()
        assert entry.actor == "alice" and "Auto-Submitted" in entry.detail["ignored_as"]

    # The decision was about that message: the form's next one is ignored like before.
    drop(rt, stamped_complaint(2), "form-2")
    worker.drain()
    assert message_row(rt, "<form2@forms.test>").state == "ignored"


def test_an_ignored_message_from_a_customer_shows_who_they_are(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    """The agent deciding whether to draft it anyway sees the customer, not "not known"."""
    staff(rt, "alice")
    away = make_email(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    drop(rt, away, "away")
    worker.drain()
    ignored = message_row(rt, "<m1@mail.test>")
    assert ignored.state == "ignored" and ignored.customer_id is None
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{ignored.id}").text
    panel = page.split('<aside class="panel">', 1)[1]
    assert "Not a known customer" not in panel
    assert "Aoife Murphy" in panel and 'class="tier"' in panel


def test_a_blocked_senders_message_can_be_drafted_and_the_block_stays(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "sam", role="supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sam")
        client.post("/api/supervisor/blocked", headers=auth, json={"sender": "@gmail.test"})
        drop(rt, make_email(message_id="<one@mail.test>"), "one")
        worker.drain()
        one = message_row(rt, "<one@mail.test>")
        assert one.state == "ignored" and one.state_reason.startswith("blocked sender: @gmail.test")
        answer = client.post(f"/api/messages/{one.id}/draft-anyway", headers=auth, json={})
        assert answer.status_code == 201 and answer.json()["was_ignored_as"] == one.state_reason
        worker.drain()
        assert message_row(rt, "<one@mail.test>").state == "in_review"
        drop(rt, make_email(message_id="<two@mail.test>", subject="Another"), "two")
        worker.drain()
        assert message_row(rt, "<two@mail.test>").state == "ignored"
        (block,) = client.get("/api/supervisor/blocked", headers=auth).json()["items"]
        assert block["messages_stopped"] == 2


def test_the_ignored_list_narrows_to_a_reason_sender_or_subject(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    drop(rt, stamped_complaint(1), "form-1")
    drop(
        rt,
        make_email(
            sender="Newsletter <news@offers.test>",
            subject="100% off_today",
            message_id="<news@offers.test>",
            headers={"List-Unsubscribe": "<mailto:unsubscribe@offers.test>"},
        ),
        "news",
    )
    worker.drain()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")

        def listed(q: str) -> list[str]:
            page = client.get("/ignored", params={"q": q}).text
            return re.findall(
                r'<td data-label="Subject"><a href="/messages/\d+">([^<]+)</a></td>', page
            )

        assert len(listed("")) == 2
        assert listed("auto-generated") == ["Contact form: no signal at home (1)"]
        assert listed("OFFERS.test") == ["100% off_today"]
        assert listed("100%") == ["100% off_today"]  # LIKE's wildcards are plain text here
        assert listed("off_") == ["100% off_today"]
        assert listed("50%") == []
        assert (
            "No ignored mail holds “nothing like this”."
            in client.get("/ignored", params={"q": "nothing like this"}).text
        )
        api = client.get("/api/ignored", params={"q": "mailing list"}, headers=api_token(client))
        assert [item["subject"] for item in api.json()["items"]] == ["100% off_today"]

        # A page at a time: older ones, and back to the newest, the search kept.
        queue = msgspec.structs.replace(rt.settings.queue, page_size=1)
        rt.settings = msgspec.structs.replace(rt.settings, queue=queue)
        newest = client.get("/ignored", params={"q": "test"}).text
        assert 'id="first-page"' not in newest
        older = re.search(r'id="next-page" rel="next" href="([^"]+)"', newest).group(1)
        second = client.get(html.unescape(older)).text
        assert '<a id="first-page" href="/ignored?q=test">Newest</a>' in second
        shown = [re.findall(r'<a href="/messages/(\d+)">', page) for page in (newest, second)]
        assert len(shown[0]) == len(shown[1]) == 1 and shown[0] != shown[1]


def copied_to_two_mailboxes() -> bytes:
    """To support@, billing@ copied: the customer's one message."""
    msg = EmailMessage()
    msg["From"] = "Aoife Murphy <aoife.murphy@gmail.test>"
    msg["To"] = "support@northwind-mobile.test"
    msg["Cc"] = "billing@northwind-mobile.test"
    msg["Subject"] = "Charged twice for March"
    msg["Message-ID"] = "<twice@gmail.test>"
    msg.set_content("Hi, my March bill was taken from my account twice. Please refund one.")
    return msg.as_bytes()


def store_over_imap(rt: Runtime, mailbox: str, raw: bytes) -> int:
    """`raw` as the IMAP poller of mailbox `mailbox` (a channel of its own) stores it."""
    channel_id = ensure_channel(rt.factory, mailbox, "imap", f"{mailbox}@northwind-mobile.test")
    folder = FolderState(rt.factory, channel_id, "INBOX", "test-poller", 60)
    assert folder.acquire()
    delivered = f"Delivered-To: {mailbox}@northwind-mobile.test\r\n".encode() + raw
    assert folder.store(1, 1, [Fetched(1, delivered)]) == 1
    return channel_id


def copies(rt: Runtime) -> list[Message]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.message_id_header == "<twice@gmail.test>")
                .options(undefer(Message.raw))
                .order_by(Message.id)
            )
        )


def test_a_message_sent_to_two_of_our_mailboxes_is_drafted_once(
    rt: Runtime, worker: Worker
) -> None:
    """Each mailbox's poller stores its copy (each keeps out only its own repeats): the first
    stored is drafted, the other ignored naming it, raw kept, and can be drafted anyway."""
    staff(rt, "alice")
    store_over_imap(rt, "support", copied_to_two_mailboxes())
    store_over_imap(rt, "billing", copied_to_two_mailboxes())
    worker.drain()
    first, second = copies(rt)
    assert first.state == "in_review"
    assert second.state == "ignored"
    assert second.state_reason == (
        f"the same message already came in through support (message {first.id})"
    )
    assert second.raw.startswith(b"Delivered-To: billing@") and second.subject == first.subject
    with rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 1
    with TestClient(create_app(rt)) as client:
        answer = client.post(
            f"/api/messages/{second.id}/draft-anyway", headers=api_token(client), json={}
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["was_ignored_as"] == second.state_reason
    worker.drain()
    assert [m.state for m in copies(rt)] == ["in_review", "in_review"]


def test_a_copy_read_from_the_maildir_first_keeps_the_imap_copy_out(
    rt: Runtime, worker: Worker
) -> None:
    """A Maildir message has its Message-ID only once parsed: in one batch with the IMAP copy
    stored after it, the Maildir one, stored first, is the one drafted."""
    drop(rt, copied_to_two_mailboxes(), "twice")
    assert worker.poll_sources() == 1
    store_over_imap(rt, "billing", copied_to_two_mailboxes())
    worker.drain()
    first, second = copies(rt)
    assert (first.state, second.state) == ("in_review", "ignored")
    assert second.state_reason == (
        f"the same message already came in through {rt.settings.maildir.name} (message {first.id})"
    )


def two_maildir_copies(rt: Runtime, worker: Worker, tmp_path: Path) -> tuple[int, int]:
    """The message in the local Maildir and in a second Maildir mailbox (billing), both stored
    and not parsed: neither has its Message-ID on record yet."""
    drop(rt, copied_to_two_mailboxes(), "twice")
    assert worker.poll_sources() == 1
    billing = ensure_channel(rt.factory, "billing", "maildir", "billing@northwind-mobile.test")
    deliver_to_maildir(tmp_path / "billing", copied_to_two_mailboxes(), "twice")
    assert MaildirSource(tmp_path / "billing", billing).poll(rt.factory) == 1
    with rt.factory() as session:
        first, second = session.scalars(
            select(Message.id).where(Message.direction == "in").order_by(Message.id)
        )
    return first, second


def states(rt: Runtime, *ids: int) -> list[tuple[str, str]]:
    with rt.factory() as session:
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
        return [(rows[i].state, rows[i].state_reason) for i in ids]


def test_the_copy_parsed_first_is_the_one_drafted_whichever_was_stored_first(
    rt: Runtime, worker: Worker, tmp_path: Path
) -> None:
    """Two Maildir copies, the later-stored one parsed first (another worker's batch): it holds
    the Message-ID, and the first-stored copy, parsed after, is ignored naming it."""
    first, second = two_maildir_copies(rt, worker, tmp_path)
    stages.parse_stage(rt, [second])
    stages.parse_stage(rt, [first])
    assert states(rt, second, first) == [
        ("parsed", ""),
        ("ignored", f"the same message already came in through billing (message {second})"),
    ]
    worker.drain()
    with rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 1


def test_the_copy_holding_the_message_id_is_drafted_when_retried_after_failing(
    rt: Runtime, worker: Worker, tmp_path: Path
) -> None:
    """The copy that claimed the Message-ID failed before its reply was queued; Retry parses it
    again, and the first-stored copy, ignored naming it, does not keep it out: one is answered."""
    first, second = two_maildir_copies(rt, worker, tmp_path)
    stages.parse_stage(rt, [second])
    stages.parse_stage(rt, [first])
    copy_reason = f"the same message already came in through billing (message {second})"
    with transaction(rt.factory) as session:
        failed = session.get(Message, second)
        failed.state, failed.state_reason = "failed", "the draft model stopped"
    with transaction(rt.factory) as session:
        assert retry(session, second, "alice").state == "received"
    worker.drain()
    assert states(rt, second, first) == [("in_review", ""), ("ignored", copy_reason)]
    with rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_parsing_both_copies_at_once_draft_one(
    rt: Runtime, worker: Worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers parse the two copies at the same moment (PostgreSQL: SQLite lets one writer
    in at a time). The first is held with its parse written but not committed; the second,
    which cannot see it yet, waits on the first's claim of the Message-ID, and once the first
    commits is ignored naming it."""
    first, second = two_maildir_copies(rt, worker, tmp_path)
    parse_at_once(rt, monkeypatch, first, second)
    name = rt.settings.maildir.name
    assert states(rt, first, second) == [
        ("parsed", ""),
        ("ignored", f"the same message already came in through {name} (message {first})"),
    ]
    worker.drain()
    with rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Draft)) == 1
