"""A listener whose database is away says so once, not on every retry."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine

from responder.pipeline.notify import start_work_listener
from responder.web.session_cache import SessionCache, start_session_listener
from tests.servers import free_port


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _start(which: str, url: str, stop: threading.Event) -> threading.Thread | None:
    engine = create_engine(url)
    if which == "session":
        return start_session_listener(SessionCache(), engine, stop, retry_seconds=0.01)
    return start_work_listener(engine, lambda: None, stop, retry_seconds=0.01)


@pytest.mark.parametrize(
    ("which", "logger", "name"),
    [
        ("session", "responder.web.session_cache", "session listener"),
        ("work", "responder.pipeline.notify", "work listener"),
    ],
)
def test_an_unreachable_database_is_one_warning_however_many_retries(
    caplog: pytest.LogCaptureFixture, which: str, logger: str, name: str
) -> None:
    caplog.set_level(logging.DEBUG, logger=logger)
    # Nothing listens on this loopback port: every connection attempt is refused at once.
    url = f"postgresql+psycopg://responder@127.0.0.1:{free_port()}/responder"
    stop = threading.Event()
    thread = _start(which, url, stop)
    assert thread is not None
    try:

        def retries() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == logger and r.levelno == logging.DEBUG]

        _wait_for(lambda: len(retries()) >= 5, "five failed retries")
    finally:
        stop.set()
        thread.join(10)
    warnings = [r for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert message.startswith(f"{name} lost its connection, retrying every 0.01 s")
    assert "127.0.0.1" in message or "refused" in message.lower(), message
