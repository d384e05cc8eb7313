"""The queue shows which customers sound upset and filters by mood; an agent's correction of the
sentiment moves the message at once."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import login

ANGRY = "This is a disgrace. Third time I write and nobody answers! Fix my bill or I am leaving."
CALM = "Hello, could you tell me when my contract ends? Thanks a lot, have a nice day."


def rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-id="(\d+)"[^>]*>(.*?)</tr>', page, re.S))


def test_upset_customers_are_marked_and_filtered(rt: Runtime, worker: Worker) -> None:
    staff(rt, "alice")
    drop(rt, make_email(subject="Bill again", body=ANGRY, message_id="<angry@mail.test>"), "a")
    drop(rt, make_email(subject="Contract end", body=CALM, message_id="<calm@mail.test>"), "b")
    worker.drain()
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.subject, Message.id)).all())
        moods = dict(session.execute(select(Message.subject, Message.sentiment)).all())
    assert moods["Bill again"] == "negative" and moods["Contract end"] != "negative"
    angry, calm = str(ids["Bill again"]), str(ids["Contract end"])

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/queue").text
        shown = rows(page)
        assert 'class="upset"' in shown[angry] and "upset" not in shown[calm]
        assert '<option value="negative" >Negative (1)</option>' in page

        upset_only = client.get("/queue", params={"sentiment": "negative"}).text
        assert list(rows(upset_only)) == [angry]
        assert '<span class="count" id="total">1</span>' in upset_only

        auth = api_token(client, "alice")
        api = client.get("/api/queue/page", headers=auth, params={"sentiment": "negative"}).json()
        assert [i["id"] for i in api["items"]] == [int(angry)] and api["counts"]["total"] == 1
        listed = client.get("/api/queue", headers=auth, params={"sentiment": "negative"}).json()
        assert [i["id"] for i in listed] == [int(angry)]

        corrected = client.post(
            f"/api/messages/{angry}/classification",
            headers=auth,
            json={"classifier": "sentiment", "label": "neutral"},
        )
        assert corrected.status_code == 201, corrected.text
        after = client.get("/queue", params={"sentiment": "negative"}).text
        assert rows(after) == {}
        assert "upset" not in rows(client.get("/queue").text)[angry]
