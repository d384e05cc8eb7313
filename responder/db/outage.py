"""Telling a lost database from a bad message: an outage is waited out, not held against work."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError


def database_unavailable(exc: BaseException) -> bool:
    """True when exc means the database could not be reached or dropped the connection."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def first_line(exc: BaseException) -> str:
    """The driver's own words, without the SQL and parameters SQLAlchemy appends."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
