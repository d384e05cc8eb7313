"""Headless Debian Chromium driven by Playwright (never a downloaded browser).

One Chromium per test process, launched by the first browser test and closed when the session
ends: each test gets it with no context open and every context the test opened is closed after
it, so a test still starts with no cookies, storage or cache of another's (a new context is
what a fresh browser would give it), without paying a second or more of CPU for a launch."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from tests.conftest import need_server

#: For a test of what a page does in Chromium (keys, dialogs, scripts, layout), which does not
#: depend on the database: the reads and writes behind each page run on SQLite and PostgreSQL in
#: the tests beside it, so the browser's part runs once, on the embedded default.
on_sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHROMIUM = os.environ.get("RESPONDER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _Shared:
    """The process's Playwright driver and Chromium, once started."""

    manager: Any = None
    instance: Any = None


def _running() -> Any:
    """The shared Chromium, launched again if the last one died (a crash's test is rerun)."""
    if _Shared.instance is not None and _Shared.instance.is_connected():
        # Playwright's sync calls run its own event loop, marked as the thread's running loop;
        # between browser tests it is unmarked (close_shared), so that asyncio.run works there.
        asyncio._set_running_loop(_Shared.manager._loop)
        return _Shared.instance
    close_shared()
    from playwright.sync_api import sync_playwright

    # The driver logs Chromium's own output and exit into the captured stderr, so a browser
    # that dies under a test says how (pyproject.toml reruns such a test once).
    with patch.dict(os.environ, {"DEBUG": "pw:browser"}):
        _Shared.manager = sync_playwright()
        playwright = _Shared.manager.start()
    _Shared.instance = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=FLAGS
    )
    return _Shared.instance


def _idle() -> None:
    """Every context the test opened closed, and Playwright's loop no longer marked running."""
    instance = _Shared.instance
    with suppress(Exception):  # a browser that died closes nothing; the next test relaunches
        for context in list(instance.contexts):
            context.close()
    asyncio._set_running_loop(None)


def close_shared() -> None:
    """Chromium and the driver stopped (at the session's end, or after a crash)."""
    manager, _Shared.manager, _Shared.instance = _Shared.manager, None, None
    if manager is None:
        return
    asyncio._set_running_loop(manager._loop)
    with suppress(Exception):  # stop() closes the browser with the driver
        manager.__exit__()
    asyncio._set_running_loop(None)


@contextmanager
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        need_server(f"Chromium not found at {CHROMIUM} (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need_server("playwright is not installed")
    instance = _running()
    try:
        yield instance
    finally:
        _idle()


def log_in(page: object, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/queue")  # type: ignore[attr-defined]
