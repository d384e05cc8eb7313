"""`responder serve` with several web processes: one port, any process takes any login form,
SIGTERM stops the whole tree, and a page open before a restart still saves after it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from responder.cli import main
from responder.config import load_settings
from responder.db.session import transaction
from responder.runtime import Runtime
from responder.users import add_user
from responder.web.serve import web_processes
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for_startups(log: Path, count: int, server: subprocess.Popen[bytes]) -> None:
    """Until each web process has logged that it serves (bounded: 90 s on a loaded machine)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and server.poll() is None:
        if log.read_text(errors="replace").count("Application startup complete") >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"web processes did not start:\n{log.read_text(errors='replace')[-3000:]}")


def test_zero_workers_means_one_web_process_per_core(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[web] workers = 0` is one web process per core, and both `--help` texts say serve runs
    those processes (they said "in one process")."""
    settings = load_settings(project / "config.toml", environ={"RESPONDER_WEB__WORKERS": "0"})
    assert web_processes(settings) == len(os.sched_getaffinity(0))
    settings = load_settings(project / "config.toml", environ={"RESPONDER_WEB__WORKERS": "3"})
    assert web_processes(settings) == 3
    for argv in (["--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        usage = " ".join(capsys.readouterr().out.split())
        assert "in one process" not in usage, "the help said one process; serve runs several"
        assert "web app in [web] workers processes on one port (0: one per core)" in usage


def start_serving(project: Path, database_url: str, port: int, workers: int, log: Path) -> Popen:
    env = {
        **os.environ,
        "RESPONDER_DATABASE__URL": database_url,
        "RESPONDER_WEB__WORKERS": str(workers),
        "RESPONDER_MAILDIR__ENABLED": "false",
    }
    env.pop("RESPONDER_SECRET_KEY", None)  # the embedded default: the supervisor makes one
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "responder", "--config", str(project / "config.toml"),
             "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_startups(log, workers, server)
    except BaseException:
        server.kill()
        raise
    return server


def stop_serving(server: Popen) -> int:
    server.send_signal(signal.SIGTERM)
    return server.wait(timeout=90)


def test_two_web_processes_share_the_port_sessions_and_form_secret(
    rt: Runtime, project: Path, database_url: str
) -> None:
    """And a restart leaves the pages already open working: their forms were refused with
    "CSRF token verification failed" (logging out too) until the browser was closed, when each
    start signed forms with a new random key."""
    with transaction(rt.factory) as session:
        add_user(session, "ana", "a-long-password", "agent")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = project / "serve.log"
    server = start_serving(project, database_url, port, 2, log)
    try:
        web = [pid for pid in children(server.pid) if "spawn_main" in cmdline(pid)]
        assert len(web) == 2, "two web processes besides the supervisor"
        # Each login uses two fresh connections (the kernel picks a process for each): the form
        # signed by whichever process served it is accepted by whichever takes the POST.
        for _ in range(8):
            with httpx.Client(base_url=base) as first:
                page = first.get("/login")
                token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
                cookies = dict(first.cookies)
            with httpx.Client(base_url=base, cookies=cookies) as second:
                answer = second.post(
                    "/login",
                    data={"username": "ana", "password": "a-long-password", "_csrf_token": token},
                )
                assert answer.status_code == 302, answer.text[:300]
                queue = second.get("/queue")
                assert queue.status_code == 200 and "Waiting for review" in queue.text
                account = second.get("/account")
                token = re.search(r'name="_csrf_token" value="([^"]+)"', account.text).group(1)
                cookies = dict(second.cookies)
    finally:
        code = stop_serving(server)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in web), "no web process left behind"

    again = project / "again.log"
    server = start_serving(project, database_url, port, 1, again)
    try:
        with httpx.Client(base_url=base, cookies=cookies) as browser:
            saved = browser.post(
                "/account/name", data={"display_name": "Ana Byrne", "_csrf_token": token}
            )
            assert saved.status_code in (302, 303), saved.text[:300]
            assert "Ana Byrne" in browser.get("/account").text
    finally:
        stop_serving(server)


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def test_a_second_server_on_a_served_port_refuses_to_start(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SO_REUSEPORT would let it bind beside the running one and take half the connections."""
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        code = main(["--config", str(project / "config.toml"), "serve", "--port", str(port)])
    assert code == 1
    assert f"127.0.0.1:{port} is already served" in capsys.readouterr().err
