"""On PostgreSQL, a message stored by one process wakes idle workers in every other process at
once (LISTEN/NOTIFY), instead of after their poll interval: the recommended deployment runs one
`responder worker` process per core, only one of which polls the mailboxes. The worker forks
from a pre-imported parent (`tests/worker_zygote.py`) that imports while the test sets up."""

from __future__ import annotations

from pathlib import Path

from bench.corpus import customer_email
from responder.bootstrap import pollers, prepare
from responder.channels.maildir_source import deliver_to_maildir
from responder.classify.embedder import Embedder
from responder.config import load_settings
from responder.pipeline.states import State
from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from tests.servers import PostgresCluster
from tests.worker_processes import is_state_change
from tests.worker_zygote import ForkedWorker, WorkerZygote


def test_a_message_stored_elsewhere_wakes_an_idle_worker_process(
    project: Path, pg_cluster: PostgresCluster, int8_embedder: Embedder
) -> None:
    environ = {
        "RESPONDER_DATABASE__URL": pg_cluster.create_database(),
        # Without the announcement the worker would not look again for ten minutes.
        "RESPONDER_PIPELINE__POLL_INTERVAL_SECONDS": "600",
        "RESPONDER_LOGGING__LEVEL": "DEBUG",  # for its line when it starts waiting
    }
    zygote = WorkerZygote(project / "config.toml", environ)  # imports while we set up
    try:
        settings = load_settings(project / "config.toml", environ=environ)
        rt = prepare(settings, embedder=int8_embedder)  # the encoder the worker runs
        rt.classifiers(settings.classify.pipeline)  # trained here, so the worker only loads them
        woken_by_notify(rt, ForkedWorker(zygote))  # no --poll: it only works
    finally:
        zygote.close()


def woken_by_notify(rt: Runtime, worker: ForkedWorker) -> None:
    try:
        assert worker.wait_for(lambda e: e.get("listening") == "responder_work", timeout=120), (
            worker.output()
        )
        # The round the listener's wake-up started has found nothing: it waits now.
        assert worker.wait_for(lambda e: "idle_seconds" in e, timeout=120), worker.output()
        deliver_to_maildir(rt.settings.path(rt.settings.maildir.path), customer_email(1), "m1")
        poller = Worker(rt, pollers(rt))  # this process plays the one that polls the mailbox
        assert poller.poll_sources() == 1
        arrived = worker.wait_for(
            lambda e: is_state_change(e) and e["state"] == State.IN_REVIEW.value, timeout=180
        )
        assert arrived, worker.output()
        assert state_counts(rt)["in_review"] == 1
    finally:
        assert worker.terminate() == 0
        rt.engine.dispose()
