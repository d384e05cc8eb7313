"""Search finds a customer's messages and the customer, on both databases."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Customer, Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import login


def test_search_finds_messages_and_customers_by_address_words_and_literal_wildcards(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, make_email(), "aoife")
    drop(
        rt,
        make_email(
            sender="Hannah Schmidt <hannah.schmidt@mail.test>",
            subject="50%_off offer?",
            body="My order NW-771035 still has not arrived. Where is it?",
            message_id="<m2@mail.test>",
        ),
        "hannah",
    )
    drop(
        rt,
        make_email(
            sender="Karl Jensen <karl.jensen@mail.test>",
            subject="500 off the new phone",
            body="Is the discount still on?",
            message_id="<m3@mail.test>",
        ),
        "karl",
    )
    worker.drain()
    staff(rt)
    with rt.factory() as session:
        ids = dict(session.execute(select(Message.sender_address, Message.id)).all())
        aoife = session.scalar(select(Customer).where(Customer.name == "Aoife Murphy"))
        assert aoife is not None
    with TestClient(create_app(rt)) as client:
        auth = api_token(client)

        def found(query: str) -> tuple[list[int], list[int]]:
            answer = client.get("/api/search", params={"q": query}, headers=auth).json()
            return [m["id"] for m in answer["messages"]], [c["id"] for c in answer["customers"]]

        messages, customers = found("  AOIFE.murphy@gmail ")
        assert messages == [ids["aoife.murphy@gmail.test"]]
        assert aoife.id in customers, "the customer, by the email address on file"
        assert found("nw-771035")[0] == [ids["hannah.schmidt@mail.test"]], "words of the mail"
        assert found("50%_")[0] == [ids["hannah.schmidt@mail.test"]], "% and _ are literal"
        assert found("no such words anywhere") == ([], [])
        assert found("\x00") == ([], [])
        pasted = client.get("/api/search", params={"q": "NW-" + "7" * 5000}, headers=auth)
        assert pasted.status_code == 200 and len(pasted.json()["query"]) == 200
        short = client.get("/api/search", params={"q": "a"}, headers=auth).json()
        assert short["too_short"] and short["messages"] == []

        login(client, "alice")
        page = client.get("/search", params={"q": "Murphy"}).text
        assert f'href="/messages/{ids["aoife.murphy@gmail.test"]}"' in page
        assert f'href="/customers/{aoife.id}"' in page
        assert 'value="Murphy"' in page
        assert re.search(r'id="too-short"', client.get("/search", params={"q": "a"}).text)
