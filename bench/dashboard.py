"""Supervisor dashboard and auto-send page with a year of history: 100,000 messages.

Fills a fresh database (SQLite; PostgreSQL too when its server binaries are installed) with a
year of mail, each message with its draft, the snippet in it, most with a decision and some
with an agent's correction, then times in-process what the two pages read and compute:

- the dashboard for the last 30 days, reading the whole history and keeping the period in Python
  (`dashboard_30_days_whole_history_ms`, how every load worked before) against reading only the
  period's messages (`dashboard_30_days_ms`);
- the dashboard for all time (`dashboard_all_time_ms`), where nothing can be left unread;
- the auto-send page's figures (the last 30 days' decisions), the same two ways
  (`auto_send_whole_history_ms`, `auto_send_ms`).

Each figure is the median of 5 runs after one warm-up. The tables each way are compared, so a
scope that drops a row fails the bench instead of looking fast.

    .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import analyze_after_bulk_load, postgresql_or_skip  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.dashboard import (  # noqa: E402
    HistoryScope,
    Period,
    dashboard_tables,
    load_history,
)
from responder.db.models import (  # noqa: E402
    Channel,
    Draft,
    DraftSnippet,
    Message,
    ReviewAction,
    Snippet,
    StaffUser,
    Template,
)
from responder.db.session import transaction  # noqa: E402
from responder.runtime import Runtime  # noqa: E402
from responder.supervisor import auto_send_figures  # noqa: E402
from responder.users import add_user  # noqa: E402

MESSAGES = 100_000
DAYS = 365
RUNS = 5
INTENTS = ["billing_dispute", "outage", "roaming", "cancellation", "port_out", "plan_change"]
DECISIONS = [("approve", 60), ("edit", 15), ("reject", 10), (None, 15)]


def fill(rt: Runtime, now: datetime) -> None:
    rng = random.Random(11)
    with transaction(rt.factory) as session:
        channel = Channel(name="support", kind="maildir", address="support@example.test")
        session.add(channel)
        for n in range(10):
            add_user(session, f"agent{n}", "bench-password", "agent")
        session.flush()
        channel_id = channel.id
        users = list(session.scalars(select(StaffUser.id)))
        snippets = list(session.scalars(select(Snippet.id)))
        templates = list(session.scalars(select(Template.id)))
    choices = [d for d, _ in DECISIONS]
    weights = [w for _, w in DECISIONS]
    batch = 5000
    for start in range(0, MESSAGES, batch):
        messages, drafts, used, actions = [], [], [], []
        for i in range(start, start + batch):
            message_id = draft_id = i + 1
            received = now - timedelta(minutes=rng.randint(0, 60 * 24 * DAYS))
            drafted = received + timedelta(minutes=rng.randint(1, 5))
            decision = rng.choices(choices, weights)[0]
            messages.append(
                {
                    "id": message_id,
                    "channel_id": channel_id,
                    "direction": "in",
                    "external_key": f"bench-{i}",
                    "raw": b"",
                    "raw_size": 0,
                    "state": {"approve": "sent", "edit": "sent", "reject": "rejected"}.get(
                        decision or "", "in_review"
                    ),
                    "subject": f"Question number {i} about my account",
                    "sender_address": f"customer{i % 2000}@mail.test",
                    "intent": INTENTS[i % len(INTENTS)],
                    "intent_confidence": round(rng.uniform(0.4, 1.0), 3),
                    "urgency": "normal",
                    "received_at": received,
                    "due_at": received + timedelta(hours=8),
                    "classification": {},
                    "references": [],
                    "reply_to": [],
                    "defects": [],
                }
            )
            drafts.append(
                {
                    "id": draft_id,
                    "message_id": message_id,
                    "version": 1,
                    "body": "Hello,\n\nThanks.\n",
                    "grounding": {},
                    "template_id": rng.choice(templates),
                    "created_at": drafted,
                }
            )
            used.append({"draft_id": draft_id, "snippet_id": rng.choice(snippets)})
            if rng.random() < 0.03:
                actions.append(
                    {
                        "message_id": message_id,
                        "user_id": rng.choice(users),
                        "action": "reclassify",
                        "detail": {"classifier": "intent", "from": "outage", "to": "roaming"},
                        "created_at": drafted + timedelta(minutes=1),
                    }
                )
            if decision:
                actions.append(
                    {
                        "message_id": message_id,
                        "draft_id": draft_id,
                        "user_id": rng.choice(users),
                        "action": decision,
                        "edit_distance": 40 if decision == "edit" else None,
                        "detail": {},
                        "created_at": drafted + timedelta(minutes=rng.randint(2, 600)),
                    }
                )
        with transaction(rt.factory) as session:
            session.execute(insert(Message), messages)
            session.execute(insert(Draft), drafts)
            session.execute(insert(DraftSnippet), used)
            session.execute(insert(ReviewAction), actions)
    analyze_after_bulk_load(rt.engine)


def median_ms(work: Callable[[], object]) -> tuple[float, object]:
    result = work()  # warm-up: the first read fills the database's page cache
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def measure(name: str, url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "mailbox" / "new").mkdir(parents=True)
        env = {
            "RESPONDER_DATABASE__URL": url,
            "RESPONDER_MAILDIR__PATH": str(Path(tmp) / "mailbox"),
            "RESPONDER_DRAFTING__TEMPLATES_DIR": str(ROOT / "templates"),
            "RESPONDER_CLASSIFY__DEFINITIONS_DIR": str(ROOT / "classifiers"),
        }
        rt = prepare(load_settings(ROOT / "config.toml", environ=env))
        now = datetime.now(UTC)
        fill(rt, now)
        zone = rt.settings.queue.timezone
        today = now.astimezone().date()
        month = Period(start=today - timedelta(days=29), end=today, timezone=zone)
        pairs = [("support", intent) for intent in INTENTS]

        def dashboard(period: Period, scope: HistoryScope | None) -> object:
            with rt.factory() as session:
                messages, corrections = load_history(session, scope)
            return dashboard_tables(messages, corrections, period, now)

        def auto_send(scope: HistoryScope | None) -> object:
            with rt.factory() as session:
                rows, _ = load_history(session, scope)
                return auto_send_figures.intent_figures(session, rows, now, pairs)

        figures = {
            "dashboard_30_days_whole_history_ms": lambda: dashboard(month, None),
            "dashboard_30_days_ms": lambda: dashboard(month, month.scope()),
            "dashboard_all_time_ms": lambda: dashboard(Period(timezone=zone), Period().scope()),
            "auto_send_whole_history_ms": lambda: auto_send(None),
            "auto_send_ms": lambda: auto_send(auto_send_figures.scope(now)),
        }
        results = {}
        for key, work in figures.items():
            ms, results[key] = median_ms(work)
            print(f"{name}_{key}: {ms:.1f}")
        for whole, scoped in (
            ("dashboard_30_days_whole_history_ms", "dashboard_30_days_ms"),
            ("auto_send_whole_history_ms", "auto_send_ms"),
        ):
            if results[whole] != results[scoped]:
                raise SystemExit(f"{scoped} does not give the figures {whole} gives")
        rt.engine.dispose()


def main() -> None:
    print(f"messages: {MESSAGES}")
    print(f"days: {DAYS}")
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{tmp}/bench.db")
    with postgresql_or_skip() as cluster:
        if cluster is not None:
            measure("postgresql", cluster.create_database())


if __name__ == "__main__":
    main()
