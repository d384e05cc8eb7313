"""Each web process remembers the staff sessions it has checked, on PostgreSQL only, and forgets
all of them whenever any session or staff account changes anywhere.

The session check (one indexed query joined to the user) was about a quarter of a queue page's
handling on PostgreSQL, round trip and server work included. A trigger on `staff_sessions` and
`staff_users` (migration web_0003) sends a NOTIFY for every update, delete or truncate, whoever
made it: a logout in another process, an admin's SQL deactivating an account or changing a role.
Each web process holds one LISTEN connection; on any notification it drops its whole cache.

A cached answer is used only while the listener has shown its connection alive (a `SELECT 1`
each second) within `alive_seconds`, so a dead or stalled listener sends every check back to
the database; entries also lapse after `ttl_seconds` whatever happens. A revocation reaches the
other processes within the notification's delivery (milliseconds). An answer read from the
database is kept only if no notification arrived while it was read, so a revocation committed
during the read cannot be cached over. Unknown tokens are never cached. SQLite has no NOTIFY:
no cache there, every request asks the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import make_transient_to_detached

from responder.db.listen import OutageLog, listen_conninfo
from responder.db.models import StaffUser, utcnow

log = logging.getLogger(__name__)

CHANNEL = "responder_staff_changed"
_COLUMNS = tuple(column.key for column in StaffUser.__table__.columns)


@dataclass(frozen=True)
class _Entry:
    columns: dict[str, Any]
    expires_at: datetime
    stored_at: float


class SessionCache:
    """Token hash and kind to the user's columns; each hit builds its own detached `StaffUser`,
    so no two requests share an object."""

    def __init__(
        self,
        ttl_seconds: float = 30.0,
        alive_seconds: float = 3.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.alive_seconds = alive_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._generation = 0
        self._alive_at: float | None = None

    def now(self) -> float:
        return self._clock()

    @property
    def generation(self) -> int:
        """Goes up at every forgetting: read it before a database check, hand it to `store`."""
        return self._generation

    def _listening(self, now: float) -> bool:
        return self._alive_at is not None and now - self._alive_at <= self.alive_seconds

    def listening(self) -> bool:
        """Whether answers are kept and given: the listener was heard within `alive_seconds`."""
        with self._lock:
            return self._listening(self._clock())

    def lookup(self, token_hash: str, kind: str) -> StaffUser | None:
        now = self._clock()
        with self._lock:
            if not self._listening(now):
                return None
            entry = self._entries.get((token_hash, kind))
        if entry is None or now - entry.stored_at > self.ttl_seconds:
            return None
        if entry.expires_at < utcnow():
            return None
        user = StaffUser(**entry.columns)
        make_transient_to_detached(user)
        return user

    def store(
        self, token_hash: str, kind: str, user: StaffUser, expires_at: datetime, generation: int
    ) -> None:
        columns = {key: getattr(user, key) for key in _COLUMNS}
        now = self._clock()
        with self._lock:
            if generation != self._generation or not self._listening(now):
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[(token_hash, kind)] = _Entry(columns, expires_at, now)

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def heard_alive(self, at: float) -> None:
        """The listener's connection answered a query sent at `at` (this cache's clock), after
        every notification that arrived before it was handled."""
        with self._lock:
            self._alive_at = at

    def deaf(self) -> None:
        with self._lock:
            self._alive_at = None
            self._generation += 1
            self._entries.clear()


def start_session_listener(
    cache: SessionCache,
    engine: Engine,
    stop_event: threading.Event,
    *,
    listen_url: str = "",
    heartbeat_seconds: float = 1.0,
    retry_seconds: float = 2.0,
) -> threading.Thread | None:
    """A daemon thread that keeps `cache` usable while it hears the database; None on SQLite,
    where the cache stays unused."""
    conninfo = listen_conninfo(engine, listen_url)
    if conninfo is None:
        return None
    thread = threading.Thread(
        target=_listen,
        args=(cache, conninfo, stop_event, heartbeat_seconds, retry_seconds),
        name="session-listener",
        daemon=True,
    )
    thread.start()
    return thread


def _listen(
    cache: SessionCache,
    conninfo: str,
    stop_event: threading.Event,
    heartbeat_seconds: float,
    retry_seconds: float,
) -> None:
    import psycopg

    outage = OutageLog(log, "session listener")
    while not stop_event.is_set():
        try:
            with psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=5,
                application_name="responder-session-listener",
            ) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                outage.connected()
                # Anything cached before this LISTEN may have missed a notification.
                cache.forget_all()
                while not stop_event.is_set():
                    sent_at = cache.now()
                    connection.execute("SELECT 1")
                    # Notifications that came with the reply wait in psycopg's backlog.
                    for _ in connection.notifies(timeout=0):
                        cache.forget_all()
                    cache.heard_alive(sent_at)
                    for _ in connection.notifies(timeout=heartbeat_seconds):
                        cache.forget_all()
        except psycopg.Error as exc:
            outage.failed(exc, retry_seconds)
        finally:
            cache.deaf()
        stop_event.wait(retry_seconds)
