"""IMAP ingestion throughput: fetch from a real Dovecot, store raw, parse. Models excluded.

Starts its own throw-away Dovecot (as root, like the tests), appends 2,000 messages (the demo
emails with unique Message-IDs), then times one poller round (UID SEARCH, BODY.PEEK[] in
batches, raw bytes and checkpoint committed) plus the parse stage (MIME parsing, quote
stripping, guard, customer and conversation lookup) on a fresh SQLite database.

Usage: python bench/ingest.py
"""

from __future__ import annotations

import email
import os
import shutil
import sys
import tempfile
import time
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from responder.bootstrap import imap_pollers, prepare  # noqa: E402
from responder.config import ImapMailboxSettings, load_settings  # noqa: E402
from responder.db.models import Message  # noqa: E402
from responder.pipeline.stages import parse_stage  # noqa: E402
from responder.pipeline.worker import state_counts  # noqa: E402
from tests.dovecot import PASSWORD, USER, start_dovecot  # noqa: E402

COUNT = 2000


def messages(count: int) -> list[bytes]:
    demo = sorted((ROOT / "demo" / "emails").glob("*.eml"))
    found = []
    for n in range(count):
        msg = email.message_from_bytes(demo[n % len(demo)].read_bytes(), policy=policy.default)
        del msg["Message-ID"]
        msg["Message-ID"] = f"<bench-{n}@ingest.test>"
        found.append(msg.as_bytes())
    return found


def main() -> int:
    server = start_dovecot()
    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        raws = messages(COUNT)
        with server.client() as client:
            for raw in raws:
                client.append("INBOX", raw)
        environ = {"RESPONDER_DATABASE__URL": f"sqlite:///{folder / 'bench.db'}"}
        settings = load_settings(ROOT / "config.toml", environ=environ)
        settings.maildir.enabled = False
        settings.guard.max_drafts_per_sender_per_hour = 0
        settings.imap.mailboxes = [
            ImapMailboxSettings(
                name="bench",
                host="127.0.0.1",
                port=server.port,
                security="none",
                user=USER,
                password_env="BENCH_IMAP_PASSWORD",
            )
        ]
        os.environ["BENCH_IMAP_PASSWORD"] = PASSWORD
        rt = prepare(settings)
        (poller,) = imap_pollers(rt)

        cpu_started = time.process_time()
        started = time.perf_counter()
        stored = poller.poll()
        fetched_at = time.perf_counter()
        with rt.factory() as session:
            ids = list(session.scalars(select(Message.id).order_by(Message.id)))
        parse_stage(rt, ids)
        finished = time.perf_counter()
        cpu_seconds = time.process_time() - cpu_started
        poller.close()

        counts = state_counts(rt)
        assert stored == COUNT, f"stored {stored} of {COUNT}"
        assert counts["received"] == 0, counts
        total = finished - started
        print(f"messages: {COUNT}")
        print(f"raw_megabytes: {sum(len(r) for r in raws) / 1e6:.1f}")
        print(f"fetch_store_seconds: {fetched_at - started:.2f}")
        print(f"parse_seconds: {finished - fetched_at:.2f}")
        print(f"parsed: {counts['parsed']}")
        print(f"ignored: {counts['ignored']}")
        print(f"cpu_seconds: {cpu_seconds:.2f}")
        print(f"messages_per_second: {COUNT / total:.0f}")
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
