"""`responder worker` stops cleanly on SIGTERM: the stage in hand finishes, claims are released."""

from __future__ import annotations

from pathlib import Path

from responder.pipeline.worker import Worker, state_counts
from responder.runtime import Runtime
from tests.helpers import drop, make_email
from tests.worker_processes import WorkerProcess, consistency_problems, is_state_change

MESSAGES = 24


def test_sigterm_mid_run_leaves_every_message_whole(
    rt: Runtime, worker: Worker, project: Path, database_url: str
) -> None:
    for n in range(MESSAGES):
        body = f"Message {n}: my bill shows roaming charges from Spain that I did not expect."
        sender = f"Customer {n} <customer{n}@mail.test>"  # distinct: one sender is capped per hour
        drop(rt, make_email(sender=sender, message_id=f"<t{n}@mail.test>", body=body), f"t{n}")
    assert worker.poll_sources() == MESSAGES
    rt.classifiers(rt.settings.classify.pipeline)  # trained here, so the process only loads them
    process = WorkerProcess(
        project / "config.toml",
        {"RESPONDER_DATABASE__URL": database_url, "RESPONDER_PIPELINE__BATCH_SIZE": "4"},
    )
    started = process.wait_for(is_state_change, timeout=600)
    assert started, process.output()
    assert process.terminate() == 0, process.output()

    assert consistency_problems(rt) == []
    changes = process.state_changes()
    assert len(changes) == len(set(changes)), "a state change was logged twice"

    worker.drain()  # another worker takes over where the stopped one left off
    assert consistency_problems(rt) == []
    assert state_counts(rt)["in_review"] == MESSAGES
