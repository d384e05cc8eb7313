"""Three `responder worker` processes share 800 queued messages on PostgreSQL.

One is killed with SIGKILL mid-batch; after its lease runs out the others finish its work.
Every message is drafted exactly once. The workers use the int8 ONNX encoder
(`[models] backend = "onnx-int8"`, the documented fast setting) with the real pipeline, and
short messages, to keep the run to a few minutes on two cores. They fork from one pre-imported
parent (`tests/worker_zygote.py`): three interpreters importing torch and spaCy at once on two
cores cost more than the run's first batches.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.corpus import customer_email, store_received
from responder.bootstrap import prepare
from responder.channels.maildir_source import ensure_channel
from responder.classify.embedder import Embedder
from responder.config import load_settings
from responder.db.models import Draft, Message
from responder.pipeline.worker import state_counts
from responder.runtime import Runtime
from tests.servers import PostgresCluster
from tests.worker_processes import ROOT, consistency_problems, is_state_change
from tests.worker_zygote import ForkedWorker, WorkerZygote

MESSAGES = int(os.environ.get("SCALE_TEST_MESSAGES", "800"))  # smaller for a quick local check


@pytest.mark.slow
def test_three_workers_share_the_queue_and_survive_a_kill(
    project: Path, pg_cluster: PostgresCluster, int8_embedder: Embedder
) -> None:
    environ = {
        "RESPONDER_DATABASE__URL": pg_cluster.create_database(),
        "RESPONDER_PIPELINE__LEASE_SECONDS": "10",
        "RESPONDER_PIPELINE__BATCH_SIZE": "16",
        "RESPONDER_PIPELINE__POLL_INTERVAL_SECONDS": "0.5",
        "RESPONDER_MODELS__BACKEND": "onnx-int8",
        "RESPONDER_MODELS__CACHE_DIR": str(ROOT / "var" / "models"),
    }
    zygote = WorkerZygote(project / "config.toml", environ)  # imports while we set up
    try:
        settings = load_settings(project / "config.toml", environ=environ)
        rt = prepare(settings, embedder=int8_embedder)  # the encoder the workers run
        channel_id = ensure_channel(
            rt.factory, "support", "maildir", "support@northwind-mobile.test"
        )
        emails = [customer_email(n, short=True) for n in range(MESSAGES)]
        store_received(rt.factory, channel_id, emails)
        doomed, *survivors = [ForkedWorker(zygote) for _ in range(3)]
        orphaned = kill_mid_batch(rt, doomed)
        deadline = time.monotonic() + 1500
        while state_counts(rt)["in_review"] < MESSAGES:
            assert time.monotonic() < deadline, state_counts(rt)
            assert all(w.alive for w in survivors), survivors[0].output()
            time.sleep(0.2)  # polling the database for completion, not synchronising
        for survivor in survivors:
            assert survivor.terminate() == 0, survivor.output()
    finally:
        zygote.close()

    assert consistency_problems(rt) == []
    with rt.factory() as session:
        drafts = Counter(session.scalars(select(Draft.message_id)))
        attempts = session.scalar(select(func.sum(Message.attempts)))
    assert len(drafts) == MESSAGES and set(drafts.values()) == {1}
    assert attempts == 0, "a stage failed somewhere (e.g. two workers on one message)"

    survivor_changes = [c for w in survivors for c in w.state_changes()]
    assert len(survivor_changes) == len(set(survivor_changes)), "a message was processed twice"
    assert all(w.state_changes() for w in survivors), "one worker got no work"
    reviewed = {m for m, s in survivor_changes + doomed.state_changes() if s == "in_review"}
    assert len(reviewed) == MESSAGES
    taken_over = {m for m, s in survivor_changes if m in orphaned}
    assert taken_over == orphaned, "the killed worker's claimed messages were not taken over"


def kill_mid_batch(rt: Runtime, doomed: ForkedWorker) -> set[int]:
    """SIGKILL once it has moved a message on; the messages it still held claimed."""
    assert doomed.wait_for(is_state_change, timeout=900), doomed.output()
    doomed.kill()
    with rt.factory() as session:
        orphaned = set(
            session.scalars(select(Message.id).where(Message.claimed_by.like(f"%:{doomed.pid}:%")))
        )
    assert orphaned, "the killed worker held no claims"
    return orphaned
