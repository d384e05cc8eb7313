"""The draft stage reads its batch's customer records together: one customer's history, counts
and churn signals must never leak into another's, and each gets exactly what reading it alone
gives."""

from __future__ import annotations

from datetime import timedelta

from responder.channels.maildir_source import ensure_channel
from responder.customers.view import read_records, timelines
from responder.db.models import (
    Customer,
    Interaction,
    Message,
    Subscription,
    SupportCase,
    utcnow,
)
from responder.db.session import transaction
from responder.pipeline.states import State
from responder.runtime import Runtime


def _seed(rt: Runtime) -> tuple[int, int]:
    channel_id = ensure_channel(rt.factory, "support", "maildir", "support@example.test")
    now = utcnow()
    with transaction(rt.factory) as session:
        aoife = Customer(name="Aoife Murphy", external_id="C-1")
        brian = Customer(name="Brian Kelly", external_id="C-2")
        session.add_all([aoife, brian])
        session.flush()
        inbound = [
            (aoife, 1, "negative"),
            (aoife, 2, "negative"),
            (aoife, 40, "positive"),
            (brian, 0, "positive"),
        ]
        for n, (customer, days_ago, sentiment) in enumerate(inbound):
            session.add(
                Message(
                    channel_id=channel_id,
                    external_key=f"m-{n}",
                    raw=b"x",
                    raw_size=1,
                    state=State.IN_REVIEW,
                    customer_id=customer.id,
                    subject=f"message {n}",
                    received_at=now - timedelta(days=days_ago, hours=1),
                    classification={"sentiment": {"label": sentiment, "confidence": 0.9}},
                )
            )
        session.add(
            Interaction(
                external_id="call-1",
                customer_id=aoife.id,
                channel="phone",
                at=now - timedelta(days=3),
                summary="called about the bill",
            )
        )
        session.add(
            Subscription(
                external_id="S-1", customer_id=aoife.id, plan="Smart 20GB", monthly_spend=25.0
            )
        )
        session.add(
            SupportCase(
                external_id="K-1", customer_id=aoife.id, category="billing", subject="bill shock"
            )
        )
        return aoife.id, brian.id


def test_batch_records_keep_each_customer_apart(rt: Runtime) -> None:
    aoife, brian = _seed(rt)
    now = utcnow()
    with rt.factory() as session:
        both = read_records(session, [aoife, brian], rt.settings, now)
        alone = {c: read_records(session, [c], rt.settings, now) for c in (aoife, brian)}
        since = now - timedelta(days=14)
        # Aoife: two messages and one call in the last 14 days (the 40-day-old one is out).
        assert both.contacts_since(aoife, since) == 3
        assert both.contacts_since(brian, since) == 1
        assert both.sentiments[aoife] == ("negative", "negative")
        assert both.sentiments[brian] == ("positive",)
        assert [s["plan"] for s in both.subscriptions[aoife]] == ["Smart 20GB"]
        assert both.subscriptions[brian] == [] and both.cases[brian] == []
        assert [c["category"] for c in both.cases[aoife]] == ["billing"]
        assert [e["subject"] for e in both.timelines[brian]] == ["message 3"]
        assert [e["type"] for e in both.timelines[aoife]] == [
            "message",
            "message",
            "interaction",
            "message",
        ]
        for customer in (aoife, brian):
            assert both.timelines[customer] == alone[customer].timelines[customer]
            assert both.subscriptions[customer] == alone[customer].subscriptions[customer]
            assert both.cases[customer] == alone[customer].cases[customer]
            assert both.sentiments[customer] == alone[customer].sentiments[customer]
            assert both.contacts_since(customer, since) == alone[customer].contacts_since(
                customer, since
            )
        # The limit applies per customer: Brian's one message is not crowded out by Aoife's.
        newest = timelines(session, [aoife, brian], limit=2)
        assert [e["subject"] for e in newest[aoife]] == ["message 0", "message 1"]
        assert [e["subject"] for e in newest[brian]] == ["message 3"]
