"""Queue page latency with 100,000 messages, 20 concurrent staff clients on loopback.

Fills a fresh database (SQLite by default; PostgreSQL too when its server binaries are
installed), starts `responder serve` in its own process as configured (its `[web] workers`
web processes), logs 20 clients in and then has each load queue pages (first page, filtered
pages, next pages by cursor) back to back for a bounded number of requests and time. Prints
`p50_ms:` and `p95_ms:` (and the same per database), pages per second, server and client CPU
per page and the load average.

    .venv/bin/python bench/queue_latency.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import urlencode

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import analyze_after_bulk_load, postgresql_or_skip  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.db.models import Channel, Customer, Draft, Message  # noqa: E402
from responder.db.session import transaction  # noqa: E402
from responder.users import add_user  # noqa: E402
from tests.servers import free_port  # noqa: E402

MESSAGES = 100_000
CLIENTS = 20
REQUESTS_PER_CLIENT = 150
TIME_LIMIT_SECONDS = 180
INTENTS = ["billing_dispute", "outage", "roaming", "cancellation", "port_out", "plan_change"]
TIERS = ["Best", "Average", "Worst"]


def write_config(folder: Path, url: str, port: int) -> tuple[Path, dict[str, str]]:
    (folder / "mailbox" / "new").mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text((ROOT / "config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    env = {
        "RESPONDER_DATABASE__URL": url,
        "RESPONDER_WEB__PORT": str(port),
        "RESPONDER_MAILDIR__PATH": str(folder / "mailbox"),
        "RESPONDER_DRAFTING__TEMPLATES_DIR": str(ROOT / "templates"),
        "RESPONDER_CLASSIFY__DEFINITIONS_DIR": str(ROOT / "classifiers"),
        "RESPONDER_WEB__LOGIN_ATTEMPTS_PER_MINUTE": "1000",
        # The queue pages need no model: no web process loads them in the measured seconds.
        "RESPONDER_WEB__WARM_MODELS": "false",
    }
    return config, env


def fill(config: Path, env: dict[str, str]) -> None:
    settings = load_settings(config, environ=env)
    rt = prepare(settings)
    rng = random.Random(7)
    now = datetime.now(UTC)
    with transaction(rt.factory) as session:
        channel = Channel(name="support", kind="maildir", address="support@example.test")
        session.add(channel)
        session.flush()
        channel_id = channel.id
        add_user(session, "bench", "bench-password", "agent")
        session.execute(
            insert(Customer),
            [
                {"name": f"Customer {i}", "tier": TIERS[i % 3], "external_id": f"B{i}"}
                for i in range(1, 2001)
            ],
        )
    batch = 5000
    for start in range(0, MESSAGES, batch):
        rows = []
        for i in range(start, start + batch):
            received = now - timedelta(minutes=rng.randint(0, 60 * 24 * 30))
            in_review = i % 10 != 0
            rows.append(
                {
                    "channel_id": channel_id,
                    "direction": "in",
                    "external_key": f"bench-{i}",
                    "raw": b"",
                    "raw_size": 0,
                    "state": "in_review" if in_review else "sent",
                    "subject": f"Question number {i} about my account",
                    "sender_address": f"customer{i % 2000}@mail.test",
                    "sender_name": f"Customer {i % 2000}",
                    "customer_id": 1 + i % 2000,
                    "intent": INTENTS[i % len(INTENTS)],
                    "intent_confidence": 0.8,
                    "customer_tier": TIERS[i % 3],
                    "urgency": "normal",
                    "received_at": received,
                    "due_at": received + timedelta(hours=8),
                    "classification": {},
                    "references": [],
                    "reply_to": [],
                    "defects": [],
                }
            )
        with transaction(rt.factory) as session:
            session.execute(insert(Message), rows)
            first_id = start + 1
            session.execute(
                insert(Draft),
                [
                    {
                        "message_id": first_id + k,
                        "version": 1,
                        "body": "Hello,\n\nThanks.\n",
                        "grounding": {},
                    }
                    for k in range(batch)
                ],
            )
    analyze_after_bulk_load(rt.engine)
    rt.engine.dispose()


class Client:
    """One staff browser: one keep-alive HTTP/1.1 connection, its cookies, nothing else.

    Deliberately thin (no HTTP library, no HTML parsing beyond two searches): the client shares
    the machine's cores with the server, so every millisecond it spends is one the server lacks.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connections = 0

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None or self.reader is None or self.reader.at_eof():
            # new, or closed by the server after its keep-alive timeout: open one as browsers do
            await self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.connections += 1
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body:
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length = 0
        closing = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                closing = value.strip().lower() == "close"
            elif name == "set-cookie":
                key, _, rest = value.strip().partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
            elif name == "transfer-encoding":
                raise RuntimeError("chunked responses are not expected from the queue page")
        page = await self.reader.readexactly(length) if length else b""
        if closing:  # the server ends this connection: the next request opens one, as browsers do
            await self.close()
        return status, page

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


CURSOR = re.compile(rb'href="\?cursor=([^"&]+)')


async def log_in(client: Client) -> None:
    _, page = await client.request("GET", "/login")
    token = re.search(rb'name="_csrf_token" value="([^"]+)"', page).group(1).decode()
    form = urlencode({"username": "bench", "password": "bench-password", "_csrf_token": token})
    status, _ = await client.request("POST", "/login", form.encode())
    if status != 302:
        raise RuntimeError(f"login failed: HTTP {status}")


async def browse(client: Client, latencies: list[float], deadline: float) -> int:
    """Queue pages back to back: first page, filters, next pages by cursor."""
    errors = 0
    rng = random.Random()
    cursor = None
    for _ in range(REQUESTS_PER_CLIENT):
        if time.monotonic() > deadline:
            break
        choice = rng.random()
        query = ""
        if choice < 0.3 and cursor:
            query = f"?cursor={cursor}"
        elif choice < 0.6:
            query = f"?intent={rng.choice(INTENTS)}"
        elif choice < 0.7:
            query = f"?tier={rng.choice(TIERS)}"
        started = time.perf_counter()
        status, body = await client.request("GET", "/queue" + query)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200 or b"Waiting for review" not in body:
            errors += 1
        found = CURSOR.search(body)
        cursor = found.group(1).decode() if found else None
    return errors


class Run(NamedTuple):
    latencies: list[float]
    errors: int
    seconds: float
    server_cpu_seconds: float
    client_cpu_seconds: float
    database_cpu_seconds: float
    reconnections: int


async def load(port: int, server_pid: int, database_pid: int | None) -> Run:
    """Log every client in, then time only the queue pages (logins hash with argon2 on
    purpose, and staff log in once a day, not once a page)."""
    clients = [Client("127.0.0.1", port) for _ in range(CLIENTS)]
    try:
        await asyncio.gather(*(log_in(client) for client in clients))
        latencies: list[float] = []
        server_cpu = process_tree_cpu_seconds(server_pid)
        database_cpu = process_tree_cpu_seconds(database_pid) if database_pid else 0.0
        client_cpu = time.process_time()
        started = time.perf_counter()
        deadline = time.monotonic() + TIME_LIMIT_SECONDS
        errors = await asyncio.gather(*(browse(c, latencies, deadline) for c in clients))
        return Run(
            latencies,
            sum(errors),
            time.perf_counter() - started,
            process_tree_cpu_seconds(server_pid) - server_cpu,
            time.process_time() - client_cpu,
            process_tree_cpu_seconds(database_pid) - database_cpu if database_pid else 0.0,
            sum(client.connections for client in clients) - len(clients),
        )
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the web processes), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, IndexError, ValueError):
            continue
        pending.extend(int(c) for c in children)
    return total


def measure(name: str, url: str, database_pid: int | None = None) -> tuple[float, float]:
    """`database_pid`: PostgreSQL's postmaster, whose backends' CPU is printed per page too."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        config, env = write_config(folder, url, port)
        started = time.perf_counter()
        fill(config, env)
        print(f"{name}_fill_seconds: {time.perf_counter() - started:.1f}")
        log = (folder / "serve.log").open("w+b")
        server = subprocess.Popen(
            [sys.executable, "-m", "responder", "--config", str(config), "serve"],
            env={**os.environ, **env, "RESPONDER_MAILDIR__ENABLED": "false"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            processes = wait_for_web_processes(log)
            print(f"{name}_web_processes: {processes}")
            print(f"{name}_load_average_before: {os.getloadavg()[0]:.2f}")
            run = asyncio.run(load(port, server.pid, database_pid))
            print(f"{name}_load_average_after: {os.getloadavg()[0]:.2f}")
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
    latencies = sorted(run.latencies)
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"{name}_requests: {len(latencies)}")
    print(f"{name}_errors: {run.errors}")
    print(f"{name}_reconnections: {run.reconnections}")  # the server rebalancing its processes
    print(f"{name}_pages_per_second: {len(latencies) / run.seconds:.0f}")
    print(f"{name}_server_cpu_ms_per_page: {1000 * run.server_cpu_seconds / len(latencies):.2f}")
    print(f"{name}_client_cpu_ms_per_page: {1000 * run.client_cpu_seconds / len(latencies):.2f}")
    if database_pid:
        per_page = 1000 * run.database_cpu_seconds / len(latencies)
        print(f"{name}_database_cpu_ms_per_page: {per_page:.2f}")
    print(f"{name}_p50_ms: {p50:.1f}")
    print(f"{name}_p95_ms: {p95:.1f}")
    return p50, p95


def wait_for_web_processes(log: BinaryIO) -> int:
    """How many web processes `serve` started, once each has said its start-up is complete."""
    for _ in range(600):  # bounded: a minute
        log.seek(0)
        text = log.read()
        found = re.search(rb"\((\d+) web processes", text)
        if found and text.count(b"Application startup complete") >= int(found.group(1)):
            return int(found.group(1))
        time.sleep(0.1)
    raise RuntimeError("the web processes did not start: " + text[-2000:].decode(errors="replace"))


def main() -> None:
    print(f"messages: {MESSAGES}")
    print(f"clients: {CLIENTS}")
    with tempfile.TemporaryDirectory() as tmp:
        p50, p95 = measure("sqlite", f"sqlite:///{tmp}/bench.db")
    print(f"p50_ms: {p50:.1f}")
    print(f"p95_ms: {p95:.1f}")
    with postgresql_or_skip() as cluster:
        if cluster is not None:
            postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
            measure("postgresql", cluster.create_database(), postmaster)


if __name__ == "__main__":
    main()
