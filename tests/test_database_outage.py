"""PostgreSQL stops mid-run and comes back: the worker and the web app recover without a restart.

The test has its own cluster, so stopping it disturbs no other test. While the database is down
the web app answers 503 with Retry-After and the worker waits with backoff; once it is back the
same processes carry on, and every message ends drafted exactly once. The worker forks from a
pre-imported parent (`tests/worker_zygote.py`) that imports while the test sets up.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
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
from tests.conftest import need_server
from tests.helpers import staff
from tests.live_server import serve
from tests.servers import PostgresCluster, ServerUnavailable
from tests.worker_processes import consistency_problems, is_state_change
from tests.worker_zygote import ForkedWorker, WorkerZygote

MESSAGES = 12


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster().start()
    except ServerUnavailable as exc:
        need_server(str(exc))
    yield cluster
    cluster.cleanup()


def is_outage(event: dict) -> bool:
    return event.get("database") == "unavailable"


def is_recovery(event: dict) -> bool:
    return event.get("database") == "reachable"


@pytest.mark.slow
def test_worker_and_web_ride_out_a_database_restart(
    project: Path, own_cluster: PostgresCluster, int8_embedder: Embedder
) -> None:
    environ = {
        "RESPONDER_DATABASE__URL": own_cluster.create_database(),
        "RESPONDER_PIPELINE__BATCH_SIZE": "4",
        "RESPONDER_PIPELINE__POLL_INTERVAL_SECONDS": "0.2",
        "RESPONDER_PIPELINE__DATABASE_RETRY_MAX_SECONDS": "1",
    }
    zygote = WorkerZygote(project / "config.toml", environ)  # imports while we set up
    try:
        settings = load_settings(project / "config.toml", environ=environ)
        rt = prepare(settings, embedder=int8_embedder)  # the encoder the worker runs
        rt.classifiers(settings.classify.pipeline)  # trained here, so the worker only loads them
        staff(rt)
        channel_id = ensure_channel(
            rt.factory, "support", "maildir", "support@northwind-mobile.test"
        )
        emails = [customer_email(n, short=True) for n in range(MESSAGES)]
        store_received(rt.factory, channel_id, emails, "outage")
        outage_and_recovery(rt, ForkedWorker(zygote), own_cluster)
    finally:
        zygote.close()  # kills the worker if it still runs
    rt.engine.dispose()


def outage_and_recovery(rt: Runtime, worker: ForkedWorker, own_cluster: PostgresCluster) -> None:
    """The outage itself, seen from the web app and the worker, and what is left after it."""
    with serve(rt) as base, httpx.Client(base_url=base, timeout=30) as web:
        login = {"username": "alice", "password": "correct horse battery"}
        token = web.post("/api/login", json=login).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert web.get("/api/queue", headers=auth).status_code == 200
        assert worker.wait_for(is_state_change, timeout=600), worker.output()

        own_cluster.pause()
        down = web.get("/api/queue", headers=auth)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "5"
        assert "database is unavailable" in down.json()["detail"]
        page = web.get("/queue", headers=auth)
        assert page.status_code in (503, 303, 302), page.text  # pages: 503, or login first
        assert web.get("/readyz").status_code == 503
        assert worker.wait_for(is_outage, timeout=600), worker.output()
        assert worker.alive, worker.output()

        own_cluster.resume()
        assert worker.wait_for(is_recovery, timeout=120), worker.output()
        deadline = time.monotonic() + 900
        while state_counts(rt)["in_review"] < MESSAGES:
            assert time.monotonic() < deadline, state_counts(rt)
            assert worker.alive, worker.output()
            time.sleep(0.2)  # polling the database for completion, not synchronising
        up = web.get("/api/queue", headers=auth)
        assert up.status_code == 200, up.text
        assert web.get("/readyz").status_code == 200
    assert worker.terminate() == 0, worker.output()

    assert consistency_problems(rt) == []
    with rt.factory() as session:
        drafts = Counter(session.scalars(select(Draft.message_id)))
        attempts = session.scalar(select(func.sum(Message.attempts)))
    assert len(drafts) == MESSAGES and set(drafts.values()) == {1}
    assert attempts == 0, "the outage was counted as a failure of some message"
