"""`responder worker` SIGKILLed at 50 seeded points while it ingests, drafts and sends 300 emails.

The kill points are counts of logged state changes since each restart, drawn from a seeded RNG,
so a run is reproducible up to the few steps a worker takes between our reading its log line
and the kill landing. Replies go through a real SMTP server (aiosmtpd) that records every
delivery: an auto-send policy covers a seeded half of the intents, the rest wait for review.
At the end every message is in a final or retryable state, none is lost, none has two drafts,
and no reply was delivered twice. Restarts fork from a pre-imported parent
(`tests/worker_zygote.py`) so that 50 restarts cost seconds of imports, not minutes.
"""

from __future__ import annotations

import os
import random
import time
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.corpus import customer_email
from responder.bootstrap import prepare
from responder.channels.maildir_source import deliver_to_maildir, ensure_channel
from responder.classify.embedder import Embedder
from responder.config import load_settings
from responder.db.models import Channel, Draft, Message, OutboxItem
from responder.db.session import transaction
from responder.pipeline.states import State
from responder.pipeline.worker import state_counts
from responder.runtime import Runtime
from tests.smtp_server import SmtpServer, smtp_server
from tests.worker_processes import ROOT, is_state_change
from tests.worker_zygote import ForkedWorker, WorkerZygote

__all__ = ["smtp_server"]

SEED = int(os.environ.get("KILL_STORM_SEED", "20261123"))
MESSAGES = int(os.environ.get("KILL_STORM_MESSAGES", "300"))
KILLS = int(os.environ.get("KILL_STORM_KILLS", "50"))
FINAL = {State.IN_REVIEW, State.SENT, State.IGNORED, State.QUARANTINED, State.FAILED}
UNFINISHED = {
    State.RECEIVED,
    State.PARSED,
    State.CLASSIFIED,
    State.DRAFTED,
    State.APPROVED,
    State.SENDING,
}


@pytest.mark.slow
def test_fifty_sigkills_lose_nothing_and_send_nothing_twice(
    project: Path, smtp_server: SmtpServer, int8_embedder: Embedder
) -> None:
    rng = random.Random(SEED)
    environ = {
        "RESPONDER_DATABASE__URL": f"sqlite:///{project / 'var' / 'responder.db'}",
        "RESPONDER_PIPELINE__BATCH_SIZE": "8",
        "RESPONDER_PIPELINE__POLL_INTERVAL_SECONDS": "0.2",
        "RESPONDER_MODELS__BACKEND": "onnx-int8",
        "RESPONDER_MODELS__CACHE_DIR": str(ROOT / "var" / "models"),
        "RESPONDER_OUTBOUND__TRANSPORT": "smtp",
        "RESPONDER_SMTP__PORT": str(smtp_server.port),
        "RESPONDER_SMTP__SECURITY": "none",
        "RESPONDER_SMTP__TIMEOUT_SECONDS": "5",
    }
    maildir = project / "mailbox"
    zygote = WorkerZygote(project / "config.toml", environ)  # imports while we set up
    try:
        rt = storm_ready(project, environ, int8_embedder, rng)
        killed_at = storm(rt, zygote, rng, maildir)
    finally:
        zygote.close()
    print(f"kills after a change to: {dict(killed_at)}; final states: {state_counts(rt)}")

    with rt.factory() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "in")).all()
        drafts = Counter(session.scalars(select(Draft.message_id)))
        outbox = Counter(session.scalars(select(OutboxItem.message_id)))
        items = {i.message_id_header: i for i in session.scalars(select(OutboxItem))}
    assert sorted(m.external_key for m in inbound) == sorted(
        f"storm-{n}" for n in range(MESSAGES)
    ), "a message was lost or stored twice"
    assert not list((maildir / "new").iterdir())
    for m in inbound:
        assert m.claimed_by is None, f"{m.id} still claimed"
        retryable = m.state == State.APPROVED and m.next_attempt_at is not None
        assert m.state in FINAL or retryable, f"{m.id}: {m.state} {m.state_reason}"
    assert set(drafts.values()) <= {1}, "a message got two drafts"
    assert set(outbox.values()) <= {1}, "a message got two replies queued"

    delivered = [r.message for r in smtp_server.handler.received]
    by_id = Counter(str(r["Message-ID"]) for r in delivered)
    by_original = Counter(str(r["In-Reply-To"]) for r in delivered)
    assert set(by_id.values()) <= {1}, "a reply was delivered twice"
    assert set(by_original.values()) <= {1}, "a customer got two replies"
    states = {m.id: m for m in inbound}
    sent = {i.message_id_header for i in items.values() if i.state == "sent"}
    assert sent <= set(by_id), "a reply marked sent never reached the server"
    for header in set(by_id) - sent:
        message = states[items[header].message_id]
        assert message.state == State.FAILED and "delivery uncertain" in message.state_reason
    assert sent, "nothing was sent: the send stage was not exercised"
    assert sum(killed_at.values()) == KILLS


def storm_ready(
    project: Path, environ: dict[str, str], embedder: Embedder, rng: random.Random
) -> Runtime:
    """The database, with classifiers trained and a seeded half of the intents auto-sent, and
    the Maildir holding the mail."""
    settings = load_settings(project / "config.toml", environ=environ)
    rt = prepare(settings, embedder=embedder)  # the encoder the workers run
    rt.classifiers(settings.classify.pipeline)  # trained once here, loaded by every restart
    intents = sorted(tomllib.loads((project / "classifiers" / "intent.toml").read_text())["labels"])
    auto = rng.sample(intents, len(intents) // 2)
    channel_id = ensure_channel(
        rt.factory, settings.maildir.name, "maildir", settings.maildir.address
    )
    with transaction(rt.factory) as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        channel.auto_send = dict.fromkeys(auto, 0.0)
    for n in range(MESSAGES):
        deliver_to_maildir(project / "mailbox", customer_email(n, short=True), f"storm-{n}")
    return rt


def storm(rt: Runtime, zygote: WorkerZygote, rng: random.Random, maildir: Path) -> Counter[str]:
    """The kills, then one worker left to finish; where each kill landed."""
    # 0: killed while it starts (settings, migrations, seed content, polling the Maildir); the
    # other points scale with the mail (about five changes a message), so most kills land mid-work
    kill_points = [0 if rng.random() < 0.1 else rng.randint(1, 48) for _ in range(KILLS)]
    killed_at: Counter[str] = Counter()
    for point in kill_points:
        worker = ForkedWorker(zygote, "--poll")
        seen: list[str] = []

        def counted(event: dict, seen: list[str] = seen, point: int = point) -> bool:
            if is_state_change(event):
                seen.append(event["state"])
            return len(seen) >= point

        reached = point == 0 or worker.wait_for(counted, timeout=300)
        worker.kill()
        assert reached or not unfinished(rt), worker.output()
        killed_at[seen[-1] if seen else "start"] += 1

    survivor = ForkedWorker(zygote, "--poll")
    deadline = time.monotonic() + 900
    while unfinished(rt) or list((maildir / "new").iterdir()):
        assert time.monotonic() < deadline, state_counts(rt)
        assert survivor.alive, survivor.output()
        time.sleep(0.2)  # polling the database for completion, not synchronising
    assert survivor.terminate() == 0, survivor.output()
    return killed_at


def unfinished(rt: object) -> bool:
    counts = state_counts(rt)  # type: ignore[arg-type]
    return any(counts[s] for s in UNFINISHED)
