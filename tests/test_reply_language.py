"""The reply's language follows the detector only when it is sure: a short message reads as
almost any language, and an Irish customer writing in Irish is not Spanish."""

from __future__ import annotations

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Draft, Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import drop, make_email, staff
from tests.test_web_security import login


def _taken_in(rt: Runtime, worker: Worker, subject: str, body: str, header: str) -> Message:
    raw = make_email(
        sender="Cian Byrne <cian.byrne@mail.test>", subject=subject, body=body, message_id=header
    )
    drop(rt, raw, header.strip("<>"))
    worker.drain()
    with rt.factory() as session:
        return session.scalars(select(Message).where(Message.message_id_header == header)).one()


def _draft(rt: Runtime, message: Message) -> Draft:
    with rt.factory() as session:
        return session.scalars(
            select(Draft).where(Draft.message_id == message.id).order_by(Draft.version.desc())
        ).first()


def test_a_short_message_is_answered_in_english_not_in_a_guessed_language(
    rt: Runtime, worker: Worker
) -> None:
    message = _taken_in(rt, worker, "", "still no signal", "<short@mail.test>")
    assert message.classification["language"]["label"] == "sv", "the guess is kept to be seen"
    assert message.language is None, "but not acted on"
    draft = _draft(rt, message)
    assert draft.grounding["template"]["key"].endswith(".en.j2")
    assert draft.grounding["flags"] == [], "no warning about a Swedish customer"
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message.id}").text
    assert "Swedish" in page and "too unsure to choose the reply's language" in page


def test_an_irish_message_is_read_as_irish(rt: Runtime, worker: Worker) -> None:
    message = _taken_in(
        rt,
        worker,
        "Fadhb leis an mbille",
        "Dia dhuit, tá fadhb agam leis an mbille. Tá sé i bhfad ró-ard an mhí seo.",
        "<irish@mail.test>",
    )
    assert message.language == "ga", "Spanish, before Irish was among the languages"
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message.id}").text
    assert "<strong>Irish</strong>" in page
