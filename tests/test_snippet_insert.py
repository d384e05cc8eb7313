"""Finding an approved answer while editing a draft: the draft's suggestions, or any live
snippet by its words, in its newest version, rendered for the message's customer."""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Draft, Message, Snippet
from responder.db.session import transaction
from responder.knowledge.snippet_search import search_snippets
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.supervisor.snippet_edit import save_snippet
from responder.web.app import create_app
from tests.helpers import drop, make_email, staff
from tests.test_web_security import login


@dataclass
class Item:
    key: str
    title: str
    body: str
    language: str = "en"
    tags: list[str] = field(default_factory=list)


def test_every_word_must_match_and_title_hits_rank_first() -> None:
    items = [
        Item("a", "Data in the EU", "Roaming data works in every EU country."),
        Item("b", "Roaming data cap", "A cap on data outside the EU."),
        Item("c", "Port-out", "Your PAC code for the move."),
        Item("d", "Roaming auf Deutsch", "Roaming data in der EU.", language="de"),
        Item("e", "Bill shock", "Charges explained.", tags=["roaming", "data"]),
    ]
    assert [i.key for i in search_snippets(items, "roaming DATA", "en")] == ["b", "e", "a"]
    assert [i.key for i in search_snippets(items, "roaming data")] == ["b", "e", "a", "d"]
    assert search_snippets(items, "roaming pac", "en") == []
    assert search_snippets(items, " ,; ", "en") == []


def test_the_page_offers_the_drafts_suggestions_then_any_live_answer_by_words(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        message_id = session.scalar(select(Message.id).where(Message.direction == "in"))
        draft = session.scalar(select(Draft).where(Draft.message_id == message_id))
        suggested = [c["key"] for c in draft.grounding["candidates"]]
    assert suggested, "the roaming email has retrieval candidates"

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        assert 'id="insert-snippet"' in client.get(f"/messages/{message_id}").text
        offered = client.get(f"/messages/{message_id}/snippets").json()
        assert [i["key"] for i in offered["items"]] == suggested
        assert all(i["suggested"] and i["body"] for i in offered["items"])

        found = client.get(f"/messages/{message_id}/snippets", params={"q": "spending cap"}).json()
        keys = [i["key"] for i in found["items"]]
        assert keys[0] == "roaming-spending-cap"
        assert "EUR 60 per bill period" in found["items"][0]["body"]
        nothing = client.get(f"/messages/{message_id}/snippets", params={"q": "zzyzx quokka"})
        assert nothing.json()["items"] == []

        # A supervisor's new version is what is offered, rendered for this customer.
        with transaction(rt.factory) as session:
            live = session.scalar(select(Snippet.id).where(Snippet.key == "roaming-spending-cap"))
            save_snippet(
                session,
                rt.settings,
                live,
                "{{ customer.first_name }}, your roaming data cap is EUR 50 a bill period.",
                "sue",
            )
        found = client.get(f"/messages/{message_id}/snippets", params={"q": "spending cap"}).json()
        cap = next(i for i in found["items"] if i["key"] == "roaming-spending-cap")
        assert cap["version"] == 2 and not cap["error"]
        assert cap["body"] == "Aoife, your roaming data cap is EUR 50 a bill period."

        assert client.get("/messages/999999/snippets").status_code == 404
