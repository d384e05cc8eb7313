"""Two workers parsing two stored messages at the same moment, on PostgreSQL (SQLite lets one
writer in at a time, so the race cannot happen there).

The first worker is held with its parse written but not committed; the second then parses the
other message and is let through once it has finished or waits on the first's rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from responder.pipeline import stages
from responder.runtime import Runtime


def parse_at_once(rt: Runtime, monkeypatch: pytest.MonkeyPatch, first: int, second: int) -> None:
    """Message `first` parsed by a thread held before its commit, `second` by another."""
    holding, release = threading.Event(), threading.Event()
    wake = stages.wake_conversations

    def held(session: Any, continued: Any) -> Any:
        woken = wake(session, continued)
        if threading.current_thread().name == "first":
            holding.set()
            assert release.wait(60), "the test never let the first worker commit"
        return woken

    monkeypatch.setattr(stages, "wake_conversations", held)
    failures: list[BaseException] = []

    def parse(message_id: int) -> Callable[[], None]:
        def run() -> None:
            try:
                stages.parse_stage(rt, [message_id])
            except BaseException as exc:
                failures.append(exc)

        return run

    one = threading.Thread(target=parse(first), name="first")
    two = threading.Thread(target=parse(second), name="second")
    one.start()
    assert holding.wait(60), "the first worker never reached its commit"
    two.start()
    with rt.engine.connect() as watcher:
        deadline = time.monotonic() + 60
        while two.is_alive() and time.monotonic() < deadline:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
            watcher.rollback()
            if waiting:
                break  # the second waits on the first's rows: the first may commit now
            time.sleep(0.005)
    release.set()
    one.join(60)
    two.join(60)
    assert not failures, failures
