"""Cheap restarts of `responder worker` for kill tests: a pre-imported parent forks each worker.

A fresh interpreter spends several seconds importing torch, spaCy and transformers before a
worker does anything; fifty restarts would spend minutes on imports alone. The zygote (run as
`python -m tests.worker_zygote CONFIG`) imports those libraries once, starts no threads and
loads no model of ours, then forks one child per request. Each child runs the real command,
`responder.cli.main(["--config", CONFIG, "worker", ...])`, loads its own models and database
connections, and writes its log to a FIFO the test reads; the test SIGKILLs the child itself
(like gunicorn's preload, only the imports are shared, and lingua's n-gram tables: lingua keeps
them process-wide, read-only, and loading them cost every restart about two seconds of CPU).
The zygote starts while the test sets up its database and mail, and is waited for at the
first fork.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from tests.worker_processes import ROOT, WorkerProcess

# What a worker imports lazily on its start and first batch. Every module left out here is
# imported again by each child: httpcore (for the media fetcher's client, built with the pollers)
# alone took half a second a restart.
WARM_MODULES = (
    "httpcore",
    "onnxruntime",
    "spacy",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlite3",
    "transformers",
    "responder.bootstrap",
    "responder.classify.head",
    "responder.classify.training",
    "responder.classify.language",
    "responder.classify.onnx_encoder",
    "responder.cli",
    "responder.db.search_indexes",
    "responder.drafting.entities",
    "responder.ops.logs",
    "responder.pipeline.stages",
    "responder.pipeline.worker",
    "responder.runtime",
)


def _warm_imports(config: str) -> None:
    """Import what every child would; importing starts no threads."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    import spacy
    from transformers import AutoTokenizer

    from responder.classify.embedder import packaged_model_path
    from responder.classify.language import LanguageIdentifier
    from responder.config import load_settings
    from responder.drafting.entities import NOT_NEEDED

    settings = load_settings(Path(config))
    # Loading the tokenizer and the spaCy model imports their modules (spaCy's registries pull
    # in five other languages' too). The imports stay; the objects are dropped: each child
    # loads its own, as a restarted worker does.
    AutoTokenizer.from_pretrained(packaged_model_path())
    spacy.load(settings.models.spacy_model, exclude=NOT_NEEDED)
    # One serial detection loads every configured language's tables into lingua's process-wide
    # cache and starts no thread (the parallel call would start rayon's pool, which a forked
    # child could not use); each child still builds its own detector and runs it in parallel.
    detector = LanguageIdentifier(settings.classify.languages).detector
    detector.compute_language_confidence_values("my card has not arrived")
    # The migration files, read as a start's upgrade reads them (once per process): each child
    # still checks its database against them.
    from responder.db.migrate import revision_scripts

    revision_scripts().revision_map.heads  # noqa: B018  # loads every revision file


def _child(config: str, fifo: str, args: list[str]) -> None:
    code = 1
    try:
        log = os.open(fifo, os.O_WRONLY)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from responder.cli import main

        code = main(["--config", config, "worker", *args])
    except BaseException:
        traceback.print_exc()
    finally:
        # Its last log line: the exit status its parent (the zygote, which reaps nothing)
        # cannot pass on.
        with contextlib.suppress(OSError):  # nobody reads the log any more
            print(json.dumps({"exit_code": code}), file=sys.stderr, flush=True)
        os._exit(code)


def serve(config: str) -> None:
    """Read `FIFO [ARG...]` lines on stdin; fork a worker for each; answer with its pid."""
    _warm_imports(config)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("ready", flush=True)
    for line in sys.stdin:
        fifo, *args = line.split()
        pid = os.fork()
        if pid == 0:
            _child(config, fifo, args)
        print(pid, flush=True)


class ForkedWorker(WorkerProcess):
    """A WorkerProcess whose process is a zygote's child: the same log events, signals by pid."""

    def __init__(self, zygote: WorkerZygote, *args: str) -> None:
        fifo = Path(tempfile.mkdtemp(dir=zygote.folder)) / "log"
        os.mkfifo(fifo)
        self._pid = zygote.fork(str(fifo), *args)
        zygote.workers.append(self)
        self.stream = fifo.open()
        self.process = self  # WorkerProcess reads its log from self.process.stderr
        self._start_reader()

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def alive(self) -> bool:
        return self._reader.is_alive()

    @property
    def stderr(self) -> Any:
        return self.stream

    def _signal(self, signum: int, timeout: float) -> bool:
        """True once the child is gone (its end of the FIFO closes when it exits)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signum)
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def kill(self) -> None:
        assert self._signal(signal.SIGKILL, 60), f"worker {self._pid} survived SIGKILL"

    def terminate(self, timeout: float = 300) -> int:
        """Its exit status, as it logged it last; 1 if it did not stop or died unlogged."""
        if not self._signal(signal.SIGTERM, timeout):
            return 1
        codes = [e["exit_code"] for e in self.events if "exit_code" in e]
        return codes[-1] if codes else 1


class WorkerZygote:
    def __init__(self, config: Path, environ: dict[str, str]) -> None:
        import subprocess

        env = {
            **os.environ,
            "RESPONDER_LOGGING__FORMAT": "json",
            "RESPONDER_LOGGING__LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            "TOKENIZERS_PARALLELISM": "false",
            **environ,
        }
        env.pop("RESPONDER_LOG_LEVEL", None)
        self.folder = tempfile.mkdtemp(prefix="zyg", dir="/tmp")
        self.workers: list[ForkedWorker] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker_zygote", str(config)],
            cwd=config.parent,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = False

    def _wait_until_ready(self) -> None:
        """The imports run while the test sets up; the first fork waits for them."""
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the worker zygote did not start")
        self.ready = True

    def fork(self, fifo: str, *args: str) -> int:
        if not self.ready:
            self._wait_until_ready()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(" ".join([fifo, *args]) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        """Stop forking; a worker still running (its log still open) is killed, not orphaned."""
        import shutil

        for worker in self.workers:
            if worker.alive:
                worker.kill()

        if self.process.stdin is not None:
            self.process.stdin.close()
        if not self.ready:  # still importing, or it failed: nothing of it is wanted now
            self.process.kill()
        self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1])
