"""A send's outcome is recorded only while the send is still this worker's: still in this
worker's take, its state and take time as they were, for replies (`stages`) and
acknowledgements (`acknowledge`) alike. Another worker's claim alone does not end the take:
that worker's recovery then finds the outcome recorded, under its own claim.

A delivery may outlast its claim (past the kept-alive leases, or renewals lost in a database
outage); another worker then takes the send over and records what it finds (uncertain, or
sent again where the sender can tell it did not go). What this worker's delivery ends with
comes after that: written over it, a failure for the moment would queue a third copy, and an
uncertain one would be recorded as refused. So the outcome is a compare-and-set on the take,
read with its rows locked (another worker's recovery waits for the write, or the write sees
what it recorded); once taken over, nothing is written, except that a delivery that
went turns the other worker's `uncertain` into sent, so staff are not asked about one the
customer has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from responder.channels.delivery import DeliveryResult
from responder.db.outage import first_line
from responder.db.session import transaction

log = logging.getLogger(__name__)

#: What a delivery ended with: its result (None from a sender that returns none), or the
#: delivery error it raised.
Outcome = DeliveryResult | Exception | None


class TakenOver(Exception):
    """Another worker took the send over while this one's delivery went on: what it recorded
    (`state`) stands."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


@contextmanager
def while_held(
    factory: sessionmaker[Session], taken_by: Callable[[Session], str | None]
) -> Iterator[Session]:
    """One change in one transaction, made only while the send is still this worker's:
    `taken_by` reads the rows locked and returns None while it is, else the state another
    worker left them in (`TakenOver`, nothing written)."""
    with transaction(factory) as session:
        state = taken_by(session)
        if state is not None:
            raise TakenOver(state)
        yield session


def after_taken_over(
    taken: TakenOver,
    outcome: Outcome,
    known_sent: Callable[[], bool],
    what: str,
    extra: Mapping[str, object],
) -> bool:
    """What this worker's delivery learned once another worker had taken the send over: one
    that went makes the other worker's `uncertain` sent (`known_sent`, True then); anything
    else is only logged, that worker's record left as it is."""
    if not isinstance(outcome, Exception) and known_sent():
        log.info("%s: sent after all, as its delivery ended", what, extra=dict(extra))
        return True
    log.warning(
        "%s: its delivery ended (%s) after another worker had taken it over; left %s as that "
        "worker recorded it",
        what,
        first_line(outcome) if isinstance(outcome, Exception) else "sent",
        taken.state,
        extra=dict(extra),
    )
    return False
