"""Where a process's LISTEN connection goes: PostgreSQL only, and past any pooler.

PgBouncer in transaction mode does not carry LISTEN, so `[database] listen_url` may point at the
server itself while `url` goes through the pooler.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine, make_url


def listen_conninfo(engine: Engine, listen_url: str = "") -> str | None:
    """A libpq connection string for psycopg, or None on a database without LISTEN (SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    url = make_url(listen_url) if listen_url else engine.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class OutageLog:
    """A listener's lost connection logged once, and its return once, however long the outage.

    A listener retries every couple of seconds; a warning per retry buried everything else in
    the log while the database was down.
    """

    def __init__(self, log: logging.Logger, listener: str) -> None:
        self._log = log
        self._listener = listener
        self._since: float | None = None

    def failed(self, error: Exception, retry_seconds: float) -> None:
        reason = str(error).strip()
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning(
                "%s lost its connection, retrying every %g s: %s",
                self._listener,
                retry_seconds,
                reason,
            )
        else:
            self._log.debug("%s still cannot connect: %s", self._listener, reason)

    def connected(self) -> None:
        if self._since is not None:
            self._log.info(
                "%s reconnected after %.0f s", self._listener, time.monotonic() - self._since
            )
            self._since = None
