"""Two workers parsing two DMs from one sender at the same moment (PostgreSQL: SQLite lets one
writer in at a time, so the race cannot happen there).

The first worker is held with its parse written but not committed; the second then parses the
other DM and is let through once it has finished or waits on the first's rows. Either way the
sender is one customer with one conversation holding both messages."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.db.models import Conversation, Customer, Message
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.parse_race import parse_at_once
from tests.social.payloads import post_meta, post_x, whatsapp_message, x_dm

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _parse_at_once(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """The two stored DMs parsed by two threads, the first held before its commit."""
    with rt.factory() as session:
        first, second = session.scalars(
            select(Message.id).where(Message.direction == "in").order_by(Message.id)
        )
    parse_at_once(rt, monkeypatch, first, second)
    with rt.factory() as session:
        return list(session.scalars(select(Message).where(Message.id.in_([first, second]))))


def _counts(rt: Runtime) -> tuple[int, int]:
    with rt.factory() as session:
        return (
            session.scalar(select(func.count(Customer.id))) or 0,
            session.scalar(select(func.count(Conversation.id))) or 0,
        )


def test_two_first_dms_from_a_new_sender_make_one_customer_and_one_conversation(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(rt)) as client:
        post_x(client, x_dm("My bill doubled", sender_id="4440001", event_id="2001"))
        post_x(client, x_dm("Hello?? anyone there", sender_id="4440001", event_id="2002"))
    first, second = _parse_at_once(rt, monkeypatch)
    assert first.state == second.state == "parsed"
    assert first.customer_id == second.customer_id is not None
    assert first.conversation_id == second.conversation_id is not None
    assert _counts(rt) == (1, 1), "no empty customer, no second conversation"
    with rt.factory() as session:
        customer = session.get(Customer, first.customer_id)
        identities = {(i.kind, i.value) for i in customer.identities}
    assert identities == {("x_id", "4440001"), ("x_handle", "aoifem")}


def test_two_dms_from_a_known_customer_at_once_share_one_new_conversation(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, demo_customers: None
) -> None:
    """Aoife is on file by her number, so neither worker adds anything that could collide: only
    the conversation start stands between them."""
    with rt.factory() as session:
        customers = session.scalar(select(func.count(Customer.id)))
    with TestClient(create_app(rt)) as client:
        post_meta(client, whatsapp_message("Roaming cost me 80 euro", wamid="wamid.r1"))
        post_meta(client, whatsapp_message("Can you refund it?", wamid="wamid.r2"))
    first, second = _parse_at_once(rt, monkeypatch)
    assert first.state == second.state == "parsed"
    assert first.customer_id == second.customer_id is not None
    assert first.conversation_id == second.conversation_id is not None
    assert _counts(rt) == (customers, 1)


def test_two_x_accounts_under_one_handle_at_once_link_one_x_id(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, demo_customers: None
) -> None:
    """Aoife's handle on file (@aoifem) changed owners between two DMs parsed at once: her own
    account links to her, the other account's DM makes a new customer; she never holds two X
    ids."""
    with TestClient(create_app(rt)) as client:
        post_x(client, x_dm("Is my contract up for renewal?", event_id="3001"))
        post_x(
            client,
            x_dm(
                "How do I move my number over to you?",
                sender_id="2220000001",
                name="Sam Porter",
                followers=5,
                event_id="3002",
            ),
        )
    hers, theirs = _parse_at_once(rt, monkeypatch)
    with rt.factory() as session:
        aoife = session.get(Customer, hers.customer_id)
        assert aoife.external_id == "C1001"
        assert [i.value for i in aoife.identities if i.kind == "x_id"] == ["3001969357"]
        assert theirs.customer_id != aoife.id
        newcomer = session.get(Customer, theirs.customer_id)
        assert newcomer.provisional and newcomer.name == "Sam Porter"
        assert {(i.kind, i.value) for i in newcomer.identities} == {("x_id", "2220000001")}
