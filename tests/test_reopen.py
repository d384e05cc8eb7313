"""Reopen: a rejected message goes back to the review queue with its draft, from its page or the
API, and is answered once; refused while its sender is blocked or when the customer's later
message already has its reply; a message marked as spam is not spam once reopened."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import pytest
from litestar.testing import TestClient
from playwright.sync_api import expect
from sqlalchemy import select, update

from responder.dashboard import load_history, outcome_shares, review_time_by_person
from responder.db.models import AuditEntry, BlockedSender, Draft, Message, ReviewAction
from responder.db.session import transaction
from responder.due_times import recompute_due_times
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.browser_support import browser, log_in
from tests.helpers import api_token, drop, make_email, sent_replies, staff
from tests.live_server import serve
from tests.test_blocked_senders import message_id, spam
from tests.test_browser_small_screen import PHONE, off_screen, too_wide
from tests.test_web_security import csrf, login

ROAMING = "<roaming@mail.test>"


def waiting(rt: Runtime, worker: Worker, raw: bytes = b"", name: str = "roaming") -> int:
    drop(rt, raw or make_email(message_id=ROAMING), name)
    worker.drain()
    header = re.search(rb"Message-ID: (<[^>]+>)", raw).group(1).decode() if raw else ROAMING
    return message_id(rt, header)


def reject_by_api(client: TestClient, message: int, reason: str = "Answered by phone") -> None:
    done = client.post(
        f"/api/messages/{message}/reject",
        headers=api_token(client, "alice"),
        json={"reason": reason},
    )
    assert done.status_code == 201, done.text


def latest_draft(rt: Runtime, message: int) -> Draft:
    with rt.factory() as session:
        draft = session.scalars(
            select(Draft).where(Draft.message_id == message).order_by(Draft.version.desc())
        ).first()
        assert draft is not None
        return draft


def reopens(rt: Runtime, message: int) -> list[AuditEntry]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "message.reopen", AuditEntry.object_id == str(message)
                )
            )
        )


def test_reopened_from_its_page_with_its_draft_and_answered_once(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "bob")
    message = waiting(rt, worker)
    before = latest_draft(rt, message)
    page = f"/messages/{message}"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        offered = client.get(page).text  # said plainly: Reject closes it, it is no redraft
        assert ">Reject: close without reply</button>" in offered
        assert "The customer gets no reply at all" in offered
        client.post(
            f"{page}/reject",
            data={"reason": "Answered by phone", "_csrf_token": csrf(client, page)},
        )
        auth = api_token(client, "alice")
        search = {"q": "roaming", "state": "rejected"}
        found = client.get("/api/search", params=search, headers=auth).json()["messages"]
        assert [m["id"] for m in found] == [message]

        login(client, "bob")
        rejected = client.get(page).text
        assert 'id="reopen-button"' in rejected
        shown = rejected.split('id="rejected-draft">', 1)[1].split("</pre>", 1)[0]
        assert html.unescape(shown) == before.body, "the rejected draft is on the page"
        version = re.search(r'name="version" value="(\d+)"', rejected).group(1)
        landed = client.post(
            f"{page}/reopen",
            data={
                "reason": "Customer wrote that it is still open",
                "version": version,
                "_csrf_token": csrf(client, page),
            },
        )
        assert "Reopened: back in the queue for review, due " in landed.text
        assert 'id="draft-body"' in landed.text, "the draft is back in the editor"
        assert "reopened by bob " in landed.text
        assert ": Customer wrote that it is still open</li>" in landed.text
        queue = [item["id"] for item in client.get("/api/queue", headers=auth).json()]
        assert queue == [message]
        found = client.get("/api/search", params=search, headers=auth).json()["messages"]
        assert found == [], "no longer rejected"

        again = client.post(f"{page}/reopen", data={"_csrf_token": csrf(client, page)})
        assert "Not reopened: only a rejected message can be reopened (this one is awaiting " in (
            again.text
        )

        bob = api_token(client, "bob")
        approved = client.post(f"/api/messages/{message}/approve", headers=bob, json={})
        assert approved.status_code == 201, approved.text
        worker.drain()
        for action in ("approve", "reopen"):
            twice = client.post(f"/api/messages/{message}/{action}", headers=bob, json={})
            assert twice.status_code == 409, action
    worker.drain()
    (reply,) = sent_replies(rt)
    assert before.body.strip().splitlines()[0] in reply.get_body(("plain",)).get_content()
    assert latest_draft(rt, message).version == before.version, "the same draft, not a new one"
    (entry,) = reopens(rt, message)
    assert (entry.actor, entry.detail) == (
        "bob",
        {"reason": "Customer wrote that it is still open"},
    )

    with rt.factory() as session:
        rows, _ = load_history(session)
    (everyone,) = outcome_shares(rows)
    # One rejection and one approval: both decisions count, neither hides the other.
    assert (everyone["decided"], everyone["rejected"], everyone["approved"]) == (2, 1, 1)
    by_person = {str(t["group"]): t for t in outcome_shares(rows, lambda r: r.decided_by)}
    assert (by_person["alice"]["rejected"], by_person["alice"]["approved"]) == (1, 0)
    assert (by_person["bob"]["rejected"], by_person["bob"]["approved"]) == (0, 1)
    timed = {str(t["person"]): t["decided"] for t in review_time_by_person(rows)}
    assert timed == {"alice": 1, "bob": 1}


def test_reopened_through_the_api_due_later_by_the_time_it_spent_rejected(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    message = waiting(rt, worker)
    with rt.factory() as session:
        due = session.get(Message, message).due_at
    assert due is not None
    with TestClient(create_app(rt)) as client:
        reject_by_api(client, message)
        with transaction(rt.factory) as session:  # rejected three hours ago
            rejection = session.scalars(
                select(ReviewAction).where(
                    ReviewAction.message_id == message, ReviewAction.action == "reject"
                )
            ).one()
            rejection.created_at -= timedelta(hours=3)
        auth = api_token(client, "alice")
        done = client.post(f"/api/messages/{message}/reopen", headers=auth, json={})
        assert done.status_code == 201, done.text
        answer = done.json()
        assert answer["state"] == "in_review" and answer["redrafted"] is False
        assert answer["block_stays"] is None and answer["stale"] is False
        detail = client.get(f"/api/messages/{message}", headers=auth).json()
        assert detail["state"] == "in_review" and detail["state_reason"] == ""
        assert detail["actions"][-1]["action"] == "reopen"
        schema = client.get("/schema/openapi.json", headers=auth).json()
        documented = schema["paths"]["/api/messages/{message_id}/reopen"]["post"]
        assert documented["summary"].startswith("Put a rejected message back in the review")
        assert "409 when it is not rejected, its sender is blocked" in documented["description"]
        listed = client.get("/schema", headers=auth).text
        assert "<code>/api/messages/{message_id}/reopen</code>" in listed
    moved = datetime.fromisoformat(answer["due_at"]) - due
    assert timedelta(hours=3) <= moved < timedelta(hours=3, minutes=1)
    (entry,) = reopens(rt, message)
    assert (entry.actor, entry.detail) == ("alice", {}), "no reason typed, none logged"
    with transaction(rt.factory) as session:  # the SLA settings change: the pause still counts
        recompute_due_times(session, rt.settings.queue)
    with rt.factory() as session:
        assert session.get(Message, message).due_at == datetime.fromisoformat(answer["due_at"])


def test_not_reopened_while_the_sender_is_blocked(rt: Runtime, worker: Worker) -> None:
    staff(rt, "alice")
    staff(rt, "sam", role="supervisor")
    message = waiting(rt, worker)
    with TestClient(create_app(rt)) as client:
        reject_by_api(client, message)
        login(client, "sam")
        client.post(
            "/supervisor/blocked",
            data={
                "sender": "aoife.murphy@gmail.test",
                "reason": "abusive",
                "_csrf_token": csrf(client, "/supervisor/blocked"),
            },
        )
        login(client, "alice")
        page = client.get(f"/messages/{message}").text
        assert 'id="reopen-button"' not in page
        refused = page.split('id="reopen-refused">', 1)[1].split("</p>", 1)[0]
        assert "while its sender is blocked (aoife.murphy@gmail.test)" in refused
        assert "ask a supervisor to lift the block" in refused
        assert "/supervisor/blocked" not in refused, "an agent may not open that page"
        answer = client.post(
            f"/api/messages/{message}/reopen", headers=api_token(client, "alice"), json={}
        )
        assert answer.status_code == 409
        assert answer.json()["detail"].startswith(
            "the sender is blocked (aoife.murphy@gmail.test, by sam on "
        )
        assert "ask a supervisor to lift the block" in answer.json()["detail"]
        assert "/supervisor/blocked" not in answer.json()["detail"], "not a page for agents"
        offered = client.get(f"/api/messages/{message}", headers=api_token(client, "alice")).json()[
            "reopen"
        ]
        assert "ask a supervisor" in offered["refused"], "the message's own words, to an agent"
        landed = client.post(
            f"/messages/{message}/reopen",
            data={"_csrf_token": csrf(client, f"/messages/{message}")},
        )
        assert "Not reopened: the sender is blocked" in landed.text
        login(client, "sam")
        page = client.get(f"/messages/{message}").text
        refused = page.split('id="reopen-refused">', 1)[1].split("</p>", 1)[0]
        assert "lift the block under " in refused, "a supervisor gets the way to it"
        assert '<a href="/supervisor/blocked">Blocked senders</a>' in refused
        answer = client.post(
            f"/api/messages/{message}/reopen", headers=api_token(client, "sam"), json={}
        )
        assert answer.status_code == 409
        assert (
            "lift the block under Blocked senders (/supervisor/blocked)"
            in (answer.json()["detail"])
        ), "a supervisor is told the page"
        offered = client.get(f"/api/messages/{message}", headers=api_token(client, "sam")).json()
        assert "(/supervisor/blocked)" in offered["reopen"]["refused"]
    with rt.factory() as session:
        assert session.get(Message, message).state == "rejected"
    assert reopens(rt, message) == []


def test_not_reopened_when_the_customers_later_message_was_answered(
    rt: Runtime, worker: Worker
) -> None:
    """Reopening the older message would give the customer a second reply: refused, and the
    page links the message that was answered. A later message still waiting is no bar: the
    draft comes back marked as written before the customer wrote again."""
    staff(rt, "alice")
    first = waiting(rt, worker)
    later = make_email(
        message_id="<again@mail.test>",
        subject="Re: Roaming charges on my bill",
        body="Also, the charge appeared twice.",
        headers={"In-Reply-To": ROAMING},
    )
    second = waiting(rt, worker, later, "again")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "alice")
        reject_by_api(client, first)
        done = client.post(f"/api/messages/{first}/reopen", headers=auth, json={})
        assert done.status_code == 201 and done.json()["stale"] is True
        login(client, "alice")
        page = client.get(f"/messages/{first}").text
        assert (
            f'<a href="/messages/{second}">message {second}</a>'
            in page.split('id="stale-draft"', 1)[1]
        )

        reject_by_api(client, first)
        approved = client.post(f"/api/messages/{second}/approve", headers=auth, json={})
        assert approved.status_code == 201, approved.text
        worker.drain()
        refused = client.post(f"/api/messages/{first}/reopen", headers=auth, json={})
        assert refused.status_code == 409
        assert f"message {second} already has its reply" in refused.json()["detail"]
        page = client.get(f"/messages/{first}").text
        assert 'id="reopen-button"' not in page
        said = page.split('id="reopen-refused">', 1)[1].split("</p>", 1)[0]
        assert f'<a href="/messages/{second}">message {second}</a> already has its reply' in said
    assert len(sent_replies(rt)) == 1
    with rt.factory() as session:
        assert session.get(Message, first).state == "rejected"


def test_a_message_marked_as_spam_is_reopened_and_the_block_stays(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "sam", role="supervisor")
    message = waiting(rt, worker, spam(0), "spam-0")
    page = f"/messages/{message}"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        client.post(f"{page}/spam", data={"_csrf_token": csrf(client, page)})
        shown = client.get(page).text
        assert 'id="reopen-button"' in shown
        assert "but the block on deals@bulk-offers.test stays" in shown
        landed = client.post(f"{page}/reopen", data={"_csrf_token": csrf(client, page)})
        assert (
            "It is no longer marked as spam; the block on deals@bulk-offers.test stays (its new "
            "mail is still ignored) until a supervisor lifts it under Blocked senders."
            in landed.text
        )
        (block,) = client.get("/api/supervisor/blocked", headers=api_token(client, "sam")).json()[
            "items"
        ]
        assert block["marked_spam"] == [], "not offered back on the unblock form: it is back"
    with rt.factory() as session:
        reopened = session.get(Message, message)
        assert (reopened.state, reopened.state_reason) == ("in_review", "")
        assert session.scalar(select(BlockedSender.value)) == "deals@bulk-offers.test"


def test_a_draft_that_held_no_reply_is_written_afresh(rt: Runtime, worker: Worker) -> None:
    staff(rt, "alice")
    message = waiting(rt, worker)
    with transaction(rt.factory) as session:
        session.execute(
            update(Draft)
            .where(Draft.message_id == message)
            .values(body="", error="template roaming failed")
        )
    with TestClient(create_app(rt)) as client:
        reject_by_api(client, message)
        done = client.post(
            f"/api/messages/{message}/reopen", headers=api_token(client, "alice"), json={}
        ).json()
    assert done["redrafted"] is True and done["draft_version"] == 2
    fresh = latest_draft(rt, message)
    assert fresh.body.strip() and not fresh.error


# the layout does not depend on the database: the embedded one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reopen_in_a_browser_on_a_phone(rt: Runtime, worker: Worker) -> None:
    """The rejected page fits a phone with its Reopen button on screen; a click brings the draft
    back to the editor and the history names who reopened it."""
    staff(rt, "alice")
    message = waiting(rt, worker)
    with TestClient(create_app(rt)) as client:
        reject_by_api(client, message)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page(viewport=PHONE)
        log_in(page, base, "alice", "correct horse battery")
        page.goto(f"{base}/messages/{message}")
        assert too_wide(page, "rejected") == []
        assert off_screen(page, "rejected", "#reopen-button") == []
        page.fill("#reopen input[name=reason]", "The customer phoned back")
        page.click("#reopen-button")
        expect(page.locator("p.notice")).to_contain_text("Reopened: back in the queue for review")
        expect(page.locator("#draft-body")).to_be_visible()
        expect(page.locator("li", has_text="reopened by alice")).to_contain_text(
            "The customer phoned back"
        )
