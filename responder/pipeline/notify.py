"""New work announced on PostgreSQL: LISTEN/NOTIFY wakes idle workers in every process at once.

Without it, a message stored by the poller in one process, or by a webhook in a web process,
waits for the other processes' workers to finish their idle wait (`poll_interval_seconds`).
NOTIFY is sent inside the storing transaction, so it is delivered only once the message is
committed, and several in one transaction arrive as one. SQLite runs one worker process, woken
in-process; there is nothing to announce.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from responder.db.listen import OutageLog, listen_conninfo

log = logging.getLogger(__name__)

CHANNEL = "responder_work"


def announce_work(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


def start_work_listener(
    engine: Engine,
    wake: Callable[[], None],
    stop_event: threading.Event,
    *,
    listen_url: str = "",
    retry_seconds: float = 2.0,
) -> threading.Thread | None:
    """A daemon thread holding one LISTEN connection (to `listen_url`, else the engine's
    database), calling `wake` for each notification; None on SQLite. A lost connection is
    retried; on reconnecting it wakes once, in case work was announced while it was away."""
    conninfo = listen_conninfo(engine, listen_url)
    if conninfo is None:
        return None
    thread = threading.Thread(
        target=_listen,
        args=(conninfo, wake, stop_event, retry_seconds),
        name="work-listener",
        daemon=True,
    )
    thread.start()
    return thread


def _listen(
    conninfo: str, wake: Callable[[], None], stop_event: threading.Event, retry_seconds: float
) -> None:
    import psycopg

    outage = OutageLog(log, "work listener")
    while not stop_event.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                outage.connected()
                wake()  # then the line: a worker's idle line after it ends a round this woke
                log.info("listening for new work", extra={"listening": CHANNEL})
                while not stop_event.is_set():
                    for _ in connection.notifies(timeout=1.0):
                        wake()
        except psycopg.Error as exc:
            outage.failed(exc, retry_seconds)
            stop_event.wait(retry_seconds)
