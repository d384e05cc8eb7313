"""Pages of a long list read by keyset (the last row's sort key, not an OFFSET that scans every
row before it), and the cursor a page's "Next page" link carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute


def encode_cursor(moment: str | None, row_id: int) -> str:
    """`moment`: the row's sort time as the row shows it (ISO 8601), so it is formatted once;
    None for a list sorted by id alone."""
    return f"{moment or ''}|{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime | None, int] | None:
    """None for anything a link of ours did not make (the list starts again at its top). A
    space stands for the UTC offset's "+": a program that pasted `next_cursor` into its address
    unencoded sent "+00:00", which arrives as " 00:00", and must get the next page, not the
    first again, or its paging loop never ends."""
    moment, sep, row_id = cursor.replace(" ", "+").rpartition("|")
    if not sep or not row_id.isascii() or not row_id.isdigit() or len(row_id) > 18:
        return None
    try:
        return (datetime.fromisoformat(moment) if moment else None, int(row_id))
    except ValueError:
        return None


def after(
    moment: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[int],
    position: tuple[datetime, int],
    *,
    descending: bool = False,
) -> ColumnElement[bool]:
    """The rows past `position` in the order (moment, id), or its reverse. Spelled out rather
    than as a row-value comparison, so each side is bound with its column's type (UTC)."""
    at, key = position
    if descending:
        return or_(moment < at, and_(moment == at, row_id < key))
    return or_(moment > at, and_(moment == at, row_id > key))


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, how many the whole list holds, how many come before this
    page (its first row is number `before + 1`) and the cursor of the next (None on the last)."""

    rows: list[dict[str, Any]]
    total: int
    before: int
    next_cursor: str | None
