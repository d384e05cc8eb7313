"""A draft follows its message's customer: written for a sender nobody knew yet (a provisional
customer, "Hello," and no details), it is written again once an agent links the sender to the
known customer, or once a CRM import links it (queued by the import, written by a worker:
`redraft_queued`). A draft a person has saved or edited is theirs: it stays, and the review
page says what it was written for and offers to redraft it; after an import, so does one a
person is typing in at that moment. The same
redraft serves an outage draft whose network incident changed since
(`responder.drafting.incident_changed`), and a saved draft written for an intent a supervisor
took back by rejecting the agent's correction.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from responder.channels.delivery import backoff
from responder.customers import redraft_queue
from responder.customers.links import link_customers
from responder.db.models import Customer, Draft, ImportRedraft, Message, StaffUser, utcnow
from responder.db.outage import database_unavailable
from responder.db.row_locks import lock_rows
from responder.db.session import transaction
from responder.drafting.incident_changed import incident_news
from responder.drafting.service import (
    Redraft,
    edited_by_person,
    embed_before_writing,
    redraft_keeping_action,
)
from responder.pipeline.queue import kept_alive, renew_rows
from responder.pipeline.states import AWAITING_REVIEW
from responder.presence import being_edited
from responder.review import changed_since_opened, current_draft
from responder.runtime import Runtime

log = logging.getLogger(__name__)


def written_for_another_customer(draft: Draft | None, message: Message) -> bool:
    """The customer recorded with the draft is not the message's any more (a link or unlink
    since). Drafts from before the customer was recorded in the grounding are left alone."""
    written_for = (draft.grounding or {}).get("customer") if draft is not None else None
    if not isinstance(written_for, dict) or "id" not in written_for:
        return False
    return written_for["id"] != message.customer_id


#: A redraft's `because` when the draft followed the message's intent back: the notice names the
#: intent after it, in words.
FOR_INTENT = "for the intent"


def written_for_another_intent(draft: Draft | None, message: Message) -> bool:
    """The intent the draft was written for is not the message's any more (a supervisor
    rejected a correction since, and a person's saved draft stayed)."""
    grounding = (draft.grounding or {}) if draft is not None else {}
    return "intent" in grounding and grounding["intent"] != message.intent


def redraft_for_customer(
    rt: Runtime,
    session: Session,
    message_id: int,
    user: StaffUser | None,
    *,
    keep_edits: bool,
    expected_version: int | None = None,
    noted: Mapping[str, Any] | None = None,
) -> Redraft:
    """A new draft version for the message's customer as it is now. `keep_edits`: leave a
    draft a person edited as it is (after a link); False when a person asked for the redraft.
    `noted` goes into the review action's detail (an import's file, who ran it)."""
    message = session.get(Message, message_id)
    if message is None or message.state not in AWAITING_REVIEW:
        return Redraft(None)
    if expected_version is not None and message.version != expected_version:
        raise changed_since_opened(session, message)
    previous = current_draft(session, message_id)
    if previous is None:
        return Redraft(None)
    for_customer = written_for_another_customer(previous, message)
    news = incident_news(session, message, previous)
    for_intent = written_for_another_intent(previous, message)
    if not for_customer and news is None and not for_intent:
        return Redraft(None)
    if keep_edits and edited_by_person(previous):
        return Redraft(None, kept_saved=True)
    detail: dict[str, Any] = {"for_customer": message.customer_id, **(noted or {})}
    if news is not None:
        detail["incident"] = (news["now"] or news["used"])["id"]
    if for_intent:
        detail["for_intent"] = message.intent
    why = ("redraft", detail)
    draft = redraft_keeping_action(rt, session, message, previous, user=user, why=why)
    if for_customer:
        return Redraft(draft.version, because="for the customer")
    if news is not None:
        return Redraft(draft.version, because="with the network incidents as they are now")
    return Redraft(draft.version, because=FOR_INTENT, intent=message.intent)


@dataclass
class LinkOutcome:
    link_id: int
    source_id: int
    target_id: int
    target_name: str
    moved: dict[str, int]
    redrafted: dict[int, int] = field(default_factory=dict)  # message id: new draft version
    kept_edited: list[int] = field(default_factory=list)  # message ids


def _waiting(session: Session, customer_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Message.id).where(
                Message.customer_id == customer_id,
                Message.direction == "in",
                Message.state.in_(AWAITING_REVIEW),
            )
        )
    )


def link_and_redraft(rt: Runtime, source_id: int, target_id: int, user: StaffUser) -> LinkOutcome:
    """The link and the drafts written again for the known customer, in one transaction: a
    draft that cannot be written leaves the link undone too, so nothing is half done."""
    with rt.read_factory() as session:
        waiting = _waiting(session, source_id)
    embed_before_writing(rt, *waiting)
    with transaction(rt.factory) as session:
        link = link_customers(session, source_id, target_id, user.username)
        target = session.get(Customer, target_id)
        outcome = LinkOutcome(
            link_id=link.id,
            source_id=link.source_id,
            target_id=link.target_id,
            target_name=target.name if target else "",
            moved={k: len(v) for k, v in (link.moved or {}).items()},
        )
        for message_id in link.moved.get("messages", ()):
            redraft = redraft_for_customer(rt, session, message_id, user, keep_edits=True)
            if redraft.draft_version is not None:
                outcome.redrafted[message_id] = redraft.draft_version
            elif redraft.kept_saved:
                outcome.kept_edited.append(message_id)
    return outcome


def redraft_queued(
    rt: Runtime,
    worker_id: str,
    *,
    only: Sequence[int] | None = None,
    stop: threading.Event | None = None,
    batches: int | None = None,
) -> int:
    """Write again the drafts CRM imports queued (`customers.redraft_queue`), a claimed batch
    at a time, until none is left (`only`: of these rows), `batches` batches were written (a
    worker's round writes one, so a large import does not hold up its polling, sending and
    acknowledgements) or `stop` is set; how many rows were finished. Each as an agent's link
    writes it, by whoever ran the import, in a transaction that also marks its row done, so a
    worker stopped mid-batch leaves the rest to the next (once its lease runs out) and none is
    written twice. A draft a person saved or edited stays, and so does one a person is typing
    in at that moment (their save would be refused under a new version): each one's page says
    it was written before the customer was known and offers Redraft. One that cannot be
    written (the embedding model would not load) is tried again after a back-off, as a
    failing stage's message is, and after `[pipeline] max_attempts` is finished as failed,
    its page saying why and offering that Redraft; so is one claimed that many times that no
    worker finished (`redraft_queue.give_up_stopped`: writing it kills the worker)."""
    settings = rt.settings.pipeline
    finished = 0
    rounds = itertools.count() if batches is None else range(batches)
    for _ in rounds:
        if stop is not None and stop.is_set():
            break
        finished += redraft_queue.give_up_stopped(rt.factory, settings.max_attempts, only)
        ids = redraft_queue.claim(
            rt.factory, worker_id, settings.batch_size, settings.lease_seconds, only
        )
        if not ids:
            break
        finished += _redraft_batch(rt, worker_id, ids, stop)
    return finished


def _redraft_batch(
    rt: Runtime, worker_id: str, ids: list[int], stop: threading.Event | None
) -> int:
    """The messages embedded first, all at once and outside any transaction; the claim kept
    alive while the batch is written (`kept_alive`), as a reply's while it is delivered.
    Embedding that fails for the batch is tried again for each row, where it fails that row
    alone: an attempt, after which it waits its back-off. An exception that is not the
    draft's (the database lost, the process dying) leaves the unfinished rows held until the
    lease runs out (a lost database: until the worker releases its claims, their attempts
    given back; a dying process's count, as the draft may have killed it)."""
    lease = rt.settings.pipeline.lease_seconds
    with rt.read_factory() as session:
        messages = session.scalars(
            select(ImportRedraft.message_id).where(ImportRedraft.id.in_(ids))
        ).all()
    try:
        embed_before_writing(rt, *messages)
    except Exception as exc:
        if database_unavailable(exc):
            raise
        log.warning("embedding the messages of %d import redrafts failed: %s", len(ids), exc)
    finished = 0
    with kept_alive(
        partial(renew_rows, rt.factory, ImportRedraft, worker_id, ids, lease),
        lease,
        f"import redrafts {ids[0]}-{ids[-1]}",
        {"stage": "import redraft"},
    ):
        for row_id in ids:
            if stop is not None and stop.is_set():
                break
            finished += _redraft_row(rt, worker_id, row_id)
    redraft_queue.release(rt.factory, worker_id)
    return finished


def _redraft_row(rt: Runtime, worker_id: str, row_id: int) -> int:
    """1 when this worker finished the row (written, kept, or failed after the last
    attempt), 0 when it waits its back-off after a failed attempt, or this worker no longer
    held it (its lease ran out and another worker took it, which writes it)."""
    with rt.read_factory() as session:
        message_id = session.scalar(
            select(ImportRedraft.message_id).where(ImportRedraft.id == row_id)
        )
    if message_id is None:
        return 0
    try:
        embed_before_writing(rt, message_id)  # embedded with its batch, unless that failed
        with transaction(rt.factory) as session:
            # An agent's Redraft or link of this message waits, or is waited for.
            lock_rows(session, Message.updated_at, Message.id == message_id)
            row = session.scalar(
                select(ImportRedraft).where(*_still_held(row_id, worker_id)).with_for_update()
            )
            if row is None:
                return 0
            row.outcome, row.draft_version = _redraft_for_import(rt, session, row)
            row.done_at, row.claimed_by, row.claimed_until = utcnow(), None, None
        return 1
    except Exception as exc:
        if database_unavailable(exc):
            raise
        log.exception(
            "message %s: the draft could not be written again after an import", message_id
        )
        problem = traceback.format_exc(limit=1).strip().splitlines()[-1]
    return _attempt_failed(rt, worker_id, row_id, problem)


def _attempt_failed(rt: Runtime, worker_id: str, row_id: int, problem: str) -> int:
    """The row let go to wait its back-off (0), or finished as failed after the last attempt
    (1), `problem` kept for its page; 0 as well when this worker no longer holds it."""
    settings = rt.settings.pipeline
    with transaction(rt.factory) as session:
        row = session.scalar(
            select(ImportRedraft).where(*_still_held(row_id, worker_id)).with_for_update()
        )
        if row is None:
            return 0
        row.last_error = problem  # its attempt counted when it was claimed
        row.claimed_by, row.claimed_until = None, None
        if row.attempts >= settings.max_attempts:
            row.outcome, row.done_at = redraft_queue.FAILED, utcnow()
            return 1
        delay = backoff(settings.retry_base_seconds, row.attempts)
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        message_id, attempt = row.message_id, row.attempts + 1
    log.info(
        "message %s: its draft is tried again after an import in %.0f s (attempt %d of %d)",
        message_id,
        delay,
        attempt,
        settings.max_attempts,
        extra={"message_id": message_id, "stage": "import redraft"},
    )
    return 0


def _still_held(row_id: int, worker_id: str) -> tuple[ColumnElement[bool], ...]:
    """The row, while this worker holds it and it is not done."""
    return (
        ImportRedraft.id == row_id,
        ImportRedraft.claimed_by == worker_id,
        ImportRedraft.done_at.is_(None),
    )


def _redraft_for_import(
    rt: Runtime, session: Session, row: ImportRedraft
) -> tuple[str, int | None]:
    """The row's outcome and the new draft version, if one was written."""
    if being_edited(session, [row.message_id]):
        return redraft_queue.BEING_EDITED, None
    user = session.get(StaffUser, row.user_id) if row.user_id is not None else None
    noted = {"imported_from": row.imported_from, **({} if user else {"by": row.queued_by})}
    redraft = redraft_for_customer(rt, session, row.message_id, user, keep_edits=True, noted=noted)
    if redraft.draft_version is not None:
        return redraft_queue.REDRAFTED, redraft.draft_version
    return (redraft_queue.KEPT_EDITED if redraft.kept_saved else redraft_queue.UNCHANGED), None
