"""The customer row summarises its active subscriptions, so templates keep one plan and spend."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from responder.db.models import Customer, Subscription

LIVE = ("active", "suspended")


def summary_of(subscriptions: list[Subscription]) -> dict[str, object]:
    """Spend and lines add up; plan and contract dates are the biggest subscription's."""
    live = [s for s in subscriptions if s.status in LIVE]
    if not live:
        return {}
    main = max(live, key=lambda s: (s.monthly_spend or 0.0, s.lines or 0))
    addons: list[str] = []
    for subscription in live:
        addons += [a for a in subscription.addons or () if a not in addons]
    return {
        "plan": main.plan,
        "monthly_spend": round(sum(s.monthly_spend or 0.0 for s in live), 2),
        "lines": sum(s.lines or 0 for s in live) or None,
        "addons": addons,
        "contract_start": main.contract_start,
        "contract_end": main.contract_end,
    }


def summarise_subscriptions(session: Session, customer_ids: Iterable[int]) -> None:
    ids = sorted(set(customer_ids))
    if not ids:
        return
    by_customer: dict[int, list[Subscription]] = {}
    for subscription in session.scalars(
        select(Subscription).where(Subscription.customer_id.in_(ids))
    ):
        by_customer.setdefault(subscription.customer_id, []).append(subscription)
    updates = []
    for customer_id, subscriptions in by_customer.items():
        values = summary_of(subscriptions)
        if values:
            updates.append({"id": customer_id, **values})
    if updates:
        session.execute(update(Customer), updates)
