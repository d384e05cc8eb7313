"""Holding a race at a known point: until one session waits for another's lock.

PostgreSQL shows the wait (`pg_stat_activity`); SQLite shows none, so the racer's first write,
which waits there for the one writer's lock, stands for it (`writing`, set by the test's own
statement listener).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

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


@contextmanager
def statement_seen(rt: Runtime, matches: Callable[[str], bool]) -> Iterator[threading.Event]:
    """Set when a statement `matches` (called on the thread that runs it) is about to run: on
    SQLite, the racer's write that waits for the one writer's lock."""
    seen = threading.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if matches(statement):
            seen.set()

    event.listen(rt.engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(rt.engine, "before_cursor_execute", watch)
