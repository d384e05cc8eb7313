"""Claiming work from the message table with leases.

`FOR UPDATE SKIP LOCKED` lets any number of workers share the table on PostgreSQL; SQLite
ignores it and serialises writers, which is fine for the one-process embedded default. A lease
that runs out (a worker died) makes the work claimable again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import Message, utcnow
from responder.db.session import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    """A worker's hold on the messages it claimed, and how long a renewal lasts: what a stage
    whose work leaves the system (the send) checks before each message, as its batch may
    outlast the lease and another worker then hold some of it, and keeps alive while a
    message is being delivered (`message_kept_alive`)."""

    worker_id: str
    lease_seconds: int


def claim_batch(
    factory: sessionmaker[Session],
    worker_id: str,
    states: Sequence[str],
    limit: int,
    lease_seconds: int,
) -> list[int]:
    now = utcnow()
    with transaction(factory) as session:
        ids = list(
            session.scalars(
                select(Message.id)
                .where(
                    # Inbound and outbound alike: a new message staff wrote waits in approved
                    # as a reply does; our sent copies of replies are final (sent).
                    Message.state.in_(list(states)),
                    or_(Message.claimed_until.is_(None), Message.claimed_until < now),
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                )
                .order_by(Message.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        # Re-checking the lease in the UPDATE keeps two threads on SQLite (no SKIP LOCKED there)
        # from both taking a message they both selected.
        session.execute(
            update(Message)
            .where(
                Message.id.in_(ids),
                or_(Message.claimed_until.is_(None), Message.claimed_until < now),
            )
            .values(claimed_by=worker_id, claimed_until=now + timedelta(seconds=lease_seconds))
        )
        return list(
            session.scalars(
                select(Message.id)
                .where(Message.id.in_(ids), Message.claimed_by == worker_id)
                .order_by(Message.id)
            )
        )


def release(factory: sessionmaker[Session], worker_id: str, ids: Sequence[int]) -> None:
    if not ids:
        return
    with transaction(factory) as session:
        session.execute(
            update(Message)
            .where(Message.id.in_(list(ids)), Message.claimed_by == worker_id)
            .values(claimed_by=None, claimed_until=None)
        )


def release_all(factory: sessionmaker[Session]) -> None:
    """On the embedded default one process owns the queue, so claims left by a crash are void."""
    with transaction(factory) as session:
        session.execute(
            update(Message)
            .where(Message.claimed_by.is_not(None))
            .values(claimed_by=None, claimed_until=None)
        )


def release_worker(factory: sessionmaker[Session], worker_id: str) -> None:
    """Everything one worker still holds, e.g. claims it could not release during an outage."""
    with transaction(factory) as session:
        session.execute(
            update(Message)
            .where(Message.claimed_by == worker_id)
            .values(claimed_by=None, claimed_until=None)
        )


def renew(
    factory: sessionmaker[Session], worker_id: str, ids: Sequence[int], lease_seconds: int
) -> None:
    """Extend this worker's lease on ids (between stages), so a long batch keeps its claim."""
    if not ids:
        return
    with transaction(factory) as session:
        session.execute(
            update(Message)
            .where(Message.id.in_(list(ids)), Message.claimed_by == worker_id)
            .values(claimed_until=utcnow() + timedelta(seconds=lease_seconds))
        )


#: How many leases one delivery may keep its claim for (six of the default 300 s: 30 minutes).
KEPT_ALIVE_LEASES = 6


@contextmanager
def kept_alive(
    renewal: Callable[[], object], lease_seconds: float, what: str, extra: Mapping[str, object]
) -> Iterator[None]:
    """`renewal` (renewing one claim, a reply's or an acknowledgement's) run every third of a
    lease while the block runs: a single delivery to a slow server may outlast a lease, and
    another worker must not take it over (and mark it uncertain) while this one is still
    sending it, only once it stopped. `what` names it in the log ("message 7"), with `extra`.

    A daemon thread, which dies with the process (a killed worker's lease runs out as before),
    is stopped and joined before the block is left, so no renewal follows the delivery.
    `renewal` must renew only while this worker holds the claim: one another worker took
    meanwhile (a database outage outlasted the lease) is not taken back. For at most
    KEPT_ALIVE_LEASES leases: the senders time out per command or read, not per delivery, so a
    server that drips its answer could otherwise hold it in sending for ever; past that the
    lease runs out and it shows as uncertain, as a stopped worker's would.
    """
    stopped = threading.Event()
    renewals = 3 * (KEPT_ALIVE_LEASES - 1)

    def keep() -> None:
        for _ in range(renewals):
            if stopped.wait(lease_seconds / 3):
                return
            try:
                renewal()
            except Exception as exc:  # the next third tries again; the delivery goes on
                log.warning(
                    "%s: could not renew the lease during delivery: %s", what, exc, extra=extra
                )
        log.warning(
            "%s: its delivery has lasted %d leases; the lease is no longer renewed",
            what,
            KEPT_ALIVE_LEASES,
            extra=extra,
        )

    keeper = threading.Thread(target=keep, name=f"lease-{what}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stopped.set()
        keeper.join()


def message_kept_alive(
    factory: sessionmaker[Session], claim: Claim, message_id: int
) -> AbstractContextManager[None]:
    """A reply's claim on its message kept alive while it is delivered (`kept_alive`)."""
    return kept_alive(
        partial(renew, factory, claim.worker_id, [message_id], claim.lease_seconds),
        claim.lease_seconds,
        f"message {message_id}",
        {"message_id": message_id, "stage": "send"},
    )
