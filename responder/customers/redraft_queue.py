"""The queue of drafts a CRM import leaves to the workers (`ImportRedraft` rows): the import's
last transaction queues the waiting drafts of the senders it linked, and returns; workers
claim rows with a lease as they claim messages, by the same means (`pipeline.queue`), and
write each draft again (`drafting.customer_known.redraft_queued`). A lease that runs out (a
worker died mid-batch) makes the rows it had not finished claimable again; a finished row is
never claimed again. A draft that could not be written is tried again after a back-off, as a
failing stage's message is (`[pipeline] max_attempts`, `retry_base_seconds`), and finished as
failed after the last attempt. Each claim counts an attempt, so a draft whose writing kills
the worker (out of memory while embedding its message) is not claimed for ever: after
`max_attempts` claims none finished it is finished as failed (`give_up_stopped`). A row whose
last claim ended with its worker stopped is claimed alone, so one that kills its worker costs
no other draft an attempt more than once; what a worker claimed and let go of unstarted (it
was stopped, or lost the database) has its attempt given back. Finished rows are deleted `[pipeline]
import_redraft_retention_days` after (`purge_done`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, not_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import CustomerLink, Draft, ImportRedraft, Message, StaffUser, utcnow
from responder.db.session import transaction
from responder.pipeline.queue import claim_rows, release_rows
from responder.pipeline.states import AWAITING_REVIEW

#: What a finished row's `outcome` says became of its draft.
REDRAFTED = "redrafted"
KEPT_EDITED = "kept_edited"
BEING_EDITED = "being_edited"
UNCHANGED = "unchanged"
FAILED = "failed"


def moved_and_waiting(session: Session, link_ids: Sequence[int]) -> list[int]:
    """The messages these links moved that still wait for review with their known customer,
    with a draft (none: nothing to write again, and no model to load for it)."""
    moved: dict[int, int] = {}
    for link in session.scalars(
        select(CustomerLink).where(
            CustomerLink.id.in_(sorted(set(link_ids))), CustomerLink.unlinked_at.is_(None)
        )
    ):
        moved.update(dict.fromkeys((link.moved or {}).get("messages", ()), link.target_id))
    if not moved:
        return []
    rows = session.execute(
        select(Message.id, Message.customer_id)
        .where(
            Message.id.in_(sorted(moved)),
            Message.direction == "in",
            Message.state.in_(AWAITING_REVIEW),
            Message.id.in_(select(Draft.message_id)),
        )
        .order_by(Message.id)
    )
    return [message_id for message_id, customer_id in rows if moved[message_id] == customer_id]


def queue_redrafts(
    session: Session, link_ids: Sequence[int], *, imported_from: str, actor: str, via: str
) -> list[int]:
    """Queue the waiting drafts of the senders these links moved (the import's last
    transaction); the ids of the rows. A message already queued and not yet done is not
    queued twice. `via` "web": `actor` is the staff account the redrafts are recorded by."""
    waiting = moved_and_waiting(session, link_ids)
    queued = set(
        session.scalars(
            select(ImportRedraft.message_id).where(
                ImportRedraft.message_id.in_(waiting), ImportRedraft.done_at.is_(None)
            )
        )
    )
    user_id = (
        session.scalar(select(StaffUser.id).where(StaffUser.username == actor))
        if via == "web"
        else None
    )
    rows = [
        ImportRedraft(
            message_id=message_id,
            imported_from=imported_from,
            queued_by=actor,
            user_id=user_id,
            outcome="",
        )
        for message_id in waiting
        if message_id not in queued
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def queued_since(session: Session, imported_from: str, actor: str, since: datetime) -> list[int]:
    """The rows an import queued, found again when its commit's answer was lost."""
    return list(
        session.scalars(
            select(ImportRedraft.id).where(
                ImportRedraft.imported_from == imported_from,
                ImportRedraft.queued_by == actor,
                ImportRedraft.queued_at >= since,
            )
        )
    )


#: A row's `last_error` once it was claimed `max_attempts` times and never finished.
STOPPED = (
    "the worker writing it stopped each time before it finished: it may have run out of memory"
)
#: Added to a failed attempt's reason when a later attempt's worker stopped (the reason stays).
LAST_STOPPED = "; at the last attempt the worker writing it stopped before it finished"


def _claimable(only: Sequence[int] | None) -> list[ColumnElement[bool]]:
    """Not done, not waiting out a back-off; `only`: of these rows."""
    wanted = [
        ImportRedraft.done_at.is_(None),
        or_(ImportRedraft.next_attempt_at.is_(None), ImportRedraft.next_attempt_at <= utcnow()),
    ]
    if only is not None:
        wanted.append(ImportRedraft.id.in_(list(only)))
    return wanted


def claim(
    factory: sessionmaker[Session],
    worker_id: str,
    limit: int,
    lease_seconds: int,
    only: Sequence[int] | None = None,
) -> list[int]:
    """Up to `limit` rows not done, not waiting out a back-off and not held under a live
    lease, oldest first, now held by `worker_id`, an attempt counted on each; `only`: of
    these rows (a CLI import finishing its own). A row whose last claim never ended (its
    worker stopped: nothing recorded a failure's back-off, `_stopped_before`) alone, before
    any batch: its writing may be what stops the worker; the least tried first, so a draft
    that stops every worker does not hold up the others its batch left behind."""
    wanted = _claimable(only)
    counted = {"attempts": ImportRedraft.attempts + 1, "next_attempt_at": None}
    alone = claim_rows(
        factory,
        ImportRedraft,
        worker_id,
        1,
        lease_seconds,
        *wanted,
        _stopped_before(),
        also=counted,
        first=(ImportRedraft.attempts,),
    )
    if alone:
        return alone
    return claim_rows(
        factory,
        ImportRedraft,
        worker_id,
        limit,
        lease_seconds,
        *wanted,
        not_(_stopped_before()),
        also=counted,
    )


def _stopped_before() -> ColumnElement[bool]:
    """Claimed before, and that claim ended neither in a failure's back-off (`next_attempt_at`,
    which a claim clears) nor given back (`release`): its worker stopped while it held it."""
    return and_(ImportRedraft.attempts > 0, ImportRedraft.next_attempt_at.is_(None))


def _no_failure() -> ColumnElement[bool]:
    """No attempt of the row's has failed (only stopped, if any)."""
    return or_(ImportRedraft.last_error.is_(None), ImportRedraft.last_error == "")


def give_up_stopped(
    factory: sessionmaker[Session], max_attempts: int, only: Sequence[int] | None = None
) -> int:
    """Finish as failed the rows claimed `max_attempts` times that none of the claims
    finished: a failed attempt's row is finished at its last, so at least the last of these
    claims' workers stopped (or lost its lease). Their reason STOPPED, or an earlier failed
    attempt's reason with LAST_STOPPED after it; how many."""
    now = utcnow()
    with transaction(factory) as session:
        stopped = session.execute(
            update(ImportRedraft)
            .where(
                *_claimable(only),
                ImportRedraft.attempts >= max_attempts,
                or_(ImportRedraft.claimed_until.is_(None), ImportRedraft.claimed_until < now),
            )
            .values(
                outcome=FAILED,
                done_at=now,
                last_error=case(
                    (_no_failure(), STOPPED), else_=ImportRedraft.last_error + LAST_STOPPED
                ),
                claimed_by=None,
                claimed_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return stopped.rowcount


def release(factory: sessionmaker[Session], worker_id: str | None = None) -> None:
    """Let go of what `worker_id` holds; its live claims' attempts given back (due at once):
    let go of unstarted (the worker was stopped), or lost with the database, not the draft's
    doing. A claim of its that lapsed, as every claim when no worker is given (on SQLite one
    process owns the queue, so claims a crash left are void), keeps its attempt: its worker
    may have stopped, and the draft may be why."""
    now = utcnow()
    if worker_id is not None:
        with transaction(factory) as session:
            session.execute(
                update(ImportRedraft)
                .where(
                    ImportRedraft.claimed_by == worker_id,
                    ImportRedraft.claimed_until >= now,
                    ImportRedraft.done_at.is_(None),
                    ImportRedraft.attempts > 0,
                )
                .values(
                    attempts=ImportRedraft.attempts - 1,
                    # One a stopped worker's claim left (attempts, no failure) stays so after
                    # its turn alone is given back: it is claimed alone again.
                    next_attempt_at=case(
                        (
                            and_(ImportRedraft.attempts > 1, _no_failure()),
                            None,
                        ),
                        else_=now,
                    ),
                    claimed_by=None,
                    claimed_until=None,
                )
            )
    release_rows(factory, ImportRedraft, worker_id)


#: How often a worker deletes the finished rows past their retention (`purge_done`).
PURGE_EVERY = timedelta(hours=1)


def purge_done(
    factory: sessionmaker[Session], retention_days: int, last: datetime | None = None
) -> datetime:
    """Delete the rows finished more than `retention_days` ago (written, kept, or failed for
    good), at most once every PURGE_EVERY since `last`: when it last did. Their drafts'
    histories keep what was written; a failed one's page keeps its Redraft, without the
    reason once its row is gone."""
    now = utcnow()
    if last is not None and now - last < PURGE_EVERY:
        return last
    with transaction(factory) as session:
        session.execute(
            delete(ImportRedraft).where(
                ImportRedraft.done_at < now - timedelta(days=retention_days)
            )
        )
    return now


def trouble(session: Session, message_id: int) -> dict[str, Any] | None:
    """Why the workers could not write the message's draft again after an import, for its
    page: the latest row's attempts and reason, and when it is tried again (`due`: its
    back-off is over; neither: it failed for good). None when none failed."""
    row = session.scalars(
        select(ImportRedraft)
        .where(
            ImportRedraft.message_id == message_id,
            or_(ImportRedraft.outcome == FAILED, ImportRedraft.done_at.is_(None)),
        )
        .order_by(ImportRedraft.id.desc())
        .limit(1)
    ).first()
    if row is None or (row.outcome != FAILED and not row.last_error):
        return None  # claimed (its attempt counted) and being written, or not yet tried
    waiting = (
        row.done_at is None and row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    )
    return {
        "imported_from": row.imported_from,
        "attempts": row.attempts,
        "error": row.last_error,
        "retry_at": row.next_attempt_at.isoformat() if waiting else None,
        # Its back-off is over: the workers' next round takes it (or one has it now).
        "due": row.done_at is None and not waiting,
    }


@dataclass
class ImportRedrafts:
    """What became of the waiting drafts of the senders an import linked (message ids)."""

    redrafted: dict[int, int] = field(default_factory=dict)  # message id: new draft version
    kept_edited: list[int] = field(default_factory=list)  # a person saved or edited it
    being_edited: list[int] = field(default_factory=list)  # a person was typing in it
    failed: list[int] = field(default_factory=list)  # could not be written, after the attempts
    #: not yet: a worker holds it, or will (after its back-off, when an attempt failed)
    waiting: list[int] = field(default_factory=list)

    def words(self, source: str) -> str:
        """One line for the import's report; "" when no draft waited."""
        said: list[str] = []
        if count := len(self.redrafted):
            drafts, were = _waiting_drafts(count)
            said.append(f"{drafts} of the senders it linked {were} written again for them")
        kept = [
            (len(self.kept_edited), "{drafts} a person had edited {were} kept as written"),
            (len(self.being_edited), "{drafts} a person was typing in {were} left alone"),
            (len(self.failed), "{drafts} could not be written again (its page says why)"),
        ]
        for count, words in kept:
            if count:
                drafts, were = _waiting_drafts(count)
                pages = "its page offers" if count == 1 else "their pages offer"
                said.append(f"{words.format(drafts=drafts, were=were)}: {pages} a redraft")
        if count := len(self.waiting):
            drafts, _ = _waiting_drafts(count)
            said.append(
                f"{drafts} {'is' if count == 1 else 'are'} left to the workers to write again"
            )
        return f"{source}: {'; '.join(said)}." if said else ""


def _waiting_drafts(count: int) -> tuple[str, str]:
    return ("1 waiting draft", "was") if count == 1 else (f"{count} waiting drafts", "were")


def queued_words(source: str, count: int) -> str:
    """The import's report line when it leaves its redrafts to the workers; "" for none."""
    if not count:
        return ""
    drafts, _ = _waiting_drafts(count)
    return (
        f"{source}: {drafts} of the senders it linked will be written again for them by a"
        " worker, except any a person has edited or is typing in then (its page offers a"
        " redraft): each draft's history says when."
    )


def outcomes(session: Session, ids: Sequence[int]) -> ImportRedrafts:
    """What became of these rows' drafts so far."""
    done = ImportRedrafts()
    lists = {KEPT_EDITED: done.kept_edited, BEING_EDITED: done.being_edited, FAILED: done.failed}
    for message_id, done_at, outcome, version in session.execute(
        select(
            ImportRedraft.message_id,
            ImportRedraft.done_at,
            ImportRedraft.outcome,
            ImportRedraft.draft_version,
        )
        .where(ImportRedraft.id.in_(list(ids)))
        .order_by(ImportRedraft.id)
    ):
        if done_at is None:
            done.waiting.append(message_id)
        elif outcome == REDRAFTED and version is not None:
            done.redrafted[message_id] = version
        elif outcome in lists:
            lists[outcome].append(message_id)
    return done
