"""The worker loop: poll sources, claim a batch, run it through every stage, release it."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from responder.acknowledge import send_acknowledgements
from responder.channels.delivery import backoff
from responder.customers import redraft_queue
from responder.db.models import Message, utcnow
from responder.db.outage import database_unavailable, first_line
from responder.db.session import transaction
from responder.drafting.customer_known import redraft_queued
from responder.ops.metrics import (
    POLLERS,
    STAGE_FAILURES,
    STAGE_MESSAGES,
    STAGE_SECONDS,
    state_counts_in,
)
from responder.pipeline.notify import start_work_listener
from responder.pipeline.queue import (
    Claim,
    claim_batch,
    release,
    release_all,
    release_worker,
    renew,
)
from responder.pipeline.stages import STAGES, Stage
from responder.pipeline.states import WORK_STATES, State
from responder.runtime import Runtime
from responder.snooze import wake_due

log = logging.getLogger(__name__)

Poller = Callable[[], int]


class Worker:
    def __init__(self, rt: Runtime, pollers: Sequence[Poller] = (), worker_id: str | None = None):
        self.rt = rt
        self.pollers = list(pollers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        #: Set when new work was stored (see `wake`): the idle wait ends at once.
        self.work_event = threading.Event()
        #: Held by `wake` and by the look before the idle wait, so that a wake never falls
        #: between that look and its "waiting for new work" line.
        self.waking = threading.Lock()
        #: When this worker last deleted the finished import redrafts past their retention.
        self.purged_at: datetime | None = None
        if rt.engine.dialect.name == "sqlite":
            release_all(rt.factory)
            redraft_queue.release(rt.factory)

    def poll_sources(self) -> int:
        stored = 0
        for poll in self.pollers:
            mailbox = getattr(poll, "mailbox", None)  # set on mailbox pollers, for their lag
            try:
                stored += poll()
            except Exception:
                log.exception("polling %s failed", mailbox or "a source")
            else:
                if mailbox is not None:
                    POLLERS.polled(str(mailbox))
        return stored

    def run_once(self) -> int:
        """One batch through all stages; returns how many messages it claimed."""
        settings = self.rt.settings.pipeline
        ids = claim_batch(
            self.rt.factory,
            self.worker_id,
            WORK_STATES,
            settings.batch_size,
            settings.lease_seconds,
        )
        if not ids:
            return 0
        # The claim is renewed between stages once a third of the lease has gone, so a stage
        # always starts with two thirds of a lease left; a batch that runs in seconds (the
        # usual case) writes its claim once instead of once a stage.
        renewed = time.monotonic()
        try:
            for stage in STAGES:
                if self.stop_event.is_set():
                    log.info("stopping: releasing %d claimed messages", len(ids))
                    break
                if time.monotonic() - renewed > settings.lease_seconds / 3:
                    renew(self.rt.factory, self.worker_id, ids, settings.lease_seconds)
                    renewed = time.monotonic()
                waiting = self._in_state(ids, stage.takes)
                if waiting:
                    self._run_stage(stage, waiting)
        finally:
            release(self.rt.factory, self.worker_id, ids)
        return len(ids)

    def _in_state(self, ids: Sequence[int], state: State) -> list[int]:
        """The claimed messages a stage takes now, while still claimed by this worker: routing
        lets go of those it leaves to a person, so one approved while this batch runs waits out
        its undo window like any other (and a retry its back-off), and is then claimed anew."""
        with self.rt.factory() as session:
            return list(
                session.scalars(
                    select(Message.id).where(
                        Message.id.in_(list(ids)),
                        Message.claimed_by == self.worker_id,
                        Message.state == state,
                        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= utcnow()),
                    )
                )
            )

    def _run_stage(self, stage: Stage, ids: list[int]) -> None:
        STAGE_MESSAGES.labels(stage.name).inc(len(ids))
        started = time.perf_counter()
        try:
            self._run_stage_or_each(stage, ids)
        finally:
            STAGE_SECONDS.labels(stage.name).observe(time.perf_counter() - started)

    def _run_stage_or_each(self, stage: Stage, ids: list[int]) -> None:
        """The whole batch at once; after a failure, one by one to find the bad message.

        A lost database is nobody's fault: it goes up to run_forever, which waits it out.
        """
        claim = Claim(self.worker_id, self.rt.settings.pipeline.lease_seconds)
        try:
            stage.run(self.rt, ids, claim)
            return
        except Exception as exc:
            if database_unavailable(exc):
                raise
            if len(ids) == 1:
                self._record_failure(stage, ids[0])
                return
        for message_id in ids:
            try:
                stage.run(self.rt, [message_id], claim)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                self._record_failure(stage, message_id)

    def _record_failure(self, stage: Stage, message_id: int) -> None:
        """Keep the message where it is, retry later with backoff, give up visibly."""
        STAGE_FAILURES.labels(stage.name).inc()
        log.exception(
            "stage %s failed for message %s",
            stage.name,
            message_id,
            extra={"message_id": message_id, "stage": stage.name},
        )
        problem = traceback.format_exc(limit=1).strip().splitlines()[-1]
        settings = self.rt.settings.pipeline
        with transaction(self.rt.factory) as session:
            message = session.get(Message, message_id)
            if message is None:
                return
            message.attempts += 1
            message.state_reason = f"{stage.name} failed: {problem}"
            if message.attempts >= settings.max_attempts:
                message.state = State.FAILED
                message.state_reason = f"{stage.name} failed {message.attempts} times: {problem}"
            else:
                delay = backoff(settings.retry_base_seconds, message.attempts)
                message.next_attempt_at = utcnow() + timedelta(seconds=delay)

    def drain(self, max_rounds: int | None = 10_000) -> int:
        """One round: wake what was snoozed till now, poll once, run until nothing is
        claimable (or `max_rounds` batches), write again one batch of the drafts CRM imports
        queued, send the acknowledgements queued. `poll --once` and tests run one;
        `run_forever` runs one after another, without a cap, the next at once while imports'
        drafts are left to write (a large import's, a batch a round: mail that arrives
        meanwhile waits for one batch, not for the whole import)."""
        wake_due(self.rt.factory)
        self.poll_sources()
        drained = self.drain_claims(max_rounds)
        if self.redraft_imported(batches=1):
            self.work_event.set()
        send_acknowledgements(self.rt)
        return drained

    def redraft_imported(self, batches: int | None = None) -> int:
        """The drafts CRM imports left to the workers (`customers.redraft_queue`), written
        again in claimed batches (at most `batches`); how many were finished. The finished
        rows past `[pipeline] import_redraft_retention_days` are deleted, at most once an hour.
        A failure that is not one draft's is logged; a lost database goes up to run_forever,
        as a stage's does."""
        settings = self.rt.settings.pipeline
        try:
            finished = redraft_queued(
                self.rt, self.worker_id, stop=self.stop_event, batches=batches
            )
            self.purged_at = redraft_queue.purge_done(
                self.rt.factory, settings.import_redraft_retention_days, self.purged_at
            )
            return finished
        except Exception as exc:
            if database_unavailable(exc):
                raise
            log.exception("writing again the drafts of the senders an import linked failed")
            return 0

    def work_once(self) -> int:
        """`worker --once`: the stages until nothing is claimable, then the imports' redrafts
        until none is left."""
        drained = self.drain_claims()
        self.redraft_imported()
        return drained

    def drain_claims(self, max_rounds: int | None = 10_000) -> int:
        total = 0
        for _ in range(max_rounds) if max_rounds is not None else itertools.count():
            if self.stop_event.is_set():
                break
            claimed = self.run_once()
            if not claimed:
                break
            total += claimed
        return total

    def run_forever(self) -> None:
        """Poll and work until stopped; while the database is unreachable, retry with backoff.

        Each round is a `drain`. Between rounds it waits up to the poll interval, or until
        `wake` says work arrived; not at all while imports' drafts are left to write.
        Every stage commits its batch in one transaction, so an outage mid-stage leaves the
        messages in their last committed state; the worker's own claims are released once the
        database is back.
        """
        settings = self.rt.settings.pipeline
        interval = settings.poll_interval_seconds
        delay = 0.0
        while not self.stop_event.is_set():
            self.work_event.clear()  # before claiming: a wake during the drain is kept
            try:
                if delay:
                    release_worker(self.rt.factory, self.worker_id)
                    redraft_queue.release(self.rt.factory, self.worker_id)
                    log.warning(
                        "database reachable again: resuming", extra={"database": "reachable"}
                    )
                    delay = 0.0
                self.drain(max_rounds=None)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                delay = min(max(interval, delay * 2), settings.database_retry_max_seconds)
                log.warning(
                    "database unavailable, retrying in %.1fs: %s",
                    delay,
                    first_line(exc),
                    extra={"database": "unavailable"},
                )
                self.stop_event.wait(delay)
                continue
            with self.waking:
                if not self.work_event.is_set():
                    log.debug(
                        "nothing left to do: waiting up to %gs for new work",
                        interval,
                        extra={"idle_seconds": interval},
                    )
            self.work_event.wait(interval)

    def wake(self) -> None:
        """New work was stored by a poller in this process: claim it now, not next round."""
        with self.waking:
            self.work_event.set()

    def stop(self) -> None:
        self.stop_event.set()
        self.work_event.set()


def run_workers(
    rt: Runtime,
    pollers: Sequence[Poller],
    concurrency: int = 1,
    *,
    once: bool = False,
    stop_signals: bool = False,
) -> list[Worker]:
    """N worker threads sharing one Runtime (one copy of each model); the first one polls.

    With stop_signals, SIGTERM and SIGINT ask every thread to stop: each finishes the stage in
    hand, releases its claims and returns; then this returns.
    """
    workers = [Worker(rt, pollers if n == 0 else ()) for n in range(max(1, concurrency))]
    if stop_signals:
        import signal

        def stop_all(_signum: int, _frame: object) -> None:
            for worker in workers:
                worker.stop()

        signal.signal(signal.SIGTERM, stop_all)
        signal.signal(signal.SIGINT, stop_all)
    if once:
        workers[0].poll_sources()
    threads = [
        threading.Thread(
            target=worker.work_once if once else worker.run_forever,
            name=f"worker-{n}",
            daemon=True,
        )
        for n, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    if not once:

        def wake_all() -> None:
            for worker in workers:
                worker.wake()

        start_work_listener(
            rt.engine,
            wake_all,
            workers[0].stop_event,
            listen_url=rt.settings.database.listen_url,
        )
    for thread in threads:
        while thread.is_alive():  # join with a timeout so signal handlers run promptly
            thread.join(timeout=0.5)
    return workers


def state_counts(rt: Runtime) -> dict[str, int]:
    """What `worker --once` and `poll --once` print: the pipeline's rows by state, as the
    `responder_messages` gauge counts them."""
    with rt.factory() as session:
        return state_counts_in(session)
