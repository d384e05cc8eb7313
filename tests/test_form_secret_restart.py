"""A restart of `responder serve` leaves the pages already open working: their forms were
refused with "CSRF token verification failed" (logging out too) until the browser was closed,
since each start signed forms with a new random key."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from responder.db.session import transaction
from responder.runtime import Runtime
from responder.users import add_user
from tests.servers import free_port
from tests.test_serve_processes import ROOT, wait_for_startups


@contextmanager
def _serving(project: Path, database_url: str, port: int, log: Path) -> Iterator[None]:
    env = {
        **os.environ,
        "RESPONDER_DATABASE__URL": database_url,
        "RESPONDER_WEB__WORKERS": "1",
        "RESPONDER_MAILDIR__ENABLED": "false",
    }
    env.pop("RESPONDER_SECRET_KEY", None)  # the embedded default: no key set
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "responder", "--config", str(project / "config.toml"),
             "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_startups(log, 1, server)
        yield
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=90)


def test_a_page_open_before_a_restart_still_saves_after_it(
    rt: Runtime, project: Path, database_url: str
) -> None:
    with transaction(rt.factory) as session:
        add_user(session, "ana", "a-long-password", "agent")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as browser:
        with _serving(project, database_url, port, project / "first.log"):
            login = browser.get("/login")
            token = re.search(r'name="_csrf_token" value="([^"]+)"', login.text).group(1)
            answer = browser.post(
                "/login",
                data={"username": "ana", "password": "a-long-password", "_csrf_token": token},
            )
            assert answer.status_code == 302, answer.text[:300]
            account = browser.get("/account")
            token = re.search(r'name="_csrf_token" value="([^"]+)"', account.text).group(1)
        with _serving(project, database_url, port, project / "second.log"):
            saved = browser.post(
                "/account/name", data={"display_name": "Ana Byrne", "_csrf_token": token}
            )
            assert saved.status_code in (302, 303), saved.text[:300]
            assert "Ana Byrne" in browser.get("/account").text
