"""Latency from an IMAP APPEND to the draft waiting in the review queue, with IMAP IDLE.

Starts its own throw-away Dovecot (as root, like the tests and bench/ingest.py), and in this
process what `responder serve` runs: the IDLE watcher thread of the folder and a worker
thread that the watcher wakes when it stored mail. The models are loaded and one message is
taken through the whole pipeline before measuring. Then messages are appended one at a time
(email-length, bench/corpus.py); each is timed from the APPEND until its message is in review
with a draft, seen by polling the database every 10 ms.

Environment: BENCH_MESSAGES (default 20), BENCH_BACKEND (default onnx-int8),
BENCH_DATABASE_URL (default a fresh SQLite file).
Usage: python bench/latency.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from sqlalchemy import select  # noqa: E402

from bench.corpus import customer_email  # noqa: E402
from responder.bootstrap import pollers, prepare, start_imap_watchers  # noqa: E402
from responder.config import ImapMailboxSettings, load_settings  # noqa: E402
from responder.db.models import Draft, Message  # noqa: E402
from responder.pipeline.states import State  # noqa: E402
from responder.pipeline.worker import Worker  # noqa: E402
from tests.dovecot import PASSWORD, USER, start_dovecot  # noqa: E402

#: Longest wait for one draft before the run is abandoned (keeps the bench bounded).
TIMEOUT_SECONDS = 30.0


def drafted(rt: object, message_id_header: str) -> bool:
    with rt.factory() as session:  # type: ignore[attr-defined]
        return (
            session.scalar(
                select(Draft.id)
                .join(Message, Message.id == Draft.message_id)
                .where(
                    Message.message_id_header == message_id_header,
                    Message.state == State.IN_REVIEW,
                )
            )
            is not None
        )


def wait_for_draft(rt: object, message_id_header: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not drafted(rt, message_id_header):
        if time.monotonic() > deadline:
            raise SystemExit(f"no draft for {message_id_header} after {TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.01)  # the bench observing the queue, not the product waiting


def main() -> int:
    count = int(os.environ.get("BENCH_MESSAGES", "20"))
    backend = os.environ.get("BENCH_BACKEND", "onnx-int8")
    server = start_dovecot()
    folder = Path(tempfile.mkdtemp(prefix="latency-bench-"))
    worker: Worker | None = None
    try:
        environ = {
            "RESPONDER_DATABASE__URL": os.environ.get(
                "BENCH_DATABASE_URL", f"sqlite:///{folder / 'bench.db'}"
            ),
            "RESPONDER_MODELS__BACKEND": backend,
            "RESPONDER_MODELS__CACHE_DIR": str(ROOT / "var" / "models"),
        }
        settings = load_settings(ROOT / "config.toml", environ=environ)
        settings.maildir.enabled = False
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
        rt.entity_extractor.nlp  # noqa: B018  # both models loaded before measuring
        rt.classifiers(settings.classify.pipeline)
        with rt.factory() as session:
            rt.snippet_index(session)

        worker = Worker(rt, pollers(rt, imap=False))
        threading.Thread(target=worker.run_forever, name="worker", daemon=True).start()
        start_imap_watchers(rt, worker.stop_event, on_stored=worker.wake)

        with server.client() as client:
            client.append("INBOX", customer_email(10_000))  # warm-up, not measured
            wait_for_draft(rt, "<load-10000@mail.test>")
            seconds = []
            for n in range(count):
                started = time.perf_counter()
                client.append("INBOX", customer_email(n))
                wait_for_draft(rt, f"<load-{n}@mail.test>")
                seconds.append(time.perf_counter() - started)

        seconds.sort()
        p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
        print(f"messages: {count}")
        print(f"backend: {backend}")
        print(f"database: {rt.engine.dialect.name}")
        print(f"median_seconds: {statistics.median(seconds):.2f}")
        print(f"p95_seconds: {p95:.2f}")
        print(f"min_seconds: {seconds[0]:.2f}")
        print(f"max_seconds: {seconds[-1]:.2f}")
        print(f"load_average: {os.getloadavg()[0]:.1f}")
    except SystemExit:
        print(f"dovecot log:\n{server.log()}", file=sys.stderr)
        raise
    finally:
        if worker is not None:
            worker.stop()
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
