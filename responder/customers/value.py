"""Value tiers by percentile of monthly spend: a first cut the customer issue refines."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Customer

TIERS = (("Best", 0.8), ("Average", 0.3), ("Worst", 0.0))


def tier_for(percentile: float) -> str:
    return next(name for name, cut in TIERS if percentile >= cut)


def recompute_tiers(session: Session) -> None:
    customers = session.scalars(select(Customer).where(Customer.provisional.is_(False))).all()
    ranked = sorted(customers, key=lambda c: c.monthly_spend or 0.0)
    count = len(ranked)
    for position, customer in enumerate(ranked):
        percentile = position / max(count - 1, 1)
        customer.value_score = round(percentile, 4)
        customer.tier = tier_for(percentile)
