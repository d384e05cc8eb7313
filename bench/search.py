"""Search time with 100,000 stored messages, on SQLite and PostgreSQL.

Fills a fresh database with 100,000 inbound messages (subjects, senders and the customer's new
text from the demo emails, each with its own reference number) and 2,000 customers with an
email identity each, then times `responder.web.search.search` in process, as the `/search`
page calls it: the median of 5 runs per query. Each message's searched text goes into
`message_search` as the parse stage writes it. A substring search cannot use a B-tree index:
on SQLite a query that matches little reads every row of that table (`rare`, `none`), while a
common word stops after the first page of newest matches (`common`); a phone number (`phone`)
is looked for in four spellings at once; on PostgreSQL the
trigram indexes of migration web_0013 answer it. The customers' query is timed alone too,
beside its shape before session 25 (`_or`). `*_upgrade_phone_numbers_seconds`: migration
web_0023 reading every stored message for phone numbers, as an upgrade does once.

    .venv/bin/python bench/search.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Select, insert, or_, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import _bases  # noqa: E402
from bench.databases import analyze_after_bulk_load, postgresql_or_skip  # noqa: E402
from bench.queue_latency import write_config  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.db.migrate import alembic_config, upgrade  # noqa: E402
from responder.db.models import (  # noqa: E402
    Channel,
    Customer,
    CustomerIdentity,
    Message,
    MessageSearchText,
)
from responder.db.session import transaction  # noqa: E402
from responder.runtime import Runtime  # noqa: E402
from responder.search_fold import fold, folded  # noqa: E402
from responder.search_text import searchable  # noqa: E402
from responder.web.search import (  # noqa: E402
    RESULTS,
    customers_matching,
    like_pattern,
    messages_matching,
    search,
    search_query,
)
from tests.servers import free_port  # noqa: E402

MESSAGES = 100_000
CUSTOMERS = 2_000
RUNS = 5
QUERIES = {
    "common": "bill",  # in many subjects and texts: the newest page is found at once
    "address": "customer1234@mail",  # one customer's messages and the customer
    "rare": "reference R-077777 ",  # one message of 100,000: every row is read
    "none": "no such words anywhere",  # nothing: every row is read
    # a phone number as staff type it: also looked for in its stored and written forms
    # (four spellings, none in the corpus), so four index reads or four LIKEs a row
    "phone": "087 555 0102",
}


def fill(rt: Runtime) -> None:
    bases = _bases()
    now = datetime.now(UTC)
    with transaction(rt.factory) as session:
        channel = Channel(name="support", kind="maildir", address="support@example.test")
        session.add(channel)
        session.flush()
        channel_id = channel.id
        session.execute(
            insert(Customer),
            [{"name": f"Customer {i}", "external_id": f"B{i}"} for i in range(CUSTOMERS)],
        )
        session.execute(
            insert(CustomerIdentity),
            [
                {"customer_id": i + 1, "kind": "email", "value": f"customer{i}@mail.test"}
                for i in range(CUSTOMERS)
            ],
        )
    batch = 5_000
    for start in range(0, MESSAGES, batch):
        rows = []
        for i in range(start, start + batch):
            subject, body = bases[i % len(bases)]
            rows.append(
                {
                    "channel_id": channel_id,
                    "direction": "in",
                    "external_key": f"bench-{i}",
                    "raw": b"",
                    "state": "in_review",
                    "subject": subject,
                    "sender_address": f"customer{i % CUSTOMERS}@mail.test",
                    "sender_name": f"Customer {i % CUSTOMERS}",
                    "customer_id": 1 + i % CUSTOMERS,
                    "new_text": f"{body}\n\nMy reference R-{i:06d} if that helps.",
                    "received_at": now - timedelta(minutes=MESSAGES - i),
                    "classification": {},
                    "references": [],
                    "reply_to": [],
                    "defects": [],
                }
            )
        with transaction(rt.factory) as session:
            ids = session.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True), rows
            ).all()
            session.execute(
                insert(MessageSearchText),
                [
                    {
                        "message_id": message_id,
                        "text": searchable(
                            row["subject"],
                            row["sender_name"],
                            row["sender_address"],
                            row["new_text"],
                        ),
                    }
                    for message_id, row in zip(ids, rows, strict=True)
                ],
            )
    analyze_after_bulk_load(rt.engine)


def measure(name: str, url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config, env = write_config(Path(tmp), url, free_port())
        rt = prepare(load_settings(config, environ=env))
        started = time.perf_counter()
        fill(rt)
        print(f"{name}_fill_seconds: {time.perf_counter() - started:.1f}")
        # web_0023 over every stored message: reading each one's text for phone numbers
        rt.engine.dispose()
        command.downgrade(alembic_config(rt.engine), "web_0022")
        started = time.perf_counter()
        upgrade(rt.engine, phone_region="IE")
        print(f"{name}_upgrade_phone_numbers_seconds: {time.perf_counter() - started:.1f}")
        rt.engine.dispose()
        for kind, query in QUERIES.items():
            times, found = [], {}
            for _ in range(RUNS):
                with rt.read_factory() as session:
                    began = time.perf_counter()
                    found = search(session, query, phone_region="IE")
                    times.append(1000 * (time.perf_counter() - began))
            print(f"{name}_{kind}_messages_found: {len(found['messages'])}")
            print(f"{name}_{kind}_ms: {statistics.median(times):.1f}")
            if name == "sqlite":  # the baseline: the messages' query reading every row
                for label, indexed in (("index", True), ("every_row", False)):
                    timed = _timed(rt, messages_matching(search_query(query), indexed=indexed))
                    print(f"{name}_{kind}_messages_{label}_ms: {timed:.1f}")
            # the customers' query, and as a baseline its shape before session 25 (an OR
            # beside the identities' subquery, which PostgreSQL answers by reading every row)
            customers = customers_matching(query, sqlite=name == "sqlite")
            print(f"{name}_{kind}_customers_ms: {_timed(rt, customers):.1f}")
            print(f"{name}_{kind}_customers_or_ms: {_timed(rt, _customers_or(query)):.1f}")
        rt.engine.dispose()


def _customers_or(query: str) -> Select[tuple[Customer]]:
    pattern = like_pattern(fold(search_query(query)))

    def matches(*columns: Any) -> Any:
        return or_(*(folded(column).like(pattern, escape="\\") for column in columns))

    by_identity = select(CustomerIdentity.customer_id).where(
        matches(CustomerIdentity.value, CustomerIdentity.display)
    )
    return (
        select(Customer)
        .where(or_(matches(Customer.name, Customer.external_id), Customer.id.in_(by_identity)))
        .order_by(Customer.name, Customer.id)
        .limit(RESULTS)
    )


def _timed(rt: Runtime, query: Select[Any]) -> float:
    times = []
    for _ in range(RUNS):
        with rt.read_factory() as session:
            began = time.perf_counter()
            session.execute(query).all()
            times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def main() -> None:
    print(f"messages: {MESSAGES}")
    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", f"sqlite:///{tmp}/bench.db")
    with postgresql_or_skip() as cluster:
        if cluster is not None:
            measure("postgresql", cluster.create_database())


if __name__ == "__main__":
    main()
