"""Engine and session factory; SQLite gets WAL and a busy timeout so threads can share it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from responder.search_fold import FOLD_FUNCTION, fold


def make_engine(url: str, *, echo: bool = False, base_dir: Path | None = None) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_absolute() and base_dir:
            parsed = parsed.set(database=str(base_dir / database))
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A file database keeps as many pooled connections as a web process has threads: an
        # overflow connection is opened (and its pragmas run) for one request and closed again.
        in_file = bool(parsed.database) and parsed.database != ":memory:"
        pool = {"pool_size": 10, "max_overflow": 20} if in_file else {}
        engine = create_engine(
            parsed, echo=echo, connect_args={"timeout": SQLITE_BUSY_MS / 1000}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(parsed, echo=echo, pool_size=10, max_overflow=20)
    event.listen(engine, "connect", _utc_session)
    event.listen(engine.pool, "checkin", _note_idle_since)
    event.listen(engine.pool, "checkout", _ping_after_idle)
    return engine


# A pooled connection idle for longer than this is tested before use. SQLAlchemy's
# pool_pre_ping tests every checkout: a round trip that was a fifth of a queue page's on
# PostgreSQL, for connections that had been back in the pool for milliseconds.
PING_AFTER_IDLE_SECONDS = 1.0


def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_after_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection broken while it sat idle (a restart, a failover) is replaced, not handed
    out: DisconnectionError makes the pool open a new one."""
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        if not getattr(dbapi_connection, "autocommit", False):
            dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError(f"pooled connection failed its check: {exc}") from exc


def _utc_session(dbapi_connection: Any, _record: Any) -> None:
    """Times come back in UTC whatever the server's TimeZone (Debian's initdb takes the
    machine's), as they do from SQLite, so the pages print the same UTC times on both. SET
    TimeZone is one of the settings PgBouncer keeps per client, so it is safe behind it."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
    finally:
        dbapi_connection.autocommit = autocommit


#: How long a SQLite writer waits for another's lock before "database is locked".
SQLITE_BUSY_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's own lower() folds only A-Z, so "ó briain" would not find "Seán Ó Briain" (ILIKE
    # compiles to lower() LIKE lower() here) and a name compared lower-cased in Python would
    # differ from the same name lower-cased in SQL. Python's folds every script, as
    # PostgreSQL's does. No index is built on lower(), so none holds the other's results.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
    dbapi_connection.create_function(FOLD_FUNCTION, 1, _fold, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def _lower(value: object) -> str | None:
    """As SQLite's lower(): NULL stays NULL, anything else is read as text."""
    text = _as_text(value)
    return None if text is None else text.lower()


def _fold(value: object) -> str | None:
    """Search's folding (`responder.search_fold.fold`) for SQL; NULL stays NULL."""
    text = _as_text(value)
    return None if text is None else fold(text)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for pages that only read, on the same pool: each statement is its own
    transaction, so a page sends no BEGIN and no ROLLBACK (two of a queue page's round trips on
    PostgreSQL). Writing through one is a mistake: nothing would group the writes."""
    return sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


_AFTER_COMMIT = "responder.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the unit of work of `session`, opened by `transaction`, has
    committed (a savepoint's commit does not count); dropped if it rolls back. Any other
    session is refused: its commit would never run the callback."""
    callbacks = session.info.get(_AFTER_COMMIT)
    if callbacks is None:
        raise RuntimeError("after_commit needs a session opened by transaction()")
    callbacks.append(callback)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed on success, rolled back on any exception."""
    with factory() as session:
        session.info[_AFTER_COMMIT] = []
        with session.begin():
            yield session
        for callback in session.info.pop(_AFTER_COMMIT):
            callback()
