"""The single customer view handed to drafting and the review page, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from responder.customers.churn import ChurnRisk
from responder.customers.names import first_name
from responder.customers.resolve import find_customer
from responder.db.models import Customer


@dataclass(frozen=True)
class CustomerContext:
    known: bool
    customer_id: int | None
    name: str
    first_name: str
    plan: str = ""
    monthly_spend: float | None = None
    contract_end: str = ""
    tier: str = ""
    addons: tuple[str, ...] = ()
    lines: int | None = None
    language: str = "en"
    identities: tuple[tuple[str, str], ...] = field(default=())
    external_id: str = ""
    segment: str = ""
    provisional: bool = False
    value_score: float | None = None
    value_parts: tuple[tuple[str, float], ...] = ()
    churn: ChurnRisk = field(default_factory=ChurnRisk)
    subscriptions: tuple[dict[str, Any], ...] = ()
    open_cases: tuple[dict[str, Any], ...] = ()
    recent: tuple[dict[str, Any], ...] = ()  # the last interactions on every channel

    @property
    def churn_risk(self) -> str:
        return self.churn.level

    def for_template(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "name": self.name,
            "first_name": self.first_name,
            "plan": self.plan,
            "monthly_spend": self.monthly_spend,
            "contract_end": self.contract_end,
            "tier": self.tier,
            "addons": list(self.addons),
            "lines": self.lines,
            "id": self.customer_id,
            "external_id": self.external_id,
            "segment": self.segment,
            "value_score": self.value_score,
            "value_parts": dict(self.value_parts),
            "churn_risk": self.churn.level,
            "churn_score": self.churn.score,
            "churn_reasons": [r.text for r in self.churn.reasons],
            "subscriptions": [dict(s) for s in self.subscriptions],
            "open_cases": [dict(c) for c in self.open_cases],
            "channels": sorted({str(r["channel"]) for r in self.recent}),
        }

    def grounding(self) -> dict[str, Any]:
        """What about the customer shaped the draft, recorded with it."""
        return {
            "id": self.customer_id,
            "tier": self.tier,
            "value_score": self.value_score,
            "value_parts": dict(self.value_parts),
            "churn": self.churn.as_dict(),
            "open_cases": [c.get("external_id") for c in self.open_cases],
        }


def find_customer_by_email(session: Session, address: str) -> Customer | None:
    return find_customer(session, "email", address)


def build_context(
    customer: Customer | None, fallback_name: str = "", **extra: Any
) -> CustomerContext:
    """The profile from the customer row; `extra` adds what needs queries (see customers.view)."""
    if customer is None:
        return CustomerContext(
            known=False, customer_id=None, name=fallback_name, first_name="", **extra
        )
    known = not customer.provisional
    return CustomerContext(
        known=known,
        customer_id=customer.id,
        name=customer.name,
        first_name=first_name(customer.name),
        plan=customer.plan,
        monthly_spend=customer.monthly_spend,
        contract_end=customer.contract_end,
        tier=customer.tier,
        addons=tuple(customer.addons or ()),
        lines=customer.lines,
        language=customer.language,
        identities=tuple((i.kind, i.display or i.value) for i in customer.identities),
        external_id=customer.external_id or "",
        segment=customer.segment,
        provisional=customer.provisional,
        value_score=customer.value_score,
        value_parts=tuple((customer.value_parts or {}).items()),
        **extra,
    )
