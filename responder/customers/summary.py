"""The customer row summarises its active subscriptions, so templates keep one plan and spend.

A customer whose subscriptions are all cancelled (or moved to another customer) has no plan:
the summary is cleared rather than left at the last plan, so drafts do not name a plan the
customer left and the value score and tier no longer count its spend."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from responder.db.models import Customer, Subscription

LIVE = ("active", "suspended")


def summary_of(subscriptions: list[Subscription]) -> dict[str, object]:
    """Spend and lines add up; plan and contract dates are the biggest subscription's; with
    none live, no plan, spend, lines, add-ons or contract."""
    live = [s for s in subscriptions if s.status in LIVE]
    if not live:
        return {
            "plan": "",
            "monthly_spend": None,
            "lines": None,
            "addons": [],
            "contract_start": "",
            "contract_end": "",
        }
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
    """Each of these customers (whose subscriptions an import changed, or moved away) from the
    subscriptions they have now."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    by_customer: dict[int, list[Subscription]] = {customer_id: [] for customer_id in ids}
    for subscription in session.scalars(
        select(Subscription).where(Subscription.customer_id.in_(ids))
    ):
        by_customer[subscription.customer_id].append(subscription)
    session.execute(
        update(Customer),
        [
            {"id": customer_id, **summary_of(subscriptions)}
            for customer_id, subscriptions in by_customer.items()
        ],
    )
