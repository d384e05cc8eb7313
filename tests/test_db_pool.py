"""Pooled PostgreSQL connections: a connection that died while idle is replaced before use, and
read-only sessions send no transaction statements."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from responder.db import session as db_session
from responder.db.session import make_engine, make_read_factory
from tests.servers import PostgresCluster


@pytest.fixture
def engine(pg_cluster: PostgresCluster) -> Iterator[Engine]:
    engine = make_engine(pg_cluster.create_database())
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_killed_while_idle_is_replaced_not_handed_out(
    engine: Engine, pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = _backend_pid(engine)
    killer = make_engine(pg_cluster.create_database())
    try:
        with killer.connect() as connection:
            assert connection.scalar(text(f"SELECT pg_terminate_backend({first})"))
    finally:
        killer.dispose()
    # The pooled connection is dead; the next caller still gets an answer, on a new one.
    second = _backend_pid(engine)
    assert second != first


def test_reading_sessions_run_outside_a_transaction(engine: Engine) -> None:
    """psycopg sends BEGIN before a statement and the pool ROLLBACK after, unless autocommit."""
    with make_read_factory(engine)() as session:
        assert session.scalar(text("SELECT 1")) == 1
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi.autocommit
        assert dbapi.info.transaction_status.name == "IDLE", "no transaction left open"
    with engine.connect() as connection:  # back in the pool, the connection writes normally
        assert not connection.connection.dbapi_connection.autocommit


def test_times_come_back_in_utc_whatever_the_servers_time_zone(
    pg_cluster: PostgresCluster,
) -> None:
    """Pages print times as stored, to the minute and marked UTC; a server set to New York
    time (Debian's initdb takes the machine's zone) must not shift them by five hours."""
    url = pg_cluster.create_database()
    setup = make_engine(url)
    try:
        with setup.connect() as connection:
            name = connection.scalar(text("SELECT current_database()"))
            connection.execute(
                text(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")
            )
            connection.commit()
    finally:
        setup.dispose()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW timezone")) == "UTC"
            at = connection.scalar(text("SELECT timestamptz '2026-12-03 14:05:00+00'"))
        assert at.isoformat() == "2026-12-03T14:05:00+00:00"
    finally:
        engine.dispose()
