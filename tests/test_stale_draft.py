"""Two tabs on one draft: the one saved second is refused, and its typing stays on the page; a
colleague assigning the draft meanwhile refuses neither."""

from __future__ import annotations

import html

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Draft, Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_reply_files import form_of
from tests.test_web_security import login


def test_a_refused_save_or_approve_keeps_what_the_person_typed(rt: Runtime, worker: Worker) -> None:
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    drop(rt, make_email(), "stale")
    worker.drain()
    with rt.factory() as session:
        message_id = session.scalars(select(Message.id).where(Message.direction == "in")).one()
    page = f"/messages/{message_id}"
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        first_tab, second_tab = form_of(client.get(page).text), form_of(client.get(page).text)
        # A supervisor hands the draft to alice meanwhile: the text did not change, so neither
        # page is stale for it.
        assigned = client.post(
            f"/api/messages/{message_id}/assign",
            headers=api_token(client, "sue"),
            json={"assignee": "alice"},
        )
        assert assigned.status_code == 201, assigned.text
        saved = client.post(f"{page}/save", data={**first_tab, "body": "Saved in the first tab."})
        assert "Draft saved." in saved.text
        typed = "Hello Aoife,\n\nTyped in the second tab: <keep> & this.\n"
        for action in ("save", "approve"):
            refused = client.post(f"{page}/{action}", data={**second_tab, "body": typed})
            assert refused.status_code == 409, action
            assert "changed since you opened it" in refused.text
            unsaved = refused.text.split('id="unsaved-body"', 1)[1].split("</textarea>", 1)[0]
            assert html.unescape(unsaved.split(">", 1)[1]) == typed, "typed text kept as typed"
            editor = refused.text.split('id="draft-body"', 1)[1].split("</textarea>", 1)[0]
            assert "Saved in the first tab." in editor, "the editor holds the draft as it is"
        merged = client.post(
            f"{page}/save",
            data={**form_of(client.get(page).text), "body": "Both tabs' text."},
        )
        assert "Draft saved." in merged.text, "the next save from the page goes through"
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "in_review", "nothing was approved"
        latest = session.scalars(
            select(Draft.body).where(Draft.message_id == message_id).order_by(Draft.version.desc())
        ).first()
    assert latest.strip() == "Both tabs' text."
