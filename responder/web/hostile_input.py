"""What a program can send by hand and a person never types, refused as a 4xx before a route
reads it: a body nested thousands deep crashes the JSON decoder."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class CheckedRequest(Request):  # type: ignore[type-arg]
    """Every JSON body goes through `json()` before a route's fields are read from it."""

    async def json(self) -> Any:
        try:
            decoded = await super().json()
        except RecursionError:
            raise ClientException("body: JSON nested too deeply") from None
        return decoded
