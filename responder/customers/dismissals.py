"""The "not this customer" answers given for a provisional customer, to show beside its
suggestions and to take back: a click on the wrong suggestion's button should not hide the
right customer for good."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.customers.links import LinkNotFound
from responder.db.models import Customer, CustomerLinkDismissal
from responder.review import audit


def dismissed_for(session: Session, source_id: int) -> list[dict[str, Any]]:
    """The known customers an agent said this one is not, latest first."""
    rows = session.execute(
        select(CustomerLinkDismissal, Customer)
        .join(Customer, Customer.id == CustomerLinkDismissal.target_id)
        .where(CustomerLinkDismissal.source_id == source_id)
        .order_by(CustomerLinkDismissal.dismissed_at.desc(), CustomerLinkDismissal.id.desc())
    )
    return [
        {
            "customer_id": target.id,
            "name": target.name,
            "external_id": target.external_id or "",
            "dismissed_by": dismissal.dismissed_by,
            "dismissed_at": dismissal.dismissed_at.isoformat(),
        }
        for dismissal, target in rows
    ]


def undo_dismissal(session: Session, source_id: int, target_id: int, actor: str) -> str:
    """The target may be suggested again (if the evidence still points to it); its name."""
    dismissal = session.scalar(
        select(CustomerLinkDismissal).where(
            CustomerLinkDismissal.source_id == source_id,
            CustomerLinkDismissal.target_id == target_id,
        )
    )
    target = session.get(Customer, target_id)
    if dismissal is None or target is None:
        raise LinkNotFound("that suggestion was not dismissed for this sender")
    session.delete(dismissal)
    audit(
        session,
        actor,
        "customer.link_dismissal_undone",
        "customer",
        target_id,
        source=source_id,
        dismissed_by=dismissal.dismissed_by,
    )
    return target.name
