"""The worker loop: poll sources, claim a batch, run it through every stage, release it."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import func, select

from responder.db.models import Message, utcnow
from responder.db.session import transaction
from responder.pipeline.queue import claim_batch, release, release_all
from responder.pipeline.stages import STAGES, Stage
from responder.pipeline.states import WORK_STATES, State
from responder.runtime import Runtime

log = logging.getLogger(__name__)

Poller = Callable[[], int]


class Worker:
    def __init__(self, rt: Runtime, pollers: Sequence[Poller] = (), worker_id: str | None = None):
        self.rt = rt
        self.pollers = list(pollers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        if rt.engine.dialect.name == "sqlite":
            release_all(rt.factory)

    def poll_sources(self) -> int:
        stored = 0
        for poll in self.pollers:
            try:
                stored += poll()
            except Exception:
                log.exception("polling a source failed")
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
        try:
            for stage in STAGES:
                waiting = self._in_state(ids, stage.takes)
                if waiting:
                    self._run_stage(stage, waiting)
        finally:
            release(self.rt.factory, self.worker_id, ids)
        return len(ids)

    def _in_state(self, ids: Sequence[int], state: State) -> list[int]:
        with self.rt.factory() as session:
            return list(
                session.scalars(
                    select(Message.id).where(Message.id.in_(list(ids)), Message.state == state)
                )
            )

    def _run_stage(self, stage: Stage, ids: list[int]) -> None:
        try:
            stage.run(self.rt, ids)
            return
        except Exception:
            if len(ids) == 1:
                self._record_failure(stage, ids[0])
                return
        for message_id in ids:
            try:
                stage.run(self.rt, [message_id])
            except Exception:
                self._record_failure(stage, message_id)

    def _record_failure(self, stage: Stage, message_id: int) -> None:
        """Keep the message where it is, retry later with backoff, give up visibly."""
        log.exception("stage %s failed for message %s", stage.name, message_id)
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
                delay = settings.retry_base_seconds * 2 ** (message.attempts - 1)
                message.next_attempt_at = utcnow() + timedelta(seconds=delay)

    def drain(self, max_rounds: int = 10_000) -> int:
        """Poll once, then run until nothing is claimable (used by `poll --once` and tests)."""
        self.poll_sources()
        total = 0
        for _ in range(max_rounds):
            claimed = self.run_once()
            if not claimed:
                break
            total += claimed
        return total

    def run_forever(self) -> None:
        interval = self.rt.settings.pipeline.poll_interval_seconds
        while not self.stop_event.is_set():
            self.poll_sources()
            while not self.stop_event.is_set() and self.run_once():
                pass
            self.stop_event.wait(interval)

    def stop(self) -> None:
        self.stop_event.set()


def state_counts(rt: Runtime) -> dict[str, int]:
    with rt.factory() as session:
        rows = session.execute(
            select(Message.state, func.count(Message.id))
            .where(Message.direction == "in")
            .group_by(Message.state)
        ).all()
    counts = {state.value: 0 for state in State}
    counts.update({state: count for state, count in rows})
    return counts
