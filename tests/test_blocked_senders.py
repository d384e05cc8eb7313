"""Spam: one click rejects a spammer's drafts and blocks the address; its later mail is stored
and ignored, never drafted; a supervisor can block a domain and lift a block, and the mail a
block stopped can be drafted after all."""

from __future__ import annotations

import html
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, insert, select, text

from responder.blocklist import AlreadyBlocked, BlockError, BlockList, block, parse_pattern
from responder.cli import main
from responder.dashboard import load_history
from responder.db.models import Attachment, AuditEntry, BlockedSender, Draft, Message, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.review import reject
from responder.runtime import Runtime
from responder.snooze import snooze
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff, staff_member
from tests.test_web_security import csrf, login

SPAMMER = "Crypto Deals <deals@bulk-offers.test>"


def spam(number: int, sender: str = SPAMMER) -> bytes:
    return make_email(
        sender=sender,
        subject=f"Double your money {number}",
        body="Invest now in our crypto fund and get 300% back within a week, guaranteed.",
        message_id=f"<spam{number}@bulk-offers.test>",
    )


def states(rt: Runtime) -> dict[str, tuple[str, str]]:
    with rt.factory() as session:
        rows = session.execute(
            select(Message.message_id_header, Message.state, Message.state_reason).where(
                Message.direction == "in"
            )
        )
        return {header: (state, reason) for header, state, reason in rows}


def message_id(rt: Runtime, header: str) -> int:
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.message_id_header == header)).one()


def test_spam_is_rejected_blocked_and_its_later_mail_never_drafted(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "sam", role="supervisor")
    for number in range(3):
        drop(rt, spam(number), f"spam-{number}")
    drop(rt, make_email(message_id="<customer@mail.test>"), "customer")
    worker.drain()
    first = message_id(rt, "<spam0@bulk-offers.test>")

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{first}").text
        assert "Spam: reject and block sender" in page
        landed = client.post(
            f"/messages/{first}/spam",
            data={"_csrf_token": csrf(client, f"/messages/{first}")},
        )
        assert (
            "Rejected as spam: deals@bulk-offers.test is now blocked, its mail will be stored "
            "and ignored; 2 more waiting drafts from it rejected." in landed.text
        )
        # The reviewer lands on the next draft: the customer's, the only one left.
        assert "Roaming charges on my bill" in landed.text

    now = states(rt)
    assert [now[f"<spam{n}@bulk-offers.test>"][0] for n in range(3)] == ["rejected"] * 3
    assert now["<spam0@bulk-offers.test>"][1] == "spam"
    assert now["<spam1@bulk-offers.test>"][1] == "sender blocked: spam"
    assert now["<customer@mail.test>"][0] == "in_review"

    # The spammer writes again, in other letter case and with an attachment.
    later = make_email(
        sender="DEALS@Bulk-Offers.test",
        subject="Last chance",
        body="Only today: 500% returns.",
        message_id="<spam9@bulk-offers.test>",
        attachments=[("brochure.pdf", "application/pdf", b"%PDF-1.4 brochure")],
    )
    drop(rt, later, "spam-9")
    worker.drain()
    state, reason = states(rt)["<spam9@bulk-offers.test>"]
    assert state == "ignored"
    assert reason.startswith("blocked sender: deals@bulk-offers.test (blocked by alice on ")
    assert reason.endswith(": spam)")
    stopped = message_id(rt, "<spam9@bulk-offers.test>")
    with rt.factory() as session:
        assert session.scalar(select(func.count()).where(Draft.message_id == stopped)) == 0

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert client.get("/supervisor/blocked").status_code == 403
        login(client, "sam")
        listing = client.get("/supervisor/blocked").text
        assert "deals@bulk-offers.test" in listing and "alice" in listing
        # the form's fields are named on the page, not only by placeholders that go on typing
        assert '<label>Address or domain to block <input name="sender"' in listing
        assert '<label>Reason <input name="reason"' in listing
        # the last message stopped: the zone named, as the Blocked column's heading names it
        assert re.search(r"<small>last \d{4}-\d\d-\d\d \d\d:\d\d UTC</small>", listing)
        (row,) = client.get("/api/supervisor/blocked", headers=api_token(client, "sam")).json()[
            "items"
        ]
        # Two waiting drafts rejected when it was blocked, one message ignored since.
        assert row["messages_stopped"] == 3 and row["reason"] == "spam"
        assert [s["message_id"] for s in row["marked_spam"]] == [first]
        assert 'name="restore_spam" value="1" checked' in listing
        assert "Double your money 0</a>, which alice marked as spam" in listing
        with rt.factory() as session:
            spammer = session.get(Message, first).customer_id
        profile = client.get(f"/customers/{spammer}").text
        assert (
            "Blocked sender deals@bulk-offers.test: mail from it is stored and ignored" in profile
        )

        # It was a customer after all: lift the block and draft what it stopped.
        done = client.post(
            f"/supervisor/blocked/{row['id']}/unblock",
            data={"process_stopped": "1", "_csrf_token": csrf(client, "/supervisor/blocked")},
        )
        assert (
            "deals@bulk-offers.test is no longer blocked. 2 drafts it rejected are back in the "
            "queue. 1 message it stopped will be drafted now. The message marked as spam "
            f"(message {first}) is still rejected." in done.text
        )
        assert "No sender is blocked." in done.text
    worker.drain()
    now = states(rt)
    assert now["<spam9@bulk-offers.test>"][0] == "in_review"
    assert [now[f"<spam{n}@bulk-offers.test>"][0] for n in range(3)] == [
        "rejected",  # the one alice rejected as spam herself
        "in_review",
        "in_review",
    ]
    with rt.factory() as session:
        assert session.scalar(select(func.count()).where(Draft.message_id == stopped)) == 1
        assert session.scalar(select(func.count()).where(Attachment.message_id == stopped)) == 1
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("sender.%"))
        ).all()
        assert sorted(actions) == ["sender.block", "sender.unblock"]


def test_unblocking_a_spam_click_offers_the_message_back(
    rt: Runtime,
    worker: Worker,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The block a Spam click set, lifted: the message marked as spam comes back to the queue
    too when the supervisor leaves the offer ticked, as it stood, with why in its history."""
    staff(rt, "alice")
    staff(rt, "sam", role="supervisor")
    for number in range(3):
        drop(rt, spam(number), f"spam-{number}")
    worker.drain()
    first, second, third = (message_id(rt, f"<spam{n}@bulk-offers.test>") for n in range(3))
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        client.post(
            f"/messages/{first}/spam", data={"_csrf_token": csrf(client, f"/messages/{first}")}
        )
        login(client, "sam")
        (row,) = client.get("/api/supervisor/blocked", headers=api_token(client, "sam")).json()[
            "items"
        ]
        assert row["messages_stopped"] == 2, "the message marked as spam is counted apart"
        lifted = client.post(
            f"/supervisor/blocked/{row['id']}/unblock",
            data={"restore_spam": "1", "_csrf_token": csrf(client, "/supervisor/blocked")},
        )
        assert (
            "deals@bulk-offers.test is no longer blocked. 2 drafts it rejected are back in the "
            f"queue. The message marked as spam (message {first}) is back in the queue."
            in lifted.text
        )
        now = states(rt)
        assert [now[f"<spam{n}@bulk-offers.test>"] for n in range(3)] == [("in_review", "")] * 3
        history = client.get(f"/messages/{first}").text
        assert "back in the queue (block lifted) by sam" in history

        # Marked again through the API and lifted through it: the message comes back only
        # when asked.
        alice = api_token(client, "alice")
        marked = client.post(f"/api/messages/{second}/spam", headers=alice, json={})
        assert marked.status_code < 300, marked.text
        auth = api_token(client, "sam")
        (row,) = client.get("/api/supervisor/blocked", headers=auth).json()["items"]
        unblock = f"/api/supervisor/blocked/{row['id']}/unblock"
        kept = client.post(unblock, headers=auth, json={}).json()
        assert kept["spam_kept_rejected"] == [second] and kept["spam_restored"] == []
        assert kept["restored"] == sorted([first, third])
        assert states(rt)["<spam1@bulk-offers.test>"] == ("rejected", "spam")

        # From the command line: the message stays rejected unless --restore-spam says.
        client.post(f"/api/messages/{third}/spam", headers=alice, json={})
    monkeypatch.setenv("RESPONDER_DATABASE__URL", rt.settings.database.url)
    remove = ["--config", str(project / "config.toml"), "blocked", "remove"]
    assert main([*remove, "deals@bulk-offers.test"]) == 0
    assert (
        "deals@bulk-offers.test: unblocked, 1 rejected drafts back in the queue, marked as spam "
        f"and still rejected: {third} (--restore-spam)" in capsys.readouterr().out
    )
    with TestClient(create_app(rt)) as client:
        client.post(f"/api/messages/{first}/spam", headers=api_token(client, "alice"), json={})
    assert main([*remove, "--restore-spam", "deals@bulk-offers.test"]) == 0
    assert f"marked as spam and back in the queue: {first}" in capsys.readouterr().out
    assert states(rt)["<spam0@bulk-offers.test>"] == ("in_review", "")
    with rt.factory() as session:
        unblocks = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sender.unblock").order_by(AuditEntry.id)
        ).all()
    assert unblocks[0].detail["spam_restored"] == [first]
    assert unblocks[1].detail["spam_kept_rejected"] == [second]


def test_a_customer_on_file_is_not_blocked_from_the_review_page(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    staff(rt, "alice")
    drop(rt, make_email(message_id="<aoife@mail.test>"), "aoife")
    worker.drain()
    aoife = message_id(rt, "<aoife@mail.test>")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert "Spam: reject and block sender" not in client.get(f"/messages/{aoife}").text
        refused = client.post(f"/api/messages/{aoife}/spam", headers=api_token(client), json={})
        assert refused.status_code == 422
        assert "is a customer on file" in refused.json()["detail"]
    assert states(rt)["<aoife@mail.test>"][0] == "in_review"


def test_a_supervisor_blocks_a_whole_domain(rt: Runtime, worker: Worker) -> None:
    staff(rt, "sam", role="supervisor")
    drop(rt, spam(7, "Offers <offers@bulk-offers.test>"), "waiting")
    drop(rt, spam(8, "Someone <someone@not-bulk-offers.test>"), "lookalike")
    worker.drain()
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sam")
        added = client.post(
            "/api/supervisor/blocked",
            headers=auth,
            json={"sender": "@Bulk-Offers.test", "reason": "spam campaign", "reject_waiting": True},
        )
        assert added.status_code == 201 and added.json()["sender"] == "@bulk-offers.test"
        assert added.json()["rejected_waiting"] == [message_id(rt, "<spam7@bulk-offers.test>")]
        assert states(rt)["<spam7@bulk-offers.test>"] == (
            "rejected",
            "sender blocked: spam campaign",
        )
        assert states(rt)["<spam8@bulk-offers.test>"][0] == "in_review"
        again = client.post(
            "/api/supervisor/blocked", headers=auth, json={"sender": "bulk-offers.test"}
        )
        assert again.status_code == 409 and "already blocked (by sam" in again.json()["detail"]
        ours = client.post(
            "/api/supervisor/blocked", headers=auth, json={"sender": "@northwind-mobile.test"}
        )
        assert ours.status_code == 422 and "is our own" in ours.json()["detail"]
        login(client, "sam")
        bad = client.post(
            "/supervisor/blocked",
            data={"sender": "not a domain", "_csrf_token": csrf(client, "/supervisor/blocked")},
        )
        assert "Not blocked: &#39;not a domain&#39; is not an address or a domain." in bad.text
        assert bad.status_code == 400 and 'value="not a domain" aria-invalid="true"' in bad.text

        # A carried-over spam list: more than a page, paged and searched.
        listed = _blocked_in_bulk(rt, 130)
        first = client.get("/supervisor/blocked").text
        assert '<span class="count" id="total">131</span>' in first
        assert "Showing 1–100 of 131" in first and 'id="first-page"' not in first
        more = re.search(r'id="next-page" rel="next" href="([^"]+)"', first).group(1)
        second = client.get(html.unescape(more)).text
        assert (
            "Showing 101–131 of 131" in second
            and 'id="first-page" href="/supervisor/blocked"' in second
        )
        shown = [UNBLOCK.findall(page) for page in (first, second)]
        assert [len(rows) for rows in shown] == [100, 31]
        assert "@bulk-offers.test" in first, "newest first"
        assert [int(i) for i in shown[0][1:] + shown[1]] == listed[::-1]
        found = client.get("/supervisor/blocked", params={"q": " @Bulk-"}).text
        assert len(UNBLOCK.findall(found)) == 1 and "@bulk-offers.test" in found
        assert 'value="@bulk-"' in found and "1 of 131 blocked senders match" in found
        campaign = client.get("/supervisor/blocked", params={"q": "@list.test"}).text
        assert "Showing 1–100 of 130" in campaign
        more = re.search(r'id="next-page" rel="next" href="([^"]+)"', campaign).group(1)
        assert "q=%40list.test" in more, "the search stays on the next page"
        later = client.get(html.unescape(more)).text
        assert len(UNBLOCK.findall(later)) == 30
        # Lifting a block, or adding one, keeps the search; lifting one keeps its page too.
        lifted = client.post(
            f"/supervisor/blocked/{UNBLOCK.findall(later)[0]}/unblock",
            data={**_kept(later), "_csrf_token": csrf(client, "/supervisor/blocked")},
        ).text
        assert "deals29@list.test is no longer blocked." in lifted
        assert "Showing 101–129 of 129" in lifted and 'value="@list.test"' in lifted
        # A refused block comes back as typed, on the page it was on, the problem beside it.
        typo = {
            **_kept(lifted),
            "sender": "promo@list .test",
            "reason": "promotions nobody asked for",
            "reject_waiting": "1",
        }
        refused = client.post(
            "/supervisor/blocked",
            data={**typo, "_csrf_token": csrf(client, "/supervisor/blocked")},
        )
        assert refused.status_code == 400 and "Showing 101–129 of 129" in refused.text
        assert 'value="promo@list .test" aria-invalid="true"' in refused.text
        assert 'value="promotions nobody asked for"' in refused.text
        assert 'name="reject_waiting" value="1" checked' in refused.text
        assert 'id="block-sender-error">&#39;promo@list .test&#39; is not an' in refused.text
        assert _kept(refused.text) == _kept(lifted), "still the search's second page"
        taken = client.post(
            "/supervisor/blocked",
            data={
                **typo,
                "sender": "deals3@list.test",
                "_csrf_token": csrf(client, "/supervisor/blocked"),
            },
        )
        assert taken.status_code == 409 and "deals3@list.test is already blocked" in taken.text
        added = client.post(
            "/supervisor/blocked",
            data={
                "q": _kept(lifted)["q"],
                "sender": "promo@list.test",
                "_csrf_token": csrf(client, "/supervisor/blocked"),
            },
        ).text
        assert "promo@list.test is blocked" in added and 'value="@list.test"' in added
        assert "Showing 1–100 of 130" in added, "the search's first page, where it is newest"
        auth = api_token(client, "sam")
        api = client.get("/api/supervisor/blocked", headers=auth).json()
        assert (len(api["items"]), api["total"]) == (100, 131)
        assert api["items"][0]["sender"] == "promo@list.test" and "reason" in api["items"][0]
        rest = client.get(
            "/api/supervisor/blocked", headers=auth, params={"cursor": api["next_cursor"]}
        ).json()
        assert (len(rest["items"]), rest["next_cursor"]) == (31, None)
        searched = client.get("/api/supervisor/blocked", headers=auth, params={"q": "PROMO@"})
        assert [r["sender"] for r in searched.json()["items"]] == ["promo@list.test"]
        nothing = client.get("/supervisor/blocked", params={"q": "deal_"}).text
        assert "No blocked sender matches" in nothing, "typed as is, not as a LIKE wildcard"

    drop(rt, spam(1, "Promo <promo@bulk-offers.test>"), "promo")
    drop(rt, spam(2, "Someone <someone@offers.test>"), "elsewhere")
    worker.drain()
    now = states(rt)
    assert now["<spam1@bulk-offers.test>"][0] == "ignored"
    assert "blocked sender: @bulk-offers.test (blocked by sam" in now["<spam1@bulk-offers.test>"][1]
    assert now["<spam2@bulk-offers.test>"][0] == "in_review"


UNBLOCK = re.compile(r'action="/supervisor/blocked/(\d+)/unblock"')
KEPT = re.compile(r'<input type="hidden" name="(q|cursor)" value="([^"]*)">')


def _kept(page: str) -> dict[str, str]:
    """The search and page a form on the blocked senders page carries (its first row's)."""
    return {name: html.unescape(value) for name, value in KEPT.findall(page)}


def _blocked_in_bulk(rt: Runtime, count: int) -> list[int]:
    """A spam list carried over, written in one statement, a second apart, a day ago; the
    blocks' ids, oldest first."""
    start = utcnow() - timedelta(days=1)
    rows = [
        {
            "kind": "address",
            "value": f"deals{n}@list.test",
            "reason": "carried over",
            "blocked_by": "sam",
            "created_at": start + timedelta(seconds=n),
        }
        for n in range(count)
    ]
    with transaction(rt.factory) as session:
        added = insert(BlockedSender).returning(BlockedSender.id, sort_by_parameter_order=True)
        return list(session.scalars(added, rows))


def test_unblocking_puts_back_the_drafts_the_block_rejected_and_only_those(
    rt: Runtime, worker: Worker
) -> None:
    """A sender blocked by mistake: the list counts the drafts the block rejected, each says
    why in its history, and lifting the block puts exactly those back as they were; a draft
    rejected by hand, or by an earlier block already lifted, stays rejected."""
    staff(rt, "sam", role="supervisor")
    sender = "Pat Byrne <pat@byrne-farm.test>"
    for number in range(4):
        drop(rt, spam(number, sender), f"pat-{number}")
    worker.drain()
    pat = [message_id(rt, f"<spam{n}@bulk-offers.test>") for n in range(4)]
    with transaction(rt.factory) as session:
        reject(session, pat[0], staff_member(session, "sam"), "answered by phone")
    why = "shouting at the night shift"

    with TestClient(create_app(rt)) as client:
        login(client, "sam")
        blocked = client.post(
            "/supervisor/blocked",
            data={
                "sender": "pat@byrne-farm.test",
                "reason": why,
                "reject_waiting": "1",
                "_csrf_token": csrf(client, "/supervisor/blocked"),
            },
        )
        assert "3 waiting drafts from it rejected." in blocked.text
        assert (
            '<td data-label="Messages stopped">3 <small>3 waiting drafts rejected when blocked'
            in blocked.text
        )
        now = states(rt)
        assert now["<spam0@bulk-offers.test>"] == ("rejected", "answered by phone")
        for n in (1, 2, 3):
            assert now[f"<spam{n}@bulk-offers.test>"] == ("rejected", f"sender blocked: {why}")
        history = client.get(f"/messages/{pat[1]}").text
        assert "rejected by sam" in history and f"sender blocked: {why}" in history

        (row,) = client.get("/api/supervisor/blocked", headers=api_token(client, "sam")).json()[
            "items"
        ]
        assert row["messages_stopped"] == 3
        lifted = client.post(
            f"/supervisor/blocked/{row['id']}/unblock",
            data={"_csrf_token": csrf(client, "/supervisor/blocked")},
        )
        assert (
            "pat@byrne-farm.test is no longer blocked. 3 drafts it rejected are back in the queue."
            in lifted.text
        )
        now = states(rt)
        assert now["<spam0@bulk-offers.test>"] == ("rejected", "answered by phone")
        assert [now[f"<spam{n}@bulk-offers.test>"] for n in (1, 2, 3)] == [("in_review", "")] * 3
        assert "back in the queue (block lifted) by sam" in client.get(f"/messages/{pat[1]}").text

        # Blocked again later: one draft rejected by hand since, one snoozed, one waiting.
        until = utcnow() + timedelta(hours=3)
        with transaction(rt.factory) as session:
            sam = staff_member(session, "sam")
            reject(session, pat[1], sam, "duplicate")
            snooze(session, pat[2], sam, until, "waiting for the vet")
        auth = api_token(client, "sam")
        again = client.post(
            "/api/supervisor/blocked",
            headers=auth,
            json={"sender": "pat@byrne-farm.test", "reason": "", "reject_waiting": True},
        ).json()
        assert again["rejected_waiting"] == sorted([pat[2], pat[3]])
        assert again["messages_stopped"] == 2
        assert states(rt)["<spam2@bulk-offers.test>"] == ("rejected", "sender blocked")
        undone = client.post(
            f"/api/supervisor/blocked/{again['id']}/unblock", headers=auth, json={}
        ).json()
        assert undone["restored"] == sorted([pat[2], pat[3]])

    now = states(rt)
    assert now["<spam0@bulk-offers.test>"] == ("rejected", "answered by phone")
    assert now["<spam1@bulk-offers.test>"] == ("rejected", "duplicate")
    assert now["<spam2@bulk-offers.test>"][0] == "snoozed"
    assert now["<spam3@bulk-offers.test>"] == ("in_review", "")
    with rt.factory() as session:
        assert session.get(Message, pat[2]).snoozed_until == until
        log = session.execute(
            select(AuditEntry.action, AuditEntry.object_id, AuditEntry.detail)
            .where(AuditEntry.action.in_(["sender.unblock", "draft.restore"]))
            .order_by(AuditEntry.id)
        ).all()
    first, second = sorted(pat[1:]), sorted(pat[2:])
    assert [(action, int(on)) for action, on, _ in log] == [
        *(("draft.restore", m) for m in first),
        ("sender.unblock", row["id"]),
        *(("draft.restore", m) for m in second),
        ("sender.unblock", again["id"]),
    ]
    assert log[3].detail["restored"] == first and log[6].detail["restored"] == second
    assert log[4].detail == {"reason": "pat@byrne-farm.test unblocked"}
    with rt.factory() as session:
        outcomes = {row.id: row.outcome for row in load_history(session)[0]}
    assert outcomes[pat[3]] is None, "the dashboard counts it as waiting, not rejected"
    assert outcomes[pat[1]] == "rejected"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Deals@Bulk-Offers.test", "address", "deals@bulk-offers.test"),
        ("@bulk-offers.test", "domain", "bulk-offers.test"),
        ("bulk-offers.test", "domain", "bulk-offers.test"),
        ("+353861234567", "address", "+353861234567"),
        ("6543210987654321", "address", "6543210987654321"),
    ],
)
def test_what_a_block_covers(text: str, kind: str, value: str) -> None:
    pattern = parse_pattern(text)
    assert (pattern.kind, pattern.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "   ", "two words", "@", "@-bad-.test", "@nodot"])
def test_what_cannot_be_blocked(text: str) -> None:
    with pytest.raises(BlockError):
        parse_pattern(text)


def test_a_spam_list_is_carried_over_from_the_command_line(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(project / "config.toml")
    spam_list = tmp_path / "spam.txt"
    spam_list.write_text(
        "# carried over from the old helpdesk\n"
        "@bulk-offers.test\n"
        "prize@lucky-draw.test   # sent 400 in March\n"
        "\n"
        "not an address\n"
        "@northwind-mobile.test\n",
        encoding="utf-8",
    )
    assert main(["--config", config, "blocked", "add", "--file", str(spam_list)]) == 1
    out, err = capsys.readouterr()
    assert "blocked: 2" in out
    assert f"{spam_list}:5: not an address: 'not an address' is not an address or a domain" in err
    assert f"{spam_list}:6: @northwind-mobile.test:" in err and "is our own" in err
    assert main(["--config", config, "blocked", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == [
        "@bulk-offers.test",
        "prize@lucky-draw.test",
    ]
    assert main(["--config", config, "blocked", "remove", "PRIZE@lucky-draw.test"]) == 0
    assert "prize@lucky-draw.test: unblocked" in capsys.readouterr().out
    assert main(["--config", config, "blocked", "remove", "prize@lucky-draw.test"]) == 1
    assert "argument: prize@lucky-draw.test: not blocked" in capsys.readouterr().err


def test_two_people_blocking_one_sender_at_once_make_one_block(
    rt: Runtime, database_url: str
) -> None:
    """On PostgreSQL the second insert waits for the first transaction, then meets the unique
    key: it must come back as "already blocked", not as a server error."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one writer in at a time: the race cannot happen there")
    pattern = parse_pattern("deals@bulk-offers.test")
    first = rt.factory()
    block(first, pattern, "spam", "alice")  # inserted, not yet committed
    outcome: list[object] = []

    def second() -> None:
        try:
            with transaction(rt.factory) as session:
                block(session, pattern, "spam", "bob")
            outcome.append("blocked")
        except AlreadyBlocked as exc:
            outcome.append(exc)

    racer = threading.Thread(target=second)
    racer.start()
    with rt.engine.connect() as watcher:
        for _ in range(2000):  # until bob's insert waits on alice's row (bounded, no sleep luck)
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
            if waiting:
                break
            watcher.rollback()
            time.sleep(0.005)
        assert waiting, "bob's insert never waited on alice's"
    first.commit()
    first.close()
    racer.join(timeout=30)
    (result,) = outcome
    assert isinstance(result, AlreadyBlocked)
    assert "has just been blocked by someone else" in str(result)
    with rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(BlockedSender)) == 1


@pytest.mark.parametrize("read_all_up_to", [5_000, 0], ids=["read-once", "per-sender"])
def test_a_long_block_list_is_asked_per_sender_with_the_same_answers(
    rt: Runtime, read_all_up_to: int
) -> None:
    """Past a few thousand blocks (a carried-over spam list) the parse stage asks for each
    sender's address and domain instead of reading every block a batch: same answers."""
    with transaction(rt.factory) as session:
        block(session, parse_pattern("spam@junk.test"), "spam", "alice")
        block(session, parse_pattern("@bulk.test"), "newsletters", "sue")
    with transaction(rt.factory) as session:
        blocks = BlockList(session, read_all_up_to=read_all_up_to)
        assert blocks.complete is (read_all_up_to > 0)
        assert blocks.reason(" Spam@Junk.TEST ").startswith(
            "blocked sender: spam@junk.test (blocked by alice on "
        )
        assert blocks.reason("anyone@bulk.test").endswith(": newsletters)")
        assert blocks.reason("spam@junk.test") is not None
        assert blocks.reason("aoife.murphy@gmail.test") is None
        assert blocks.reason("353855550101") is None  # a WhatsApp sender: no domain
        blocks.record_hits(session)
    with rt.factory() as session:
        hits = dict(session.execute(select(BlockedSender.value, BlockedSender.hits)).all())
    assert hits == {"spam@junk.test": 2, "bulk.test": 1}
