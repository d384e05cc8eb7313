"""Rows locked until the transaction ends, on both databases.

PostgreSQL locks the rows themselves (in key order, so two lockers queue instead of
deadlocking). SQLite has no row locks and pysqlite begins a transaction only at its first
write, so there a no-op write comes first: it takes the one writer's lock, and nothing another
session commits can slip between what the caller reads next and what it writes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, inspect, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session


def lock_rows(
    session: Session,
    touch: InstrumentedAttribute[Any],
    *where: ColumnElement[bool],
    share: bool = False,
) -> None:
    """Lock the rows of `touch`'s table that match `where`; `touch` is the column SQLite's
    no-op write sets to itself (one no trigger or foreign key watches). `share` takes
    PostgreSQL's shared lock, which other sharers also take while one exclusive locker waits
    for them all (SQLite has only its writer's lock)."""
    model = touch.class_
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(model)
            .where(*where)
            .values({touch.key: touch})
            .execution_options(synchronize_session=False)
        )
        return
    keys = inspect(model).primary_key
    session.execute(
        select(*keys).where(*where).order_by(*keys).with_for_update(read=share, key_share=share)
    )
