"""Query-string parameters the pages and the API share."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

#: Row ids from the query string: out-of-range numbers are a 400, never a database overflow.
RowId = Annotated[int | None, QueryParameter(ge=0, le=2**62)]


def row_id_in(value: str) -> int | None:
    """A row id read by hand from the query string (`?from=`, `?approved=`), which links set:
    anything else in it is ignored rather than refused."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


#: A day picked in a form's date field (`<input type="date">` sends YYYY-MM-DD, or nothing when
#: left empty, which means no bound).
PickedDate = Annotated[str, QueryParameter(pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]


def picked_date(value: str, name: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:  # the pattern lets 2026-02-30 through
        raise ValidationException(f"{name}: {value} is not a day of the calendar") from None
