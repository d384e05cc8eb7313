"""Value score and tiers: a formula the supervisor configures, with its parts kept as reasons.

score = w_spend x monthly spend
      + w_projected x (spend x contract months left + line value x extra lines + upgrade value)
      + w_influence x log10(1 + followers)
      + w_tenure x years as a customer
Tiers are by percentile of the score among known (not provisional) customers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from responder.config import ValueSettings
from responder.db.models import Customer

RESCORE_BATCH = 1000


@dataclass(frozen=True)
class ValueInputs:
    monthly_spend: float | None
    contract_start: str = ""
    contract_end: str = ""
    lines: int | None = None
    followers: int = 0


def parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start to end (0 when end is not after start)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return max(months, 0)


def upgrade_eligible(contract_end: str, today: date, window_days: int) -> bool:
    end = parse_day(contract_end)
    return end is None or (end - today).days <= window_days


def value_parts(inputs: ValueInputs, settings: ValueSettings, today: date) -> dict[str, float]:
    """Each weighted part of the score, so the reviewer sees why a customer ranks where it does."""
    spend = inputs.monthly_spend or 0.0
    end = parse_day(inputs.contract_end)
    months_left = min(months_between(today, end), settings.projection_months) if end else 0
    extra_lines = max((inputs.lines or 1) - 1, 0)
    projected = spend * months_left + settings.line_value * extra_lines
    if upgrade_eligible(inputs.contract_end, today, settings.upgrade_window_days):
        projected += settings.upgrade_value
    start = parse_day(inputs.contract_start)
    tenure = min(max((today - start).days, 0) / 365.25, settings.max_tenure_years) if start else 0
    return {
        "monthly_spend": round(settings.weight_monthly_spend * spend, 2),
        "projected_spend": round(settings.weight_projected_spend * projected, 2),
        "influence": round(settings.weight_influence * math.log10(1 + max(inputs.followers, 0)), 2),
        "tenure": round(settings.weight_tenure * tenure, 2),
    }


def value_score(parts: dict[str, float]) -> float:
    return round(sum(parts.values()), 2)


def tier_thresholds(
    sorted_scores: Sequence[float], settings: ValueSettings
) -> list[tuple[str, float]]:
    """(name, lowest score) per tier: position i of n has percentile i / (n - 1)."""
    count = len(sorted_scores)
    thresholds = []
    for name, cutoff in zip(settings.tier_names, settings.tier_cutoffs, strict=True):
        position = math.ceil(cutoff * (count - 1)) if count > 1 else 0
        thresholds.append((name, sorted_scores[position] if count else 0.0))
    return thresholds


def tier_for(score: float, thresholds: Sequence[tuple[str, float]]) -> str:
    for name, lowest in thresholds:
        if score >= lowest:
            return name
    return thresholds[-1][0] if thresholds else ""


def _inputs(row: Customer) -> ValueInputs:
    return ValueInputs(
        monthly_spend=row.monthly_spend,
        contract_start=row.contract_start,
        contract_end=row.contract_end,
        lines=row.lines,
        followers=row.followers or 0,
    )


def rescore(
    session: Session, settings: ValueSettings, today: date, ids: Iterable[int] | None = None
) -> None:
    """Recompute score and parts, for the given customers or (in id order, batched) for all."""
    wanted = sorted(set(ids)) if ids is not None else None
    last_id = 0
    while True:
        query = select(
            Customer.id,
            Customer.monthly_spend,
            Customer.contract_start,
            Customer.contract_end,
            Customer.lines,
            Customer.followers,
        ).order_by(Customer.id)
        if wanted is not None:
            chunk = wanted[:RESCORE_BATCH]
            wanted = wanted[RESCORE_BATCH:]
            if not chunk:
                return
            query = query.where(Customer.id.in_(chunk))
        else:
            query = query.where(Customer.id > last_id).limit(RESCORE_BATCH)
        rows = session.execute(query).all()
        if not rows:
            return
        updates = []
        for row in rows:
            parts = value_parts(_inputs(row), settings, today)  # type: ignore[arg-type]
            updates.append({"id": row.id, "value_score": value_score(parts), "value_parts": parts})
        session.execute(update(Customer), updates)
        last_id = rows[-1].id


def assign_tiers(session: Session, settings: ValueSettings) -> list[tuple[str, float]]:
    """Tiers by percentile, in SQL (one look-up per cut-off), so a million rows stay cheap."""
    known = Customer.provisional.is_(False)
    score = func.coalesce(Customer.value_score, 0.0)
    count = session.scalar(select(func.count()).select_from(Customer).where(known)) or 0
    if not count:
        return []
    thresholds = []
    for name, cutoff in zip(settings.tier_names, settings.tier_cutoffs, strict=True):
        position = math.ceil(cutoff * (count - 1)) if count > 1 else 0
        lowest = session.scalar(
            select(score).where(known).order_by(score).offset(position).limit(1)
        )
        thresholds.append((name, float(lowest or 0.0)))
    tier = case(
        *[(score >= lowest, name) for name, lowest in thresholds[:-1]],
        else_=thresholds[-1][0],
    )
    session.execute(
        update(Customer).where(known).values(tier=tier).execution_options(synchronize_session=False)
    )
    return thresholds


def recompute_tiers(session: Session, settings: ValueSettings | None = None) -> None:
    """Scores and tiers for every customer (after an import, a link or a settings change)."""
    settings = settings or ValueSettings()
    rescore(session, settings, date.today())
    assign_tiers(session, settings)
