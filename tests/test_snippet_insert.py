"""Finding an approved answer while editing a draft: the draft's suggestions, or any live
snippet by its words, in its newest version, rendered for the message's customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import numpy as np
import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Customer, Draft, Message, Snippet
from responder.db.session import transaction
from responder.knowledge.retrieve import restrictions
from responder.knowledge.snippet_search import related_snippets, search_snippets
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.supervisor.snippet_edit import save_snippet
from responder.web import snippet_insert
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


def test_related_snippets_rank_by_similarity_above_the_floor_in_the_language() -> None:
    items = [
        Item("a", "Stolen phone", ""),
        Item("b", "Hacked account", ""),
        Item("c", "Konto gehackt", "", language="de"),
        Item("d", "Roaming", ""),
    ]
    similarities = np.array([0.42, 0.68, 0.7, 0.12])
    found = related_snippets(similarities, items, "en")
    assert [(i.key, s) for i, s in found] == [("b", 0.68), ("a", 0.42)]
    assert [i.key for i, _ in related_snippets(similarities, items, None, exclude=["b"])] == [
        "c",
        "a",
    ]
    assert related_snippets(similarities, items, "en", limit=1)[0][0].key == "b"


def test_the_page_offers_the_drafts_suggestions_then_any_live_answer_by_words(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    staff(rt, "sue", "supervisor")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with rt.factory() as session:
        message_id = session.scalar(select(Message.id).where(Message.direction == "in"))
        customer_id = session.scalar(select(Message.customer_id).where(Message.id == message_id))
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
        assert not found["items"][0]["related"], "a word hit comes first, not marked related"
        nothing = client.get(f"/messages/{message_id}/snippets", params={"q": "zzyzx quokka"})
        assert nothing.json()["items"] == []

        # No snippet holds all these words; the one about a compromised account means the same.
        hacked = client.get(
            f"/messages/{message_id}/snippets", params={"q": "a stranger got into my login"}
        ).json()["items"]
        assert hacked and hacked[0]["key"] == "account-security-compromised", hacked
        assert all(i["related"] and i["similarity"] >= 0.3 for i in hacked)
        assert [i["similarity"] for i in hacked] == sorted(
            (i["similarity"] for i in hacked), reverse=True
        )
        assert hacked[0]["body"] and not hacked[0]["error"]

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
        # Writing a new message to the customer: no message to suggest from, words find it.
        for_customer = f"/customers/{customer_id}/snippets"
        assert client.get(for_customer).json()["items"] == []
        found = client.get(for_customer, params={"q": "spending cap"}).json()["items"]
        assert found[0]["body"] == cap["body"] and not found[0]["suggested"]

        assert client.get("/messages/999999/snippets").status_code == 404
        assert client.get("/customers/999999/snippets").status_code == 404


def test_an_answer_is_inserted_in_the_currency_and_locale_drafts_are_written_in(
    rt: Runtime, worker: Worker
) -> None:
    """A team billing in pounds: the answer put into the draft says £, as Responder's own
    drafts do, not the euro of the built-in default."""
    rt.settings = msgspec.structs.replace(
        rt.settings, drafting=msgspec.structs.replace(rt.settings.drafting, currency="GBP")
    )
    staff(rt, "alice")
    drop(rt, make_email(), "roaming")
    worker.drain()
    with transaction(rt.factory) as session:
        message_id = session.scalar(select(Message.id).where(Message.direction == "in"))
        session.add(
            Snippet(
                key="roaming-spending-cap",
                version=99,
                title="Spending cap",
                intents=["roaming"],
                body="Cap {{ 60 | money }} until {{ '2026-12-10' | date }}.",
            )
        )
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        found = client.get(f"/messages/{message_id}/snippets", params={"q": "cap"}).json()
    bodies = {i["key"]: i["body"] for i in found["items"]}
    assert bodies["roaming-spending-cap"] == "Cap £60.00 until 10 December 2026."


def _waiting_from(rt: Runtime, worker: Worker, tier: str) -> tuple[int, int]:
    """Aoife's cancellation, drafted, with Aoife now in `tier`: the message and her id."""
    staff(rt, "alice")
    body = "I want to cancel my contract at the end of the month, please tell me what to do."
    drop(rt, make_email(subject="Cancel my contract", body=body), "cancel")
    worker.drain()
    with transaction(rt.factory) as session:
        message = session.scalars(select(Message).where(Message.direction == "in")).one()
        session.get(Customer, message.customer_id).tier = tier
        return message.id, message.customer_id


def _offered(client: TestClient, url: str, words: str) -> tuple[list[str], dict[str, Any]]:
    """What the insert list offers for `words`: the keys ready to insert, and the answers
    listed as not for this customer (key -> the item)."""
    items = client.get(url, params={"q": words}).json()["items"]
    ready = [i["key"] for i in items if not i["not_for"] and not i["error"]]
    return ready, {i["key"]: i for i in items if i["not_for"]}


def test_an_offer_for_another_tier_is_listed_with_why_and_never_ready_to_insert(
    rt: Runtime, worker: Worker
) -> None:
    """A Worst-tier customer asking to cancel: "loyalty" finds the Best tier's 20% off, which
    the agent must not put in the reply; the list says it is Best tier only, without its text."""
    message_id, customer_id = _waiting_from(rt, worker, "Worst")
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        for url in (f"/messages/{message_id}/snippets", f"/customers/{customer_id}/snippets"):
            ready, barred = _offered(client, url, "loyalty")
            assert "retention-offer-best" not in ready, url
            offer = barred["retention-offer-best"]
            assert offer["not_for"] == ["Best tier only"]
            assert offer["body"] == "" and "20%" not in str(offer)
            items = client.get(url, params={"q": "loyalty"}).json()["items"]
            assert items[-1]["key"] == "retention-offer-best", "listed after every usable one"
        suggested = client.get(f"/messages/{message_id}/snippets").json()["items"]
        assert "retention-offer-best" not in [i["key"] for i in suggested if not i["not_for"]]

        with transaction(rt.factory) as session:
            session.get(Customer, customer_id).tier = "Best"
        ready, barred = _offered(client, f"/messages/{message_id}/snippets", "loyalty")
    assert "retention-offer-best" in ready and not barred, "a Best-tier customer gets it"


@pytest.mark.parametrize(
    ("moment", "timezone", "ended"),
    [
        (datetime(2026, 4, 1, 9, 0, tzinfo=UTC), "UTC", True),
        (datetime(2026, 3, 31, 21, 0, tzinfo=UTC), "UTC", False),  # its last day
        (datetime(2026, 3, 31, 22, 30, tzinfo=UTC), "Europe/Berlin", True),  # 00:30 on 1 April
    ],
)
def test_a_promotion_past_its_end_is_listed_as_ended_not_ready_to_insert(
    rt: Runtime,
    worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
    moment: datetime,
    timezone: str,
    ended: bool,
) -> None:
    """A spring promotion valid until 31 March, on the team's calendar (`[queue] timezone`)."""
    rt.settings = msgspec.structs.replace(
        rt.settings, queue=msgspec.structs.replace(rt.settings.queue, timezone=timezone)
    )
    message_id, _ = _waiting_from(rt, worker, "Worst")
    with transaction(rt.factory) as session:
        session.add(
            Snippet(
                key="spring-roaming-promotion",
                title="Spring roaming promotion",
                intents=["cancellation"],
                tags=["promotion"],
                body="Until the end of March, roaming in the USA is half price.",
                filters={"valid_until": "2026-03-31"},
            )
        )
    monkeypatch.setattr(snippet_insert, "utcnow", lambda: moment)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        ready, barred = _offered(client, f"/messages/{message_id}/snippets", "spring promotion")
    if ended:
        assert "spring-roaming-promotion" not in ready
        assert barred["spring-roaming-promotion"]["not_for"] == ["ended 31 Mar 2026"]
    else:
        assert ready[0] == "spring-roaming-promotion" and not barred


def test_why_a_snippet_is_not_for_a_customer_is_said_in_words() -> None:
    """Drafting's rule and the insert list's words are one function."""
    spring = date(2026, 4, 15)
    assert restrictions({}, "", "", spring) == []
    filters = {
        "plans": ["Business Pro", "Smart 20GB"],
        "tiers": ["Best"],
        "valid_from": "2026-05-01",
    }
    assert restrictions(filters, "Smart 20GB", "Best", spring) == ["starts 1 May 2026"]
    assert restrictions(filters, "Sim Only", "Average", date(2026, 5, 1)) == [
        "Business Pro or Smart 20GB plans only",
        "Best tier only",
    ]
    assert restrictions({"plans": ["Sim Only"], "valid_until": "2026-03-31"}, "", "", spring) == [
        "Sim Only plan only",
        "ended 31 Mar 2026",
    ]
