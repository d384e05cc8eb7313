"""A draft written for an unknown sender follows the link to the known customer; a person's
edits are kept, and the review page says so and offers the redraft."""

from __future__ import annotations

import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Customer, Draft, Message, ReviewAction
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.customers.own_words import save_own_words
from tests.helpers import api_token, drop, make_email, staff
from tests.test_web_security import csrf, login

SENDER = "dbrennan.home@gmail.test"  # Declan Brennan (C1002), from an address not on file


def _from_declan(n: int, subject: str) -> bytes:
    return make_email(
        sender=SENDER,
        subject=subject,
        body=f"Hi, this is about customer number C1002. {subject}, please.",
        message_id=f"<home{n}@gmail.test>",
    )


def _draft_box(page: str) -> str:
    found = re.search(r'<textarea id="draft-body" name="body"[^>]*>([^<]*)</textarea>', page)
    assert found is not None
    return found.group(1)


def _latest(rt: Runtime, message_id: int) -> Draft:
    with rt.factory() as session:
        return session.scalars(
            select(Draft).where(Draft.message_id == message_id).order_by(Draft.version.desc())
        ).first()


def test_linking_redrafts_untouched_drafts_and_keeps_a_persons_edits_with_a_redraft_offer(
    rt: Runtime, worker: Worker, demo_customers: None
) -> None:
    drop(rt, _from_declan(1, "Roaming charges on my bill"), "one")
    drop(rt, _from_declan(2, "Please send my PAC code"), "two")
    worker.drain()
    with rt.factory() as session:
        untouched, edited = session.scalars(select(Message.id).order_by(Message.id)).all()
        declan_id = session.scalar(select(Customer.id).where(Customer.external_id == "C1002"))
        provisional_id = session.get(Message, untouched).customer_id
    assert _latest(rt, untouched).body.startswith("Hello,"), "written for an unknown sender"
    staff(rt)
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        own = save_own_words(client, edited)

        page = client.get(f"/messages/{untouched}")
        assert 'id="customer-changed"' not in page.text
        linked = client.post(
            f"/customers/{provisional_id}/link",
            data={
                "target_id": str(declan_id),
                "message_id": str(untouched),
                "_csrf_token": csrf(client, f"/messages/{untouched}"),
            },
        )
        assert str(linked.url).startswith(f"http://testserver.local/messages/{untouched}")
        assert "Linked to Declan Brennan. The draft was written again for them (v2)." in (
            linked.text
        )
        assert (
            "1 other waiting draft a person had edited was kept as written: its page offers a"
            " redraft." in linked.text
        )
        assert "Declan" in _draft_box(linked.text).split("\n")[0], "greets the known customer"
        assert 'id="customer-changed"' not in linked.text

        kept = client.get(f"/messages/{edited}")
        assert _draft_box(kept.text) == own, "a person's edits are never replaced unasked"
        assert "written before the customer was known to be Declan Brennan" in kept.text
        assert "A person has edited it since" in kept.text
        version = re.search(r'name="version" value="(\d+)"', kept.text).group(1)
        redrafted = client.post(
            f"/messages/{edited}/redraft",
            data={"version": version, "_csrf_token": csrf(client, f"/messages/{edited}")},
        )
        assert "The draft was written again for the customer" in redrafted.text
        assert "Declan" in _draft_box(redrafted.text).split("\n")[0]
        assert 'id="customer-changed"' not in redrafted.text
        stale = client.post(
            f"/api/messages/{edited}/redraft",
            headers=api_token(client),
            json={"version": int(version)},
        )
        assert stale.status_code == 409, "a page drawn before the redraft does not redraft again"
    with rt.factory() as session:
        redrafts = session.execute(
            select(ReviewAction.message_id, ReviewAction.detail).where(
                ReviewAction.action == "redraft"
            )
        ).all()
    assert [(m, d["for_customer"]) for m, d in redrafts] == [
        (untouched, declan_id),
        (edited, declan_id),
    ]
    assert _latest(rt, edited).version == 3, "v1 drafted, v2 the person's, v3 the redraft"
