"""Real `responder worker` subprocesses for tests: start, read their JSON log events, stop."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from responder.db.models import Draft, Message
from responder.pipeline.states import State
from responder.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """One `python -m responder worker`; its stderr JSON lines are collected as events."""

    def __init__(self, config: Path, environ: dict[str, str], *args: str) -> None:
        env = {
            **os.environ,
            "RESPONDER_LOGGING__FORMAT": "json",
            "RESPONDER_LOGGING__LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            **environ,
        }
        env.pop("RESPONDER_LOG_LEVEL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "responder", "--config", str(config), "worker", *args],
            cwd=config.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._start_reader()

    def _start_reader(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.other_lines: list[str] = []
        self._arrivals: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                event = json.loads(line)
            except ValueError:
                self.other_lines.append(line)
                continue
            self.events.append(event)
            self._arrivals.put(event)
        self._arrivals.put(None)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        """Block until an event matching predicate is logged (False if the process ended)."""
        while True:
            try:
                event = self._arrivals.get(timeout=timeout)
            except queue.Empty:
                return False
            if event is None:
                return False
            if predicate(event):
                return True

    @property
    def pid(self) -> int:
        return self.process.pid

    def terminate(self, timeout: float = 300) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=60)

    def output(self) -> str:
        self._reader.join(timeout=10)
        return "".join(self.other_lines[-40:])

    def state_changes(self) -> list[tuple[int, str]]:
        return [(e["message_id"], e["state"]) for e in self.events if "state" in e]


def is_state_change(event: dict[str, Any]) -> bool:
    return "state" in event and "message_id" in event


def consistency_problems(rt: Runtime) -> list[str]:
    """What a half-written message would look like, for every inbound message."""
    problems = []
    with rt.factory() as session:
        drafts = dict(
            session.execute(
                select(Draft.message_id, func.count(Draft.id)).group_by(Draft.message_id)
            ).all()
        )
        for m in session.scalars(select(Message).where(Message.direction == "in")):
            count = drafts.get(m.id, 0)
            if m.claimed_by is not None:
                problems.append(f"{m.id}: still claimed by {m.claimed_by}")
            if m.state == State.RECEIVED and (m.subject or m.conversation_id):
                problems.append(f"{m.id}: received but partly parsed")
            if m.state in (State.PARSED, State.RECEIVED) and m.intent:
                problems.append(f"{m.id}: {m.state} with an intent")
            if m.state == State.CLASSIFIED and (not m.intent or count):
                problems.append(f"{m.id}: classified without intent or with a draft")
            if m.state in (State.DRAFTED, State.IN_REVIEW) and count != 1:
                problems.append(f"{m.id}: {m.state} with {count} drafts")
            if m.state not in (
                State.RECEIVED,
                State.PARSED,
                State.CLASSIFIED,
                State.DRAFTED,
                State.IN_REVIEW,
                State.IGNORED,
            ):
                problems.append(f"{m.id}: unexpected state {m.state} ({m.state_reason})")
    return problems
