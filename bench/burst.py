"""A burst of email into the Maildir: all processed, none lost, and the queue page during it.

For each database: a fresh project, the classifiers trained once, the processes started, then
BURST_MESSAGES email-length messages (`bench/corpus.py`, each distinct) dropped into
`mailbox/new` at once; the clock runs from the first dropped message to the last one done.
Embedded default: one `responder serve` (web + one worker + the Maildir poller, SQLite).
PostgreSQL: the same `responder serve` plus one `responder worker` process, so two workers.
While they work, one light client (a logged-in staff member) loads `/queue` every half second
and the latency of each load is kept. Prints per-database lines and the summary keys
`sqlite_p95_ms:`, `postgresql_p95_ms:`, `messages_per_second:` (the embedded default's).

    .venv/bin/python bench/burst.py                        # 10,000 messages per database
    BURST_MESSAGES=500 .venv/bin/python bench/burst.py     # a shorter burst
    BURST_DATABASES=sqlite .venv/bin/python bench/burst.py

Bounded: a database that has not finished after BURST_TIME_LIMIT_SECONDS (default 3 hours)
is reported with `complete: false` and what it did finish.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import customer_email  # noqa: E402
from bench.databases import postgresql_or_skip  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.channels.maildir_source import deliver_to_maildir  # noqa: E402
from responder.classify.embedder import Embedder  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.db.models import Message  # noqa: E402
from responder.db.session import transaction  # noqa: E402
from responder.users import add_user  # noqa: E402
from tests.servers import free_port  # noqa: E402

MESSAGES = int(os.environ.get("BURST_MESSAGES", "10000"))
DATABASES = os.environ.get("BURST_DATABASES", "sqlite,postgresql").split(",")
TIME_LIMIT_SECONDS = float(os.environ.get("BURST_TIME_LIMIT_SECONDS", str(3 * 3600)))
CLIENT_INTERVAL_SECONDS = 0.5
DONE = ("in_review", "ignored", "quarantined", "failed", "sent", "rejected")
MODELS = str(ROOT / "var" / "models")


def project(folder: Path, url: str, port: int) -> tuple[Path, dict[str, str]]:
    for sub in ("new", "cur", "tmp"):
        (folder / "mailbox" / sub).mkdir(parents=True)
    shutil.copy(ROOT / "config.toml", folder / "config.toml")
    env = {
        "RESPONDER_DATABASE__URL": url,
        "RESPONDER_WEB__PORT": str(port),
        "RESPONDER_MAILDIR__PATH": str(folder / "mailbox"),
        "RESPONDER_DRAFTING__TEMPLATES_DIR": str(ROOT / "templates"),
        "RESPONDER_CLASSIFY__DEFINITIONS_DIR": str(ROOT / "classifiers"),
        "RESPONDER_WEB__LOGIN_ATTEMPTS_PER_MINUTE": "1000",
        # Only the workers draft here: web processes loading models too would share the cores.
        "RESPONDER_WEB__WARM_MODELS": "false",
        "RESPONDER_MODELS__BACKEND": "onnx-int8",
        "RESPONDER_MODELS__CACHE_DIR": MODELS,
        "RESPONDER_PIPELINE__POLL_INTERVAL_SECONDS": "0.5",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return folder / "config.toml", env


def start(config: Path, env: dict[str, str], log: Path, *command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "responder", "--config", str(config), *command],
        cwd=config.parent,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},  # this checkout's code
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )


def logged_in(base: str, server: subprocess.Popen, log: Path) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    deadline = time.monotonic() + 900  # a busy machine imports torch and spaCy slowly
    while True:
        try:
            if client.get("/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"web app did not start: {log.read_text()[-3000:]}") from None
            time.sleep(0.2)
    page = client.get("/login")
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "no login form"
    form = {"username": "bench", "password": "bench-password", "_csrf_token": found.group(1)}
    client.post("/login", data=form)
    return client


def run(name: str, url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="burst") as tmp:
        folder = Path(tmp)
        port = free_port()
        config, env = project(folder, url, port)
        settings = load_settings(config, environ=env)
        rt = prepare(settings, embedder=Embedder(backend="onnx-int8", cache_dir=MODELS))
        rt.classifiers(settings.classify.pipeline)  # trained once, before the clock starts
        with transaction(rt.factory) as session:
            add_user(session, "bench", "bench-password", "agent")

        def count(where: Callable = lambda q: q) -> int:
            with rt.factory() as session:
                query = select(func.count(Message.id)).where(Message.direction == "in")
                return session.scalar(where(query)) or 0

        processes = [start(config, env, folder / "serve.log", "serve")]
        if name == "postgresql":
            processes.append(start(config, env, folder / "worker.log", "worker"))
        latencies: list[float] = []
        errors = 0
        processed = 0
        try:
            client = logged_in(f"http://127.0.0.1:{port}", processes[0], folder / "serve.log")
            started = time.perf_counter()  # the burst: every message arrives at once
            for n in range(MESSAGES):
                deliver_to_maildir(folder / "mailbox", customer_email(n), f"burst-{n}")
            while time.perf_counter() - started < TIME_LIMIT_SECONDS:
                began = time.perf_counter()
                response = client.get("/queue")
                latencies.append((time.perf_counter() - began) * 1000)
                errors += response.status_code != 200
                processed = count(lambda q: q.where(Message.state.in_(DONE)))
                if processed >= MESSAGES:
                    break
                assert all(p.poll() is None for p in processes), (folder / "serve.log").read_text()
                time.sleep(CLIENT_INTERVAL_SECONDS)  # a light client: one page every half second
            seconds = time.perf_counter() - started
            client.close()
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=120)
        stored = count()
        waiting = len(list((folder / "mailbox" / "new").iterdir()))
        with rt.factory() as session:
            states = dict(
                session.execute(
                    select(Message.state, func.count(Message.id))
                    .where(Message.direction == "in")
                    .group_by(Message.state)
                ).all()
            )
        rt.engine.dispose()
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    rate = processed / seconds
    print(f"{name}_workers: {len(processes)}")
    print(f"{name}_complete: {str(processed >= MESSAGES).lower()}")
    print(f"{name}_stored: {stored}")
    print(f"{name}_processed: {processed}")
    print(f"{name}_lost: {MESSAGES - stored - waiting}")
    print(f"{name}_still_in_maildir: {waiting}")
    print(f"{name}_states: {' '.join(f'{k}={v}' for k, v in sorted(states.items()))}")
    print(f"{name}_seconds: {seconds:.1f}")
    print(f"{name}_messages_per_second: {rate:.2f}")
    print(f"{name}_queue_requests: {len(latencies)}")
    print(f"{name}_queue_errors: {errors}")
    print(f"{name}_queue_p50_ms: {statistics.median(latencies):.1f}")
    print(f"{name}_p95_ms: {p95:.1f}")
    return {"p95": p95, "rate": rate}


def main() -> None:
    print(f"messages: {MESSAGES}")
    print(f"load_average_before: {os.getloadavg()[0]:.1f}")
    results = {}
    if "sqlite" in DATABASES:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = run("sqlite", f"sqlite:///{tmp}/burst.db")
    if "postgresql" in DATABASES:
        with postgresql_or_skip() as cluster:
            if cluster is not None:
                results["postgresql"] = run("postgresql", cluster.create_database())
    first = results.get("sqlite") or next(iter(results.values()))
    print(f"messages_per_second: {first['rate']:.2f}")
    print(f"load_average_after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
