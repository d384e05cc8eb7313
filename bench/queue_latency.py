"""Queue page latency with 100,000 messages, 20 concurrent staff clients on loopback.

Fills a fresh database (SQLite by default; PostgreSQL too when its server binaries are
installed), starts `responder serve` in its own process, logs 20 clients in and has each load
queue pages (first page, filtered pages, next pages by cursor) back to back for a bounded
number of requests. Prints `p50_ms:` and `p95_ms:` (and the same per database).

    .venv/bin/python bench/queue_latency.py
"""

from __future__ import annotations

import asyncio
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

import httpx
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from responder.bootstrap import prepare  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.db.models import Channel, Customer, Draft, Message  # noqa: E402
from responder.db.session import transaction  # noqa: E402
from responder.users import add_user  # noqa: E402
from tests.servers import PostgresCluster, ServerUnavailable, free_port  # noqa: E402

MESSAGES = 100_000
CLIENTS = 20
REQUESTS_PER_CLIENT = 40
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
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.connect() as connection:  # production tables have planner statistics
            connection.execute(text("ANALYZE"))
            connection.commit()
    rt.engine.dispose()


async def client_run(base: str, latencies: list[float], deadline: float) -> int:
    errors = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        page = await client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        await client.post(
            "/login",
            data={"username": "bench", "password": "bench-password", "_csrf_token": token},
        )
        rng = random.Random()
        cursor = None
        for _ in range(REQUESTS_PER_CLIENT):
            if time.monotonic() > deadline:
                break
            choice = rng.random()
            params: dict[str, str] = {}
            if choice < 0.3 and cursor:
                params["cursor"] = cursor
            elif choice < 0.6:
                params["intent"] = rng.choice(INTENTS)
            elif choice < 0.7:
                params["tier"] = rng.choice(TIERS)
            started = time.perf_counter()
            response = await client.get("/queue", params=params)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or "Waiting for review" not in response.text:
                errors += 1
            found = re.search(r'href="\?cursor=([^"&]+)', response.text)
            cursor = httpx.QueryParams(f"c={found.group(1)}")["c"] if found else None
    return errors


async def load(base: str) -> tuple[list[float], int]:
    latencies: list[float] = []
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    errors = await asyncio.gather(*(client_run(base, latencies, deadline) for _ in range(CLIENTS)))
    return latencies, sum(errors)


def measure(name: str, url: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        config, env = write_config(folder, url, port)
        started = time.perf_counter()
        fill(config, env)
        print(f"{name}_fill_seconds: {time.perf_counter() - started:.1f}")
        server = subprocess.Popen(
            [sys.executable, "-m", "responder", "--config", str(config), "serve"],
            env={**os.environ, **env, "RESPONDER_MAILDIR__ENABLED": "false"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            latencies, errors = asyncio.run(load(base))
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(f"{name}_requests: {len(latencies)}")
    print(f"{name}_errors: {errors}")
    print(f"{name}_p50_ms: {p50:.1f}")
    print(f"{name}_p95_ms: {p95:.1f}")
    return p50, p95


def main() -> None:
    print(f"messages: {MESSAGES}")
    print(f"clients: {CLIENTS}")
    with tempfile.TemporaryDirectory() as tmp:
        p50, p95 = measure("sqlite", f"sqlite:///{tmp}/bench.db")
    print(f"p50_ms: {p50:.1f}")
    print(f"p95_ms: {p95:.1f}")
    try:
        cluster = PostgresCluster().start()
    except ServerUnavailable as exc:
        print(f"postgresql: skipped ({exc})")
        return
    try:
        measure("postgresql", cluster.create_database())
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    main()
