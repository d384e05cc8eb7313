"""Finding the known customer to link a provisional one to by hand, when no suggestion is the
right one: by customer number (the CRM's, such as C1002, or Responder's own, as "customer 12"
reads), else by name, address or phone number as the search page finds customers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from responder.customers.identity import phone_forms
from responder.db.models import Customer
from responder.web.search import SHORTEST, customers_matching, search_query

#: The most customers offered for one search: more means a name too common to pick from, and
#: the person adds to it (a surname, an address).
OFFERED = 10
#: Responder's own customer numbers are shorter than this; a longer run of digits is a phone
#: number or an account number, searched for.
ID_DIGITS = 10


@dataclass(frozen=True)
class LinkSearch:
    query: str = ""
    found: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""  # why nothing is offered, for the page
    more: bool = False  # more matched than are offered


def link_search(
    session: Session, source_id: int, text: str, phone_region: str | None
) -> LinkSearch:
    """Known customers (not provisional ones, not this one) for `text`, at most OFFERED."""
    query = search_query(text)
    if not query:
        return LinkSearch()
    numbered = [Customer.external_id == query]
    if query.isdigit() and len(query) < ID_DIGITS:
        numbered.append(Customer.id == int(query))
    customers = list(session.scalars(select(Customer).where(or_(*numbered))))
    if not customers and len(query) >= SHORTEST:
        sqlite = session.get_bind().dialect.name == "sqlite"
        also = phone_forms(query, phone_region)
        matching = customers_matching(query, OFFERED + 1, sqlite=sqlite, also=also)
        customers = list(session.scalars(matching.where(Customer.provisional.is_(False))))
    others = [c for c in customers if c.id != source_id]
    known = [c for c in others if not c.provisional]
    if known:
        return LinkSearch(query, [_row(c) for c in known[:OFFERED]], more=len(known) > OFFERED)
    if others:
        return LinkSearch(query, problem=f"{_said(others[0])} is provisional too")
    if customers:
        return LinkSearch(query, problem="that is this customer")
    if query.isdigit() and len(query) < ID_DIGITS:
        return LinkSearch(query, problem=f"no customer {query} on file")
    if len(query) < SHORTEST:
        return LinkSearch(query, problem=f"type at least {SHORTEST} characters")
    return LinkSearch(query, problem=f"no known customer matches “{query}”")


def _said(customer: Customer) -> str:
    return customer.name or f"customer {customer.id}"


def _row(customer: Customer) -> dict[str, Any]:
    return {
        "customer_id": customer.id,
        "name": _said(customer),
        "external_id": customer.external_id or "",
        "tier": customer.tier,
    }
