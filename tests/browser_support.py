"""Headless Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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


@contextmanager
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        need_server(f"Chromium not found at {CHROMIUM} (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_server("playwright is not installed")
    # The driver logs Chromium's own output and exit into the test's captured stderr, so a
    # browser that dies under a test says how (pyproject.toml reruns such a test once).
    with patch.dict(os.environ, {"DEBUG": "pw:browser"}):
        playwright = sync_playwright().start()
    try:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield instance
        finally:
            instance.close()
    finally:
        playwright.stop()


def log_in(page: object, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/queue")  # type: ignore[attr-defined]
