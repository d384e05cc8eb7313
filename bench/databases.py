"""The databases a bench runs on: a throw-away PostgreSQL cluster when one can start, and the
planner statistics a production database would have."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from tests.servers import PostgresCluster, ServerUnavailable


@contextmanager
def postgresql_or_skip() -> Iterator[PostgresCluster | None]:
    """A started cluster, cleaned up after; None (and a `postgresql: skipped` line saying why)
    when PostgreSQL cannot start here, so the bench reports SQLite alone."""
    try:
        cluster = PostgresCluster().start()
    except ServerUnavailable as exc:
        print(f"postgresql: skipped ({exc})")
        yield None
        return
    try:
        yield cluster
    finally:
        cluster.cleanup()


def analyze_after_bulk_load(engine: Engine) -> None:
    """A production database has planner statistics and a visibility map: autovacuum runs
    within minutes of a bulk insert; a bench does at once what it would do."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
