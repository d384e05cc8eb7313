"""Query-string parameters the pages and the API share."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

#: Row ids from the query string: out-of-range numbers are a 400, never a database overflow.
RowId = Annotated[int | None, Parameter(ge=0, le=2**62)]
#: A row id picked in a filter form's select, whose "all" option sends an empty value
#: (`?channel=`): a browser sends every field, so the empty one must mean "any", not a 400.
PickedId = Annotated[str, Parameter(pattern=r"^[0-9]{0,18}$")]


def picked_id(value: str) -> int | None:
    return int(value) if value else None
