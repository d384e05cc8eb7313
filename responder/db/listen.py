"""Where a process's LISTEN connection goes: PostgreSQL only, and past any pooler.

PgBouncer in transaction mode does not carry LISTEN, so `[database] listen_url` may point at the
server itself while `url` goes through the pooler.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine, make_url


def listen_conninfo(engine: Engine, listen_url: str = "") -> str | None:
    """A libpq connection string for psycopg, or None on a database without LISTEN (SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    url = make_url(listen_url) if listen_url else engine.url
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
