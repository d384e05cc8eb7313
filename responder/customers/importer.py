"""CSV import of customers: idempotent upsert by external id; bad rows reported, good rows kept."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from responder.customers.identity import normalise_email, normalise_handle, normalise_phone
from responder.customers.value import recompute_tiers
from responder.db.models import Customer, CustomerIdentity

BATCH = 1000


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


class RowError(ValueError):
    pass


def _number(value: str, kind: type, column: str) -> float | int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise RowError(f"{column}: {value!r} is not a number") from None


def _identities(row: dict[str, str]) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    if row.get("email"):
        address = normalise_email(row["email"])
        if not address:
            raise RowError(f"email: {row['email']!r} is not an email address")
        found.append(("email", address, row["email"].strip()))
    for column in ("phone", "whatsapp"):
        if row.get(column):
            phone = normalise_phone(row[column])
            if not phone:
                raise RowError(f"{column}: {row[column]!r} is not a valid phone number")
            found.append(("phone", phone, row[column].strip()))
    if row.get("x_handle"):
        handle = normalise_handle(row["x_handle"])
        if handle:
            found.append(("x_handle", handle, row["x_handle"].strip()))
    return list(dict.fromkeys(found))


def _apply(session: Session, row: dict[str, str], summary: ImportSummary) -> None:
    external_id = (row.get("external_id") or "").strip()
    if not external_id:
        raise RowError("external_id is empty")
    identities = _identities(row)
    spend = _number(row.get("monthly_spend", ""), float, "monthly_spend")
    lines = _number(row.get("lines", ""), int, "lines")
    followers = _number(row.get("followers", ""), int, "followers") or 0
    customer = session.scalar(select(Customer).where(Customer.external_id == external_id))
    if customer is None:
        customer = Customer(external_id=external_id)
        session.add(customer)
        summary.created += 1
    else:
        summary.updated += 1
    customer.name = (row.get("name") or "").strip()
    customer.plan = (row.get("plan") or "").strip()
    customer.monthly_spend = spend
    customer.lines = int(lines) if lines is not None else None
    customer.contract_start = (row.get("contract_start") or "").strip()
    customer.contract_end = (row.get("contract_end") or "").strip()
    customer.segment = (row.get("segment") or "").strip()
    customer.language = (row.get("language") or "en").strip() or "en"
    customer.addons = [a.strip() for a in (row.get("addons") or "").split(";") if a.strip()]
    customer.followers = int(followers)
    customer.provisional = False
    session.flush()
    for kind, value, display in identities:
        existing = session.scalar(
            select(CustomerIdentity).where(
                CustomerIdentity.kind == kind, CustomerIdentity.value == value
            )
        )
        if existing is None:
            session.add(
                CustomerIdentity(customer_id=customer.id, kind=kind, value=value, display=display)
            )
        elif existing.customer_id != customer.id:
            raise RowError(f"{kind} {display!r} already belongs to another customer")


def import_customers(
    factory: sessionmaker[Session],
    path: Path,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    summary = ImportSummary()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        session = factory()
        try:
            for count, row in enumerate(reader, start=1):
                try:
                    with session.begin_nested():
                        _apply(session, row, summary)
                except RowError as exc:
                    summary.errors.append(f"{path}:{reader.line_num}: {exc}")
                if count % BATCH == 0:
                    session.commit()
                    if progress:
                        progress(count)
            session.commit()
        finally:
            session.close()
    with factory() as session, session.begin():
        recompute_tiers(session)
    return summary
