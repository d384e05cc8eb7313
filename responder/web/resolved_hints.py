"""Route handlers' annotations resolved once per process.

The page modules use `from __future__ import annotations`, so a handler's annotations are
strings, and Litestar resolves them again, compiling each one, for every app that registers the
handler: once in a server, but hundreds of times in a test process (some 7% of each app's
build, bench/README.md `app_start`). Resolved here once, from the handler's own module as
Litestar does, they are the same types, and Litestar has nothing left to compile.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable

from litestar.handlers import BaseRouteHandler


def resolve_hints(handlers: Iterable[object]) -> None:
    """Each handler function's annotations replaced by the types they name. One that names
    something its module does not (Litestar also looks in its own names) is left as it is,
    for Litestar to resolve as before."""
    for handler in handlers:
        fn = handler.fn if isinstance(handler, BaseRouteHandler) else None
        if not inspect.isfunction(fn):
            continue
        try:
            fn.__annotations__ = typing.get_type_hints(fn, include_extras=True)
        except NameError:
            continue
