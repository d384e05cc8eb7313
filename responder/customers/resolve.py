"""Who wrote: an inbound sender resolves to a customer by an exact, normalised identity.

Email addresses, E.164 phone numbers (WhatsApp ids are phone numbers) and per-platform social
ids or handles. An unknown sender becomes a provisional customer, so their history is kept and
an agent can later link it to the known customer it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from responder.customers.identity import normalise_email, normalise_handle, normalise_phone
from responder.db.models import Customer, CustomerIdentity


def _whatsapp(value: str, region: str | None) -> str | None:
    """WhatsApp ids are international numbers without the plus sign (`353871234567`)."""
    digits = (value or "").strip()
    if digits.isdigit():
        digits = "+" + digits
    return normalise_phone(digits, region)


def _exact(value: str, _region: str | None) -> str | None:
    return (value or "").strip() or None


# channel kind -> (stored identity kind, normaliser)
KINDS: dict[str, tuple[str, Callable[[str, str | None], str | None]]] = {
    "email": ("email", lambda v, _r: normalise_email(v)),
    "phone": ("phone", normalise_phone),
    "sms": ("phone", normalise_phone),
    "whatsapp": ("phone", _whatsapp),
    "x_handle": ("x_handle", lambda v, _r: normalise_handle(v)),
    "x": ("x_id", _exact),
    "x_id": ("x_id", _exact),
    "messenger": ("messenger_id", _exact),
    "messenger_id": ("messenger_id", _exact),
    "instagram": ("instagram_id", _exact),
    "instagram_id": ("instagram_id", _exact),
}


def identity_key(kind: str, value: str, region: str | None = None) -> tuple[str, str] | None:
    """The (kind, value) an identity is stored under, or None when the value is not valid."""
    stored, normalise = KINDS.get(kind, (kind, _exact))
    normalised = normalise(value, region)
    return (stored, normalised) if normalised else None


def find_customer(
    session: Session, kind: str, value: str, region: str | None = None
) -> Customer | None:
    key = identity_key(kind, value, region)
    if key is None:
        return None
    return session.scalar(
        select(Customer)
        .join(CustomerIdentity)
        .where(CustomerIdentity.kind == key[0], CustomerIdentity.value == key[1])
    )


def find_customers(
    session: Session, kind: str, values: Iterable[str], region: str | None = None
) -> dict[str, Customer]:
    """Known customers for many identities in one query (a worker's batch), keyed by value."""
    keys = {value: identity_key(kind, value, region) for value in values}
    wanted = {key for key in keys.values() if key is not None}
    if not wanted:
        return {}
    stored_kind = next(iter(wanted))[0]
    rows = session.execute(
        select(CustomerIdentity.value, Customer)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(
            CustomerIdentity.kind == stored_kind,
            CustomerIdentity.value.in_(sorted(v for _, v in wanted)),
        )
    ).all()
    by_value = {value: customer for value, customer in rows}
    return {
        value: by_value[key[1]]
        for value, key in keys.items()
        if key is not None and key[1] in by_value
    }


def resolve_identity(
    session: Session, kind: str, value: str, display_name: str = "", *, region: str | None = None
) -> Customer:
    """The customer with this identity, or a new provisional one holding it."""
    return resolve_or_create(session, kind, value, display_name, region=region)[0]


def _provisional(
    session: Session, key: tuple[str, str] | None, value: str, display_name: str
) -> Customer:
    """A new customer nobody has confirmed yet, holding the identity it was seen under."""
    customer = Customer(name=display_name or value, provisional=True)
    if key is not None:
        customer.identities.append(CustomerIdentity(kind=key[0], value=key[1], display=value))
    session.add(customer)
    return customer


def create_customers(
    session: Session, kind: str, senders: Mapping[str, str], region: str | None = None
) -> dict[str, Customer]:
    """New provisional customers for senders a batch look-up did not find, in one flush (one
    multi-row INSERT each for customers and identities instead of a savepoint a sender), keyed
    by the value as given; values that normalise to one identity share one customer.

    Returns {} when another worker created one of them first (the unique identity): the
    savepoint is rolled back and the caller resolves those senders one at a time.
    """
    by_key: dict[tuple[str, str], list[str]] = {}
    for value in senders:
        key = identity_key(kind, value, region)
        if key is not None:
            by_key.setdefault(key, []).append(value)
    if not by_key:
        return {}
    created: dict[str, Customer] = {}
    try:
        with session.begin_nested():
            for key, values in by_key.items():
                customer = _provisional(session, key, values[0], senders[values[0]])
                created.update(dict.fromkeys(values, customer))
            session.flush()
    except IntegrityError:
        return {}
    return created


def resolve_or_create(
    session: Session,
    kind: str,
    value: str,
    display_name: str = "",
    *,
    region: str | None = None,
    known: Customer | None = None,
    looked_up: bool = False,
) -> tuple[Customer, bool]:
    """The customer with this identity, and whether it was created now (a new customer has
    no history to look through yet).

    `known` is the customer a batch look-up (find_customers) already found for this identity;
    with `looked_up`, that look-up found none, so there is nothing to search for again.
    Two workers meeting the same new sender at once: the unique (kind, value) lets one win;
    the other rolls back its savepoint and takes the winner's customer.
    """
    found = known if looked_up else known or find_customer(session, kind, value, region)
    if found is not None:
        return found, False
    key = identity_key(kind, value, region)
    try:
        with session.begin_nested():
            customer = _provisional(session, key, value, display_name)
            session.flush()
    except IntegrityError:
        found = find_customer(session, kind, value, region)
        if found is None:
            raise
        return found, False
    return customer, True
