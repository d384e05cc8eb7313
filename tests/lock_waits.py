"""Holding a race at a known point: until one session waits for another's lock.

PostgreSQL shows the wait (`pg_stat_activity`); SQLite shows none, so the racer's first write,
which waits there for the one writer's lock, stands for it (`writing`, set by the test's own
statement listener).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from responder.runtime import Runtime


def until_waiting(
    rt: Runtime,
    racer: threading.Thread,
    writing: threading.Event,
    done: threading.Event | None = None,
) -> None:
    """Returns once `racer` waits (or is finished, or has set `done`: it went past the lock)."""
    deadline = time.monotonic() + 60
    while racer.is_alive() and not (done and done.is_set()) and time.monotonic() < deadline:
        if rt.engine.dialect.name == "sqlite":
            if writing.wait(0.05):
                return
            continue
        with rt.engine.connect() as watcher:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        time.sleep(0.005)
