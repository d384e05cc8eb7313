"""What a program can send by hand and a person never types, refused as a 4xx naming the field
before a route reads it: a request reaching the database with it answers 500 (an integer
beyond the database's, a NUL PostgreSQL refuses in text) or crashes the JSON decoder (a body
nested thousands deep). A lone surrogate (`"\\ud800"`, half of a UTF-16 pair) is no text at
all: the decoder calls the body malformed, so the body is read again to name its field."""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, NotFoundException, SerializationException

#: Ids and numbers past this cannot be a row or a version: every integer column is 64-bit.
LARGEST = 2**62
#: A lone surrogate as decoded text, and as the escape that brings one into a JSON body.
SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _number(value: int) -> str:
    """The number itself while it is short enough to read; its size past that (`str()` of
    one over 4,300 digits raises)."""
    if abs(value) < 10**24:
        return str(value)
    return f"a number of {value.bit_length()} bits"


def _checked(value: Any, where: str) -> None:
    """Refuse, naming the field (`version`, `items[2].text`), what no column can hold."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -LARGEST <= value <= LARGEST:
        raise ClientException(f"{where}: {_number(value)} is out of range")
    if isinstance(value, str) and "\x00" in value:
        raise ClientException(f"{where}: text with a NUL character is refused")
    if isinstance(value, str) and SURROGATE.search(value):
        raise ClientException(
            f"{where}: text with a lone surrogate (half of a UTF-16 pair) is refused"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _checked(key, where)
            _checked(item, f"{where}.{key}" if where != "body" else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _checked(item, f"{where}[{index}]")


class CheckedRequest(Request):  # type: ignore[type-arg]
    """Every JSON body goes through `json()` before a route's fields are read from it."""

    async def json(self) -> Any:
        try:
            decoded = await super().json()
        except RecursionError:
            raise ClientException("body: JSON nested too deeply") from None
        except SerializationException:
            _name_a_lone_surrogate(await self.body())
            raise
        _checked(decoded, "body")
        return decoded


def _name_a_lone_surrogate(body: bytes) -> None:
    """The body the decoder refused, read by Python's own decoder, which keeps a lone
    surrogate: refused naming its field. Anything else wrong keeps the decoder's answer."""
    if not SURROGATE_ESCAPE.search(body):
        return
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return
    _checked(decoded, "body")


async def refuse_impossible_path_values(request: Request) -> None:  # type: ignore[type-arg]
    """A path id beyond any row is a 404, as a missing row's is; a NUL in a path name a 400."""
    for name, value in request.path_params.items():
        if isinstance(value, int) and not 0 <= value <= LARGEST:
            raise NotFoundException(f"{name} {str(value)[:20]}: no such row")
        if isinstance(value, str) and "\x00" in value:
            raise ClientException(f"{name}: a NUL character is refused")
