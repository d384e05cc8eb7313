"""Prometheus metrics: process-local counters and histograms, queue gauges read from the database.

Each process (web or worker) has its own registry. What only the database knows (messages by
state, queue depth, the age of the oldest waiting message) is read at scrape time, so any web
process reports the same queue whichever worker did the work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from responder.db.models import Message, OutboxItem, utcnow
from responder.db.session import after_commit
from responder.pipeline.states import WORK_STATES, State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry()
STAGE_SECONDS = Histogram(
    "responder_stage_duration_seconds",
    "Time one stage takes over one batch of messages.",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
STAGE_MESSAGES = Counter(
    "responder_stage_messages",
    "Messages handed to a stage.",
    ["stage"],
    registry=REGISTRY,
)
STAGE_FAILURES = Counter(
    "responder_stage_failures",
    "Messages a stage failed on (retried later with backoff).",
    ["stage"],
    registry=REGISTRY,
)
SEND_FAILURES = Counter(
    "responder_send_failures",
    "Replies the transport did not accept: temporary (retried), permanent, or uncertain (the "
    "answer was lost: it may have gone out).",
    ["kind"],
    registry=REGISTRY,
)
REPLIES_SENT = Counter(
    "responder_replies_sent",
    "What went out in answer to a message, by channel kind, once each when recorded as sent "
    "(not per attempt): a reply, a new message staff wrote (new_message), or a WhatsApp "
    "template sent in a reply's place outside the reply window (template).",
    ["channel", "what"],
    registry=REGISTRY,
)
ACKNOWLEDGEMENTS_SENT = Counter(
    "responder_acknowledgements_sent",
    "Automatic acknowledgements that went out, by channel kind, once each when recorded as "
    "sent (a WhatsApp template sent in one's place included).",
    ["channel"],
    registry=REGISTRY,
)
MEDIA_FETCHES = Counter(
    "responder_media_fetches",
    "Fetches of a social DM's photo or file: fetched, refused (for good) or retry (later).",
    ["platform", "outcome"],
    registry=REGISTRY,
)

MODEL_BATCH = Histogram(
    "responder_model_batch_size",
    "Texts per call into a model.",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)


class PollerClock(Collector):
    """Seconds since each mailbox's poller last finished a poll (this process's pollers)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def polled(self, mailbox: str) -> None:
        self.last[mailbox] = time.time()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "responder_poller_lag_seconds",
            "Seconds since the mailbox was last polled successfully by this process.",
            labels=["mailbox"],
        )
        now = time.time()
        for mailbox, at in sorted(self.last.items()):
            lag.add_metric([mailbox], now - at)
        yield lag


POLLERS = PollerClock()
REGISTRY.register(POLLERS)


def count_when_committed(session: Session, counter: Counter) -> None:
    """One more on `counter` once the transaction recording it commits: a send whose record
    rolls back is recorded (and counted) by whoever recovers it, never twice."""
    after_commit(session, counter.inc)


def pipeline_rows() -> ColumnElement[bool]:
    """The rows the pipeline works on: inbound mail, and each new message staff wrote (an
    outbound row with an outbox row of its own, which the send stage delivers, retries or
    fails). Not our stored copies of sent replies: the message each answers is `sent` already,
    so counting them too would count every reply twice."""
    written = select(OutboxItem.id).where(OutboxItem.message_id == Message.id).exists()
    return or_(Message.direction == "in", written)


def state_counts_in(session: Session) -> dict[str, int]:
    """How many of the pipeline's rows are in each state (every state, 0 for none)."""
    counts = {state.value: 0 for state in State}
    for state, count in session.execute(
        select(Message.state, func.count(Message.id)).where(pipeline_rows()).group_by(Message.state)
    ):
        counts[state] = count
    return counts


def queue_snapshot(session: Session, now: datetime | None = None) -> dict[str, dict[str, float]]:
    """Per state: how many of the pipeline's rows, and for work states the oldest one's wait."""
    now = now or utcnow()
    counts = {state: float(count) for state, count in state_counts_in(session).items()}
    oldest = {state.value: 0.0 for state in WORK_STATES}
    for state, since in session.execute(
        select(Message.state, func.min(Message.updated_at))
        .where(pipeline_rows(), Message.state.in_([s.value for s in WORK_STATES]))
        .group_by(Message.state)
    ):
        if since is not None:
            oldest[state] = max(0.0, (now - since).total_seconds())
    return {"messages": counts, "oldest": oldest}


class QueueCollector(Collector):
    """Reads the queue from the database at scrape time (one grouped query per figure)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from responder.pipeline.stages import STAGES

        with self.factory() as session:
            snapshot = queue_snapshot(session)
        by_state = GaugeMetricFamily(
            "responder_messages",
            "Messages by state: inbound mail and new messages staff wrote (a sent reply once).",
            labels=["state"],
        )
        for state, count in snapshot["messages"].items():
            by_state.add_metric([state], count)
        depth = GaugeMetricFamily(
            "responder_queue_depth", "Messages waiting for a stage.", labels=["stage"]
        )
        age = GaugeMetricFamily(
            "responder_queue_oldest_seconds",
            "Seconds the oldest message waiting for a stage has been in its state.",
            labels=["stage"],
        )
        for stage in STAGES:
            depth.add_metric([stage.name], snapshot["messages"][stage.takes.value])
            age.add_metric([stage.name], snapshot["oldest"][stage.takes.value])
        yield by_state
        yield depth
        yield age


def exposition(factory: sessionmaker[Session] | None) -> bytes:
    """The text format for one scrape: this process's metrics plus the database's queue."""
    body = generate_latest(REGISTRY)
    if factory is not None:
        queue = CollectorRegistry()
        queue.register(QueueCollector(factory))
        body += generate_latest(queue)
    return body
