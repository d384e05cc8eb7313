"""Linking a provisional customer to the known customer it turns out to be, and undoing it.

Suggestions come from evidence an agent can check: the same name at the same email domain, a
phone number in the message text or signature, an account number quoted in the text. Only an
agent links; linking moves the messages, conversations, identities and interactions to the
known customer (one timeline), and with them the automatic acknowledgements (so the sender is
not told "we have your message" twice in a day), and records exactly what moved, so unlinking
puts it back. A CRM import links the same way when a known customer's email or phone belongs
to a provisional one (`importer`), unless an agent kept the two apart (`ruled_out`).
An agent can also say a suggestion is wrong ("not this customer"): it is not offered again
for that provisional customer, the others still are. All three are written to the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from responder.config import CustomerSettings
from responder.customers.identity import phone_numbers_in
from responder.db.models import (
    Acknowledgement,
    Conversation,
    Customer,
    CustomerIdentity,
    CustomerLink,
    CustomerLinkDismissal,
    Draft,
    Interaction,
    Message,
    Subscription,
    utcnow,
)
from responder.db.row_locks import lock_rows
from responder.review import audit
from responder.search_fold import fold, folded

MOVABLE: dict[str, Any] = {
    "messages": Message,
    "conversations": Conversation,
    "identities": CustomerIdentity,
    "interactions": Interaction,
    "acknowledgements": Acknowledgement,
}
TEXTS_SCANNED = 20


class LinkError(Exception):
    status_code = 400


class LinkNotFound(LinkError):
    status_code = 404


@dataclass
class LinkSuggestion:
    customer_id: int
    name: str
    external_id: str
    tier: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "external_id": self.external_id,
            "tier": self.tier,
            "reasons": list(self.reasons),
        }


def active_link(session: Session, source_id: int) -> CustomerLink | None:
    return session.scalar(
        select(CustomerLink)
        .where(CustomerLink.source_id == source_id, CustomerLink.unlinked_at.is_(None))
        .order_by(CustomerLink.id.desc())
        .limit(1)
    )


def _retier(session: Session, message_ids: list[int], tier: str) -> None:
    """The queue filters on the tier copied to each message: keep it the owner's."""
    if message_ids:
        session.execute(
            update(Message)
            .where(Message.id.in_(message_ids))
            .values(customer_tier=tier)
            .execution_options(synchronize_session=False)
        )


def hold_provisional(session: Session, source_id: int) -> None:
    """Lock the provisional customer's row until the transaction ends: an agent's link and an
    import's (or two agents') of the same sender take turns, and the second finds the first's
    link instead of moving its messages again under a second link."""
    lock_rows(
        session,
        Customer.updated_at,
        Customer.id == source_id,
        keys_free=True,  # a send holding the sender's message still adds our copy under them
    )


def link_customers(
    session: Session, source_id: int, target_id: int, actor: str, **detail: Any
) -> CustomerLink:
    """`detail` goes into the audit entry (an import names its file). Whoever links the same
    provisional customer second, while the first has not committed, waits for it
    (`hold_provisional`) and is refused: it is already linked."""
    hold_provisional(session, source_id)
    source = session.get(Customer, source_id, populate_existing=True)
    target = session.get(Customer, target_id)
    if source is None:
        raise LinkNotFound(f"no customer {source_id} on file")
    if target is None:
        raise LinkNotFound(f"no customer {target_id} on file: nothing was linked")
    if source_id == target_id:
        raise LinkError("a customer cannot be linked to itself")
    if not source.provisional:
        raise LinkError(f"{source.name} is a known customer: only provisional ones are linked")
    if target.provisional:
        raise LinkError(f"{target.name} is provisional too: link to a known customer")
    if active_link(session, source_id) is not None:
        raise LinkError(f"{source.name} is already linked: unlink first")
    moved: dict[str, list[int]] = {}
    for name, model in MOVABLE.items():
        ids = list(session.scalars(select(model.id).where(model.customer_id == source_id)))
        moved[name] = ids
        if ids:
            session.execute(
                update(model)
                .where(model.id.in_(ids))
                .values(customer_id=target_id)
                .execution_options(synchronize_session=False)
            )
    _retier(session, moved["messages"], target.tier)
    link = CustomerLink(source_id=source_id, target_id=target_id, moved=moved, linked_by=actor)
    session.add(link)
    session.flush()
    audit(
        session,
        actor,
        "customer.link",
        "customer",
        target_id,
        source=source_id,
        link=link.id,
        moved={k: len(v) for k, v in moved.items()},
        **detail,
    )
    session.expire_all()
    return link


def retier_linked(session: Session, link_ids: list[int]) -> None:
    """After an import's tiers: its links' messages take their known customer's new tier."""
    for link in session.scalars(
        select(CustomerLink).where(
            CustomerLink.id.in_(link_ids), CustomerLink.unlinked_at.is_(None)
        )
    ):
        target = session.get(Customer, link.target_id)
        moved = list(link.moved.get("messages", ()))
        if target is not None and moved:
            session.execute(
                update(Message)
                .where(Message.id.in_(moved), Message.customer_id == link.target_id)
                .values(customer_tier=target.tier)
                .execution_options(synchronize_session=False)
            )


def ruled_out(
    session: Session, sources: Iterable[int], targets: Iterable[int]
) -> dict[tuple[int, int], str]:
    """(provisional, known) pairs an agent kept apart, by unlinking them or saying "not this
    customer", with who did and when (the latest): an import must not link them again, since
    an unlink gives the provisional customer its addresses back and the next import would find
    them there."""
    sources, targets = sorted(set(sources)), sorted(set(targets))
    if not sources or not targets:
        return {}
    decisions: list[tuple[int, int, Any, str]] = [
        (source, target, at, f"{who} unlinked them on {at:%Y-%m-%d}")
        for source, target, who, at in session.execute(
            select(
                CustomerLink.source_id,
                CustomerLink.target_id,
                CustomerLink.unlinked_by,
                CustomerLink.unlinked_at,
            ).where(
                CustomerLink.source_id.in_(sources),
                CustomerLink.target_id.in_(targets),
                CustomerLink.unlinked_at.is_not(None),
            )
        )
    ]
    decisions += [
        (source, target, at, f'{who} said "not this customer" on {at:%Y-%m-%d}')
        for source, target, who, at in session.execute(
            select(
                CustomerLinkDismissal.source_id,
                CustomerLinkDismissal.target_id,
                CustomerLinkDismissal.dismissed_by,
                CustomerLinkDismissal.dismissed_at,
            ).where(
                CustomerLinkDismissal.source_id.in_(sources),
                CustomerLinkDismissal.target_id.in_(targets),
            )
        )
    ]
    return {(s, t): why for s, t, _, why in sorted(decisions, key=lambda d: d[2])}


def unlink_customers(session: Session, source_id: int, actor: str) -> CustomerLink:
    """Put back what the link moved (and only that): the two timelines are separate again."""
    link = active_link(session, source_id)
    if link is None:
        raise LinkNotFound("this customer is not linked")
    for name, model in MOVABLE.items():
        ids = list(link.moved.get(name, ()))
        if ids:
            session.execute(
                update(model)
                .where(model.id.in_(ids), model.customer_id == link.target_id)
                .values(customer_id=link.source_id)
                .execution_options(synchronize_session=False)
            )
    source = session.get(Customer, link.source_id)
    _retier(session, list(link.moved.get("messages", ())), source.tier if source else "")
    link.unlinked_by = actor
    link.unlinked_at = utcnow()
    audit(
        session,
        actor,
        "customer.unlink",
        "customer",
        link.target_id,
        source=link.source_id,
        link=link.id,
    )
    session.flush()
    session.expire_all()
    return link


def dismiss_suggestion(
    session: Session, source_id: int, target_id: int, actor: str
) -> CustomerLinkDismissal:
    """Once is enough: dismissing again (a second tab, a double click) keeps the first record."""
    source = session.get(Customer, source_id)
    target = session.get(Customer, target_id)
    if source is None or target is None:
        raise LinkNotFound("customer not found")
    if not source.provisional:
        raise LinkError(f"{source.name} is a known customer: nothing is suggested for it")
    dismissal = session.scalar(
        select(CustomerLinkDismissal).where(
            CustomerLinkDismissal.source_id == source_id,
            CustomerLinkDismissal.target_id == target_id,
        )
    )
    if dismissal is not None:
        return dismissal
    dismissal = CustomerLinkDismissal(source_id=source_id, target_id=target_id, dismissed_by=actor)
    session.add(dismissal)
    session.flush()
    audit(session, actor, "customer.link_dismissed", "customer", target_id, source=source_id)
    return dismissal


def _dismissed(session: Session, source_id: int) -> set[int]:
    return set(
        session.scalars(
            select(CustomerLinkDismissal.target_id).where(
                CustomerLinkDismissal.source_id == source_id
            )
        )
    )


def _texts(session: Session, customer_id: int) -> tuple[list[str], list[str]]:
    """Recent message texts, and phone numbers the entity extractor already found in drafts."""
    messages = session.scalars(
        select(Message)
        .where(Message.customer_id == customer_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(TEXTS_SCANNED)
    ).all()
    texts = [f"{m.subject}\n{m.text or m.new_text}" for m in messages]
    entity_phones: list[str] = []
    if messages:
        for grounding in session.scalars(
            select(Draft.grounding).where(Draft.message_id.in_([m.id for m in messages]))
        ):
            entities = (grounding or {}).get("entities") or {}
            entity_phones += [str(p) for p in entities.get("phone_numbers") or ()]
    return texts, entity_phones


def suggest_links(
    session: Session, customer_id: int, settings: CustomerSettings
) -> list[LinkSuggestion]:
    customer = session.get(Customer, customer_id)
    if customer is None or not customer.provisional or active_link(session, customer_id):
        return []
    found: dict[int, LinkSuggestion] = {}
    dismissed = _dismissed(session, customer_id)

    def offer(candidate: Customer, reason: str) -> None:
        if candidate.id == customer_id or candidate.provisional or candidate.id in dismissed:
            return
        suggestion = found.setdefault(
            candidate.id,
            LinkSuggestion(
                candidate.id, candidate.name, candidate.external_id or "", candidate.tier
            ),
        )
        if reason not in suggestion.reasons:
            suggestion.reasons.append(reason)

    emails = session.scalars(
        select(CustomerIdentity.value).where(
            CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == "email"
        )
    ).all()
    name = fold(customer.name.strip())  # mail programs often drop a name's accents
    for address in emails:
        domain = address.rpartition("@")[2]
        if not name or not domain:
            continue
        for candidate in session.scalars(
            select(Customer)
            .join(CustomerIdentity)
            .where(
                folded(Customer.name) == name,
                CustomerIdentity.kind == "email",
                CustomerIdentity.value.like(f"%@{domain}"),
            )
        ):
            offer(candidate, f"same name and email domain ({domain})")

    texts, entity_phones = _texts(session, customer_id)
    region = settings.default_region
    phones = [p for text in texts for p in phone_numbers_in(text, region)]
    for raw in entity_phones:
        phones += phone_numbers_in(raw, region)
    for phone in dict.fromkeys(phones):
        for candidate in session.scalars(
            select(Customer)
            .join(CustomerIdentity)
            .where(CustomerIdentity.kind == "phone", CustomerIdentity.value == phone)
        ):
            offer(candidate, f"phone number {phone} in the message")

    pattern = re.compile(settings.account_number_pattern)
    numbers = list(dict.fromkeys(m.group(0) for text in texts for m in pattern.finditer(text)))
    if numbers:
        for candidate in session.scalars(select(Customer).where(Customer.external_id.in_(numbers))):
            offer(candidate, f"customer number {candidate.external_id} quoted in the message")
        for candidate, account in session.execute(
            select(Customer, Subscription.external_id)
            .join(Subscription, Subscription.customer_id == Customer.id)
            .where(Subscription.external_id.in_(numbers))
        ):
            offer(candidate, f"account number {account} quoted in the message")
    return list(found.values())
