"""Addresses of the static files, each carrying a digest of its content.

A browser that cached yesterday's script would otherwise run it against today's page (a
heartbeat without the field the server now reads, say) until its cache guessed it stale."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"


@cache
def asset(name: str) -> str:
    """The file's address under /static with its content digest as the query."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"
