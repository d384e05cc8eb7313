"""What Approve must refuse, and what it must not: no empty reply goes out, a draft the
conversation overtook while its page was open is not sent, and Undo works while the batch that
routed the message is still running."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import msgspec
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.bootstrap import pollers
from responder.db.models import Draft, Message, OutboxItem, utcnow
from responder.db.session import transaction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, sent_replies, staff
from tests.test_reply_files import form_of
from tests.test_web_security import login


def _uncertain(rt: Runtime, worker: Worker) -> int:
    """A message whose intent the classifier is not sure of: drafting leaves its draft empty."""
    rt.settings = msgspec.structs.replace(
        rt.settings,
        classify=msgspec.structs.replace(rt.settings.classify, intent_threshold=1.0),
    )
    staff(rt, "alice")
    drop(rt, make_email(), "uncertain")
    worker.drain()
    with rt.factory() as session:
        message = session.scalars(select(Message).where(Message.direction == "in")).one()
        draft = session.scalars(select(Draft).where(Draft.message_id == message.id)).one()
        assert (message.state, message.intent, draft.body) == ("in_review", "unknown", "")
        return message.id


def _editor(page: str) -> str:
    return html.unescape(
        page.split('id="draft-body"', 1)[1].split(">", 1)[1].split("</textarea>")[0]
    )


def test_approve_with_nothing_written_is_refused_on_the_page_and_the_api(
    rt: Runtime, worker: Worker
) -> None:
    message_id = _uncertain(rt, worker)
    page = f"/messages/{message_id}"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        shown = client.get(page).text
        assert "required" in shown.split('id="draft-body"', 1)[1].split(">", 1)[0]
        form = form_of(shown)
        for typed in ("", "  \r\n "):
            refused = client.post(f"{page}/approve", data={**form, "body": typed})
            assert refused.status_code == 409
            assert "The reply is empty: write a reply first<" in html.unescape(refused.text)
            assert _editor(refused.text) == typed, "what was sent stays, as sent"
        headers = api_token(client)
        for body in ({"body": ""}, {"body": " \n"}, {}):
            answer = client.post(f"/api/messages/{message_id}/approve", json=body, headers=headers)
            assert answer.status_code == 400, answer.text
            assert "write a reply first" in answer.json()["detail"]
        # Saving the emptied text is kept as work in progress; approving it still is not.
        saved = client.post(f"{page}/save", data={**form_of(client.get(page).text), "body": ""})
        assert saved.status_code == 200 and "Draft saved." in saved.text
        again = client.post(f"{page}/approve", data={**form_of(saved.text), "body": ""})
        assert again.status_code == 409 and "write a reply first" in again.text
    worker.drain()
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "in_review"
        assert session.scalars(select(OutboxItem)).all() == [], "no reply queued"
    assert sent_replies(rt) == []


def test_a_page_opened_before_the_customer_wrote_again_cannot_approve(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    drop(rt, make_email(), "first")
    worker.drain()
    with rt.factory() as session:
        first = session.scalars(select(Message.id).where(Message.direction == "in")).one()
    page = f"/messages/{first}"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        opened = client.get(page).text
        assert 'id="stale-draft"' not in opened
        form = form_of(opened)
        follow_up = make_email(
            subject="Re: Roaming charges on my bill",
            body="Forget the roaming: my phone was stolen last night, please block the SIM.",
            message_id="<m2@mail.test>",
            headers={"In-Reply-To": "<m1@mail.test>", "References": "<m1@mail.test>"},
        )
        drop(rt, follow_up, "second")
        worker.drain()
        for action in ("approve", "save"):
            refused = client.post(f"{page}/{action}", data={**form, "body": "Refund on its way."})
            assert refused.status_code == 409, action
            said = html.unescape(refused.text)
            assert "The customer wrote again since this draft was made: reload to read" in said
        headers = api_token(client)
        answer = client.post(
            f"/api/messages/{first}/approve",
            json={"version": int(form["version"])},
            headers=headers,
        )
        assert answer.status_code == 409 and "customer wrote again" in answer.json()["detail"]
        reloaded = client.get(page).text
        assert 'id="stale-draft"' in reloaded, "a fresh page says why"
    with rt.factory() as session:
        assert session.get(Message, first).state == "in_review"
        assert session.scalars(select(OutboxItem)).all() == [], "no reply queued"
    worker.drain()
    assert sent_replies(rt) == []


class _UndoWhileSending:
    """The email sender, with a person pressing Undo while the reply is being delivered."""

    def __init__(self, sender: Any, press: Any) -> None:
        self.sender, self.press = sender, press

    def deliver(self, reply: Any) -> Any:
        self.press()
        return self.sender.deliver(reply)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sender, name)


def test_undo_works_while_the_routing_batch_runs_and_not_once_sending(rt: Runtime) -> None:
    rt.settings = msgspec.structs.replace(
        rt.settings, outbound=msgspec.structs.replace(rt.settings.outbound, undo_seconds=30)
    )
    staff(rt, "alice")
    said: dict[str, Any] = {}
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        headers = api_token(client)

        def act(action: str, message_id: int) -> Any:
            return client.post(f"/api/messages/{message_id}/{action}", json={}, headers=headers)

        class PersonActsMidBatch(Worker):
            """The person approves, then undoes, between the batch's route and send stages."""

            def _run_stage(self, stage: Any, ids: list[int]) -> None:
                super()._run_stage(stage, ids)
                if stage.name == "route":
                    (message_id,) = ids
                    said["approve"] = act("approve", message_id)
                    said["undo"] = act("undo", message_id)

        drop(rt, make_email(), "roaming")
        PersonActsMidBatch(rt, pollers(rt)).drain()
        assert said["approve"].status_code == 201, said["approve"].text
        assert said["undo"].status_code == 201, said["undo"].text
        assert said["undo"].json()["state"] == "in_review"
        with rt.factory() as session:
            message = session.scalars(select(Message).where(Message.direction == "in")).one()
            assert message.state == "in_review" and message.claimed_by is None
            assert session.scalars(select(OutboxItem)).all() == []
        assert sent_replies(rt) == [], "the undone reply was not sent by the batch"

        # Approved again, and its window over: once its reply is being sent, Undo is refused.
        assert act("approve", message.id).status_code == 201
        with transaction(rt.factory) as session:
            session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        worker = Worker(rt, pollers(rt))
        email = rt.sender.email  # type: ignore[attr-defined]
        rt.sender.email = _UndoWhileSending(  # type: ignore[attr-defined]
            email, lambda: said.__setitem__("late", act("undo", message.id))
        )
        worker.drain()
    assert said["late"].status_code == 409
    assert "too late to undo" in said["late"].json()["detail"]
    assert len(sent_replies(rt)) == 1, "sent once"


def test_a_draft_reopened_after_a_snooze_is_not_said_to_be_back_from_one(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        message_id = session.scalars(select(Message.id).where(Message.direction == "in")).one()
    page = f"/messages/{message_id}"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        headers = api_token(client)
        until = (utcnow() + timedelta(hours=2)).isoformat()
        snoozed = client.post(
            f"/api/messages/{message_id}/snooze", json={"until": until}, headers=headers
        )
        assert snoozed.status_code == 201, snoozed.text
        assert client.post(f"/api/messages/{message_id}/wake", headers=headers).status_code == 201
        assert 'id="back-from-snooze"' in client.get(page).text
        (item,) = client.get("/api/queue", headers=headers).json()
        assert item["back_from_snooze"] is True
        rejected = client.post(
            f"/api/messages/{message_id}/reject",
            json={"reason": "answered by phone"},
            headers=headers,
        )
        assert rejected.status_code == 201, rejected.text
        reopened = client.post(f"/api/messages/{message_id}/reopen", json={}, headers=headers)
        assert reopened.status_code == 201, reopened.text
        assert 'id="back-from-snooze"' not in client.get(page).text
        (item,) = client.get("/api/queue", headers=headers).json()
        assert item["back_from_snooze"] is False

        # Rejected where it sleeps (answered by phone meanwhile), then reopened: not back from
        # a snooze either.
        snoozed = client.post(
            f"/api/messages/{message_id}/snooze", json={"until": until}, headers=headers
        )
        assert snoozed.status_code == 201, snoozed.text
        rejected = client.post(
            f"/api/messages/{message_id}/reject", json={"reason": "phoned"}, headers=headers
        )
        assert rejected.status_code == 201, rejected.text
        reopened = client.post(f"/api/messages/{message_id}/reopen", json={}, headers=headers)
        assert reopened.status_code == 201, reopened.text
        (item,) = client.get("/api/queue", headers=headers).json()
        assert item["back_from_snooze"] is False
        assert 'id="back-from-snooze"' not in client.get(page).text
