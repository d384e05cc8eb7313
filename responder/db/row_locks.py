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
    keys_free: bool = False,
) -> None:
    """Lock the rows of `touch`'s table that match `where`; `touch` is the column SQLite's
    no-op write sets to itself (one no trigger or foreign key watches). SQLite has only its
    writer's lock; on PostgreSQL:
    - by default FOR UPDATE, which waits for and holds off every other locker;
    - `share`: FOR KEY SHARE, which other sharers take too, while a FOR UPDATE locker waits
      for them all (ordinary updates of the rows are not held off);
    - `keys_free`: FOR NO KEY UPDATE, exclusive among lockers, but a row naming these ones by
      foreign key can still be inserted: a transaction that holds other rows and inserts such
      a row (a message naming a customer or conversation) never deadlocks against this one."""
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
        select(*keys)
        .where(*where)
        .order_by(*keys)
        .with_for_update(read=share, key_share=share or keys_free)
    )
