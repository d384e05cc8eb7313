"""Claiming work with leases: the message table's, and the drafts CRM imports leave to the
workers (`customers.redraft_queue`), one mechanism for both (`claim_rows`, `renew_rows`,
`release_rows`) over any table with `claimed_by` and `claimed_until`.

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
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import ImportRedraft, Message, utcnow
from responder.db.session import transaction

log = logging.getLogger(__name__)

#: The tables work is claimed from.
Leased = type[Message] | type[ImportRedraft]


@dataclass(frozen=True)
class Claim:
    """A worker's hold on the messages it claimed, and how long a renewal lasts: what a stage
    whose work leaves the system (the send) checks before each message, as its batch may
    outlast the lease and another worker then hold some of it, and keeps alive while a
    message is being delivered (`message_kept_alive`)."""

    worker_id: str
    lease_seconds: int


def claim_rows(
    factory: sessionmaker[Session],
    model: Leased,
    worker_id: str,
    limit: int,
    lease_seconds: int,
    *wanted: ColumnElement[bool],
    also: Mapping[str, Any] | None = None,
    first: Sequence[ColumnElement[Any]] = (),
) -> list[int]:
    """Up to `limit` rows that are `wanted` and not held under a live lease, oldest first
    (after `first`: the least tried, say), now held by `worker_id`; `also`: further values the
    claim sets (an attempt counted)."""
    now = utcnow()
    free = or_(model.claimed_until.is_(None), model.claimed_until < now)
    with transaction(factory) as session:
        ids = list(
            session.scalars(
                select(model.id)
                .where(free, *wanted)
                .order_by(*first, model.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        # Checked again in the UPDATE: on SQLite (no row locks) another connection may have
        # claimed or changed a row since the SELECT; it is not taken then. What this UPDATE
        # took is told by its lease end too, as this worker may hold a lapsed claim on a row.
        until = now + timedelta(seconds=lease_seconds)
        session.execute(
            update(model)
            .where(model.id.in_(ids), free, *wanted)
            .values(claimed_by=worker_id, claimed_until=until, **(also or {}))
        )
        return list(
            session.scalars(
                select(model.id)
                .where(
                    model.id.in_(ids),
                    model.claimed_by == worker_id,
                    model.claimed_until == until,
                )
                .order_by(model.id)
            )
        )


def renew_rows(
    factory: sessionmaker[Session],
    model: Leased,
    worker_id: str,
    ids: Sequence[int],
    lease_seconds: int,
) -> None:
    """Extend this worker's lease on those of `ids` it still holds, so a long batch keeps its
    claim (one another worker took meanwhile is not taken back)."""
    if not ids:
        return
    with transaction(factory) as session:
        session.execute(
            update(model)
            .where(model.id.in_(list(ids)), model.claimed_by == worker_id)
            .values(claimed_until=utcnow() + timedelta(seconds=lease_seconds))
        )


def release_rows(
    factory: sessionmaker[Session],
    model: Leased,
    worker_id: str | None = None,
    ids: Sequence[int] | None = None,
) -> None:
    """Let go of what `worker_id` holds (of `ids`, if given); without a worker, of every
    claim (on the embedded default one process owns the queue, so claims a crash left are
    void)."""
    held = [model.claimed_by.is_not(None) if worker_id is None else model.claimed_by == worker_id]
    if ids is not None:
        if not ids:
            return
        held.append(model.id.in_(list(ids)))
    with transaction(factory) as session:
        session.execute(update(model).where(*held).values(claimed_by=None, claimed_until=None))


def claim_batch(
    factory: sessionmaker[Session],
    worker_id: str,
    states: Sequence[str],
    limit: int,
    lease_seconds: int,
) -> list[int]:
    """Messages in `states` whose retry back-off is over."""
    now = utcnow()
    return claim_rows(
        factory,
        Message,
        worker_id,
        limit,
        lease_seconds,
        # Inbound and outbound alike: a new message staff wrote waits in approved as a reply
        # does; our sent copies of replies are final (sent).
        Message.state.in_(list(states)),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    )


def release(factory: sessionmaker[Session], worker_id: str, ids: Sequence[int]) -> None:
    release_rows(factory, Message, worker_id, ids)


def release_all(factory: sessionmaker[Session]) -> None:
    """On the embedded default one process owns the queue, so claims left by a crash are void."""
    release_rows(factory, Message)


def release_worker(factory: sessionmaker[Session], worker_id: str) -> None:
    """Everything one worker still holds, e.g. claims it could not release during an outage."""
    release_rows(factory, Message, worker_id)


def renew(
    factory: sessionmaker[Session], worker_id: str, ids: Sequence[int], lease_seconds: int
) -> None:
    """Extend this worker's lease on ids (between stages), so a long batch keeps its claim."""
    renew_rows(factory, Message, worker_id, ids, lease_seconds)


#: How many leases one delivery (or batch of import redrafts) may keep its claim for (six of
#: the default 300 s: 30 minutes).
KEPT_ALIVE_LEASES = 6


@contextmanager
def kept_alive(
    renewal: Callable[[], object], lease_seconds: float, what: str, extra: Mapping[str, object]
) -> Iterator[None]:
    """`renewal` (renewing one claim: a reply's, an acknowledgement's, a batch of import
    redrafts') run every third of a lease while the block runs: a single delivery to a slow
    server may outlast a lease, and another worker must not take it over (and mark it
    uncertain) while this one is still sending it, only once it stopped; nor take over a
    draft this one is writing. `what` names it in the log ("message 7"), with `extra`.

    A daemon thread, which dies with the process (a killed worker's lease runs out as before),
    is stopped and joined before the block is left, so no renewal follows the work.
    `renewal` must renew only while this worker holds the claim: one another worker took
    meanwhile (a database outage outlasted the lease) is not taken back. For at most
    KEPT_ALIVE_LEASES leases: the senders time out per command or read, not per delivery, so a
    server that drips its answer could otherwise hold it in sending for ever; past that the
    lease runs out and it shows as uncertain, as a stopped worker's would (an import
    redraft's row is then written by whichever worker holds it).
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
                log.warning("%s: could not renew its lease: %s", what, exc, extra=extra)
        log.warning(
            "%s: has been kept for %d leases; the lease is no longer renewed",
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
