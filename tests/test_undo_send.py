"""Undo send: a person's approved reply waits `[outbound] undo_seconds`; inside that window
"Undo send" stops it and puts the approved text back as the draft. Once a worker has claimed the
reply, it is too late, and nothing is sent twice or lost."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.dashboard import load_history
from responder.db.models import Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.review import AlreadyHandled, approve, current_draft, undo_approval
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.views import message_detail
from tests.browser_support import on_sqlite_only
from tests.helpers import api_token, drop, make_email, sent_replies, staff, staff_member
from tests.test_web_security import login

EDITED = "Hello Aoife,\n\nRoaming in Spain is included: we have refunded the 80 euro.\n"


def _waiting(rt: Runtime, worker: Worker, undo_seconds: float = 30) -> int:
    rt.settings = msgspec.structs.replace(
        rt.settings,
        outbound=msgspec.structs.replace(rt.settings.outbound, undo_seconds=undo_seconds),
    )
    staff(rt, "alice")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.direction == "in")).one()


def _goes_out(rt: Runtime, message_id: int) -> str:
    """When the waiting reply may be claimed, as the page shows it (UTC, to the second)."""
    with rt.factory() as session:
        return f"{session.get(Message, message_id).next_attempt_at:%H:%M:%S}"


def _window_ends(rt: Runtime, message_id: int) -> None:
    """What the clock does: the undo window is over, the reply is claimable."""
    with transaction(rt.factory) as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def test_undo_inside_the_window_stops_the_reply_and_keeps_the_edit(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _waiting(rt, worker)
    with transaction(rt.factory) as session:
        approve(session, message_id, staff_member(session), rt.settings.outbound, body=EDITED)
    worker.drain()
    assert sent_replies(rt) == [], "the reply waits out its undo window"

    with transaction(rt.factory) as session:
        undo_approval(session, message_id, staff_member(session))
    with rt.factory() as session:
        message = session.get(Message, message_id)
        assert message.state == "in_review" and message.next_attempt_at is None
        assert session.scalars(select(OutboxItem)).all() == []
        assert current_draft(session, message_id).body == EDITED, "the approved text is kept"
    _window_ends(rt, message_id)
    worker.drain()
    assert sent_replies(rt) == [], "an undone reply is never sent"

    # Approved again, it goes out once the window is over: once, with the kept text.
    with transaction(rt.factory) as session:
        approve(session, message_id, staff_member(session), rt.settings.outbound)
    _window_ends(rt, message_id)
    worker.drain()
    (reply,) = sent_replies(rt)
    assert "refunded the 80 euro" in reply.get_body(("plain",)).get_content()
    with rt.factory() as session:
        rows, _ = load_history(session)
    (row,) = rows
    assert row.outcome == "edited", (
        "the dashboard counts the decision that stood, not the undone one"
    )
    with rt.factory() as session:
        history = [a["words"] for a in message_detail(session, message_id)["actions"]]
    assert history == ["approved with edits", "approval undone", "approved with edits"]


def test_once_a_worker_has_the_reply_undo_is_refused(rt: Runtime, worker: Worker) -> None:
    message_id = _waiting(rt, worker)
    with transaction(rt.factory) as session:
        approve(session, message_id, staff_member(session), rt.settings.outbound)
    with transaction(rt.factory) as session:  # a worker's lease on it
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(claimed_by="w1", claimed_until=utcnow() + timedelta(seconds=60))
        )
    with pytest.raises(AlreadyHandled, match="too late to undo"), transaction(rt.factory) as s:
        undo_approval(s, message_id, staff_member(s))
    with transaction(rt.factory) as session:
        session.execute(update(Message).where(Message.id == message_id).values(claimed_until=None))
    _window_ends(rt, message_id)
    worker.drain()
    assert len(sent_replies(rt)) == 1
    with pytest.raises(AlreadyHandled, match="too late to undo"), transaction(rt.factory) as s:
        undo_approval(s, message_id, staff_member(s))
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "sent"


def test_the_next_page_offers_undo_and_the_api_refuses_it_twice(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _waiting(rt, worker)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        token = page.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
        version = page.split('name="version" value="', 1)[1].split('"', 1)[0]
        approved = client.post(
            f"/messages/{message_id}/approve",
            data={"_csrf_token": token, "body": EDITED, "version": version},
            follow_redirects=True,
        )
        assert f'action="/messages/{message_id}/undo"' in approved.text
        assert "Reply to Aoife Murphy (Roaming charges" in approved.text
        assert f"it goes out at {_goes_out(rt, message_id)} UTC" in approved.text
        # Back on the message itself (k, or its link) inside the window, Undo is offered too.
        assert 'id="undo-button"' in client.get(f"/messages/{message_id}").text
        undone = client.post(
            f"/messages/{message_id}/undo", data={"_csrf_token": token}, follow_redirects=True
        )
        assert "Not sent: the reply is back here as a draft." in undone.text
        assert "refunded the 80 euro" in undone.text
        again = client.get(str(approved.url))
        assert again.status_code == 200 and 'id="undo"' not in again.text, "no Undo for it now"

        headers = api_token(client)
        version = client.get(f"/api/messages/{message_id}", headers=headers).json()["version"]
        approved = client.post(
            f"/api/messages/{message_id}/approve", json={"version": version}, headers=headers
        )
        assert approved.status_code == 201, approved.text
        first = client.post(f"/api/messages/{message_id}/undo", headers=headers)
        assert (first.status_code, first.json()["state"]) == (201, "in_review")
        again = client.post(f"/api/messages/{message_id}/undo", headers=headers)
        assert again.status_code == 409
    worker.drain()
    assert sent_replies(rt) == []


@on_sqlite_only
def test_approve_then_undo_by_keyboard_in_the_browser(rt: Runtime, worker: Worker) -> None:
    from playwright.sync_api import expect

    from tests.browser_support import browser, log_in
    from tests.live_server import serve

    message_id = _waiting(rt, worker)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        log_in(page, base, "alice", "correct horse battery")
        page.goto(f"{base}/messages/{message_id}")
        drafted = page.locator("#draft-body").input_value()
        page.keyboard.press("a")  # approve: the last draft, so the queue page comes next
        page.wait_for_url(lambda url: "/queue" in url)
        expect(page.locator("#undo")).to_contain_text(f"it goes out at {_goes_out(rt, message_id)}")
        page.keyboard.press("z")
        page.wait_for_url(f"{base}/messages/{message_id}?*")
        expect(page.locator("p.notice")).to_have_text(
            "Not sent: the reply is back here as a draft."
        )
        assert page.locator("#draft-body").input_value() == drafted
    worker.drain()
    assert sent_replies(rt) == []
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "in_review"


def test_a_reply_approved_while_its_batch_is_claimed_still_waits_its_window(
    rt: Runtime, worker: Worker
) -> None:
    """The person approves between the worker's route and send stages of one claimed batch:
    the send stage leaves it to the window, and Undo still works once the batch is released."""
    from responder.bootstrap import pollers
    from responder.pipeline.worker import Worker as RealWorker

    rt.settings = msgspec.structs.replace(
        rt.settings, outbound=msgspec.structs.replace(rt.settings.outbound, undo_seconds=30)
    )
    staff(rt, "alice")

    class PersonApprovesMidBatch(RealWorker):
        def _run_stage(self, stage: object, ids: list[int]) -> None:
            super()._run_stage(stage, ids)  # type: ignore[arg-type]
            if getattr(stage, "name", "") == "route":
                with transaction(rt.factory) as session:
                    for message_id in ids:
                        approve(session, message_id, staff_member(session), rt.settings.outbound)

    drop(rt, make_email(), "roaming")
    PersonApprovesMidBatch(rt, pollers(rt)).drain()
    assert sent_replies(rt) == []
    with rt.factory() as session:
        message_id, state = session.execute(select(Message.id, Message.state)).one()
    assert state == "approved"
    with transaction(rt.factory) as session:
        undo_approval(session, message_id, staff_member(session))
    worker.drain()
    assert sent_replies(rt) == []


def test_a_reply_waiting_to_retry_is_not_offered_for_undo(rt: Runtime, worker: Worker) -> None:
    """A temporary delivery failure puts the reply back to wait for its retry: that wait is not
    an undo window, so the page offers no Undo and the API refuses it."""
    message_id = _waiting(rt, worker)
    with transaction(rt.factory) as session:
        approve(session, message_id, staff_member(session), rt.settings.outbound)
    with transaction(rt.factory) as session:  # what the send stage does after a 4xx answer
        session.execute(
            update(OutboxItem).where(OutboxItem.message_id == message_id).values(attempts=1)
        )
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert 'id="undo-button"' not in client.get(f"/messages/{message_id}").text
        refused = client.post(f"/api/messages/{message_id}/undo", headers=api_token(client))
    assert refused.status_code == 400 and "already been tried" in refused.text
