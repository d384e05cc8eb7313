"""Pipeline throughput against the models' own ceiling, the int8 encoder against fp32.

2,000 email-length messages (variations of the demo emails, bench/corpus.py) are stored raw in
a throw-away PostgreSQL, then worker processes (one per core, each with its models loaded and
its share of the cores' threads, as `responder worker` processes on a worker machine) take them
to a draft in the review queue. In the same run:
- ceiling: the models the pipeline runs, alone, in as many processes with as many threads, on
  the same texts at the same batch size, timed before and after the pipeline (the mean);
- fp32: the sentence-transformers PyTorch fp32 encoder alone on the same texts, one process
  using every core (the plain model the issue measures against), timed before and after the
  pipeline (the mean);
- Banking77 accuracy (logistic regression on frozen embeddings) for the pipeline's encoder and
  for fp32 (data: ../shared/data/banking77, see its SOURCE.md; CC BY 4.0, Casanueva et al. 2020).

Environment: BENCH_MESSAGES (default 2000), BENCH_BACKEND (default onnx-int8),
BENCH_PROCESSES (default one per core), BENCH_THREADS (model threads per process, default
cores / processes), BENCH_CONCURRENCY (worker threads per process, default 1),
BENCH_DATABASE=sqlite (a fresh SQLite file instead of PostgreSQL) or BENCH_DATABASE_URL,
BENCH_PROFILE=FILE (a cProfile of the first process's worker), BENCH_SKIP_BANKING77=1,
BENCH_BATCH (`[pipeline] batch_size`: messages a worker claims, and so the models' batch).
CPU seconds (all worker processes) are printed beside wall time: on a shared machine they are
the figures that say what a core does.
"""

from __future__ import annotations

import cProfile
import csv
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy import distinct, func, select  # noqa: E402

from bench.corpus import customer_email, store_received  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.channels.maildir_source import ensure_channel  # noqa: E402
from responder.classify.embedder import Embedder  # noqa: E402
from responder.config import Settings, load_settings  # noqa: E402
from responder.db.models import Draft, Message  # noqa: E402
from responder.drafting.service import message_text  # noqa: E402
from responder.mail.parse import parse_email  # noqa: E402
from responder.pipeline.stages import classification_text  # noqa: E402
from responder.pipeline.worker import Worker, state_counts  # noqa: E402
from responder.runtime import Runtime  # noqa: E402
from tests.servers import PostgresCluster  # noqa: E402

BANKING77 = ROOT.parent / "shared" / "data" / "banking77"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_encode(embedder: Embedder, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embedder.encode(texts[start : start + batch])
    return time.perf_counter() - started


def fresh(embedder: Embedder) -> Embedder:
    """The same loaded model with an empty text cache, so every text is really encoded."""
    copy = Embedder(
        embedder.model_path,
        embedder.device,
        embedder.batch_size,
        backend=embedder.backend,
        threads=embedder.threads,
    )
    copy.__dict__["model"] = embedder.model
    return copy


def banking77_accuracy(embedder: Embedder) -> float:
    from sklearn.linear_model import LogisticRegression

    def load(name: str) -> tuple[list[str], list[str]]:
        with open(BANKING77 / name, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [r["text"] for r in rows], [r["category"] for r in rows]

    train_x, train_y = load("train.csv")
    test_x, test_y = load("test.csv")
    model = LogisticRegression(max_iter=2000, C=10.0)
    model.fit(embedder.encode(train_x), train_y)
    return float(np.mean(model.predict(embedder.encode(test_x)) == np.array(test_y)))


def project_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    for name in ("templates", "classifiers", "demo"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "config.toml", folder / "config.toml")
    for sub in ("new", "cur", "tmp"):
        (folder / "mailbox" / sub).mkdir(parents=True)
    return folder


def migrated_sqlite(folder: Path) -> Settings:
    """The settings of `folder` (`project_folder`) on a SQLite file in it, its schema and
    content in place, so what a bench times starts from a database as `responder` leaves it."""
    settings = load_settings(
        folder / "config.toml",
        environ={"RESPONDER_DATABASE__URL": f"sqlite:///{folder / 'bench.db'}"},
    )
    prepare(settings).engine.dispose()
    return settings


def worker_process(
    settings: Settings,
    concurrency: int,
    share: tuple[int, int],
    texts: tuple[list[str], list[str]],
    barrier: Barrier,
    results: Queue,
) -> None:
    """One `responder worker` process: models loaded before the clock; then the models alone
    on this process's share of the texts (the ceiling), the queue, and the ceiling again, each
    after a barrier so every process starts together. Timing the ceiling on both sides of the
    pipeline cancels a host that speeds up or slows down during the run."""
    rt = Runtime(settings)
    extractor = rt.entity_extractor
    extractor.docs(["spaCy loaded before the clock"])
    rt.classifiers(settings.classify.pipeline)
    with rt.factory() as session:
        rt.snippet_index(session)
    rt.embedder.encode(["warm up the encoder"])

    index, processes = share
    classify_texts, entity_texts = (t[index::processes] for t in texts)
    batch = settings.pipeline.batch_size

    def ceiling() -> None:
        encoder = fresh(rt.embedder)
        barrier.wait()
        cpu_started = time.process_time()
        encoder_seconds = timed_encode(encoder, classify_texts, batch)
        started = time.perf_counter()
        for start in range(0, len(entity_texts), batch):
            extractor.docs(entity_texts[start : start + batch])
        spacy_seconds = time.perf_counter() - started
        results.put(("ceiling", time.process_time() - cpu_started, encoder_seconds, spacy_seconds))

    ceiling()

    # BENCH_CONCURRENCY threads share the process's models, as `responder worker --concurrency N`.
    workers = [Worker(rt) for _ in range(concurrency)]
    threads = [
        threading.Thread(target=w.drain_claims, kwargs={"max_rounds": 1_000_000})
        for w in workers[1:]
    ]
    profile_to = os.environ.get("BENCH_PROFILE")  # a cProfile of the first process's worker
    profiler = cProfile.Profile() if profile_to and share[0] == 0 else None
    barrier.wait()
    cpu_started = time.process_time()
    for thread in threads:
        thread.start()
    if profiler:
        profiler.enable()
    workers[0].drain_claims(max_rounds=1_000_000)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile_to))
    for thread in threads:
        thread.join()
    results.put(("pipeline", time.process_time() - cpu_started, peak_rss_mb()))

    ceiling()
    rt.engine.dispose()


def texts_of(raws: list[bytes]) -> tuple[list[str], list[str]]:
    """What the pipeline's models will read of each message (classifier text, entity text),
    from a parse like the parse stage's, so the ceiling can be timed before the pipeline runs.
    The run checks afterwards that the pipeline read the same."""
    messages = []
    for raw in raws:
        parsed = parse_email(raw)
        messages.append(Message(subject=parsed.subject, text=parsed.text, new_text=parsed.new_text))
    return [classification_text(m) for m in messages], [message_text(m) for m in messages]


def collect(results: Queue, kind: str, processes: int) -> list[tuple]:
    found = [results.get(timeout=7200) for _ in range(processes)]
    assert all(r[0] == kind for r in found), found
    return found


def main() -> None:
    count = int(os.environ.get("BENCH_MESSAGES", "2000"))
    backend = os.environ.get("BENCH_BACKEND", "onnx-int8")
    cores = os.cpu_count() or 1
    processes = int(os.environ.get("BENCH_PROCESSES", str(cores)))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "1"))
    threads = int(os.environ.get("BENCH_THREADS", str(max(1, cores // processes))))
    folder = project_folder()
    cluster = None
    database_url = os.environ.get("BENCH_DATABASE_URL", "")
    if not database_url and os.environ.get("BENCH_DATABASE", "postgresql") == "postgresql":
        cluster = PostgresCluster().start()
        database_url = cluster.create_database()
    environ = {
        "RESPONDER_DATABASE__URL": database_url or f"sqlite:///{folder / 'var' / 'responder.db'}",
        "RESPONDER_MODELS__BACKEND": backend,
        "RESPONDER_MODELS__CACHE_DIR": str(ROOT / "var" / "models"),
        "RESPONDER_MODELS__THREADS": str(threads),
        "RESPONDER_MAILDIR__ENABLED": "false",
    }
    if os.environ.get("BENCH_BATCH"):  # messages a worker claims, and the models' batch
        environ["RESPONDER_PIPELINE__BATCH_SIZE"] = os.environ["BENCH_BATCH"]
    settings = load_settings(folder / "config.toml", environ=environ)
    rt = prepare(settings)
    channel_id = ensure_channel(rt.factory, "support", "maildir", settings.maildir.address)
    raws = [customer_email(n) for n in range(count)]
    texts = texts_of(raws)
    store_received(rt.factory, channel_id, raws)
    # Trained and stored once here (a fresh install trains on first use), so the worker
    # processes only load them, as workers that have been running for a while.
    rt.classifiers(settings.classify.pipeline)

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    children = [
        context.Process(
            target=worker_process,
            args=(settings, concurrency, (n, processes), texts, barrier, results),
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()

    # The ceiling: the models the pipeline runs (the embedding model and spaCy's entity
    # pipeline as the draft stage loads it), alone, in as many processes with as many threads,
    # on the same texts at the same batch size; timed before and after the pipeline.
    def timed_ceiling() -> tuple[float, float, float, float]:
        barrier.wait()  # the first time: every process has its models loaded
        started = time.perf_counter()
        found = collect(results, "ceiling", processes)
        return (
            time.perf_counter() - started,
            sum(r[1] for r in found),
            sum(r[2] for r in found),  # process-seconds: per-process rates below
            sum(r[3] for r in found),
        )

    before = timed_ceiling()
    # The plain model the issue measures against: PyTorch fp32, one process, every core (the
    # workers wait meanwhile). Timed before and after the pipeline too, since the host's speed
    # drifts within a run; a single timing afterwards put the speedup between 1.35 and 1.59 in
    # two runs of the same code.
    batch = settings.pipeline.batch_size
    fp32 = Embedder(settings.models.embedding_path, batch_size=settings.models.batch_size)
    fp32_before = timed_encode(fp32, texts[0], batch)
    barrier.wait()
    started = time.perf_counter()
    pipeline = collect(results, "pipeline", processes)
    pipeline_seconds = time.perf_counter() - started
    pipeline_cpu = sum(r[1] for r in pipeline)
    rss = max(r[2] for r in pipeline)
    counts = state_counts(rt)
    assert counts["in_review"] == count, counts
    after = timed_ceiling()
    ceiling_seconds, ceiling_cpu, encoder_seconds, spacy_seconds = (
        (b + a) / 2 for b, a in zip(before, after, strict=True)
    )
    for child in children:
        child.join()

    with rt.factory() as session:
        stored = session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)
        ).all()
        read = ([classification_text(m) for m in stored], [message_text(m) for m in stored])
        assert read == texts, "the ceiling was timed on other texts than the pipeline read"
        # What the pipeline made, so a faster run can be seen to have done the same work.
        drafted = session.execute(
            select(
                func.count(Draft.id),
                func.count(Draft.id).filter(Draft.body != ""),
                func.count(Draft.id).filter(Draft.stale.is_(True)),
            )
        ).one()
        work = session.execute(
            select(
                func.count(distinct(Message.conversation_id)),
                func.count(distinct(Message.customer_id)),
                func.count(Message.id).filter(Message.intent == "unknown"),
            ).where(Message.direction == "in")
        ).one()
    database = rt.engine.dialect.name
    rt.engine.dispose()
    if cluster is not None:  # stopped first: its background writes would slow the baseline
        cluster.cleanup()
    fp32_after = timed_encode(fresh(fp32), texts[0], batch)
    fp32_seconds = (fp32_before + fp32_after) / 2

    mps = count / pipeline_seconds
    ceiling_mps = count / ceiling_seconds
    print(f"messages: {count}")
    print(f"backend: {backend}")
    print(f"processes: {processes}")
    print(f"threads_per_process: {threads}")
    print(f"concurrency: {concurrency}")
    print(f"database: {database}")
    print(f"words_per_message: {np.mean([len(t.split()) for t in texts[0]]):.0f}")
    print(f"drafts: {drafted[0]}")
    print(f"drafts_with_text: {drafted[1]}")
    print(f"drafts_stale: {drafted[2]}")
    print(f"conversations: {work[0]}")
    print(f"customers: {work[1]}")
    print(f"intent_unknown: {work[2]}")
    print(f"pipeline_seconds: {pipeline_seconds:.1f}")
    print(f"messages_per_second: {mps:.1f}")
    print("ceiling_models: embedding+spacy")
    print(f"ceiling_messages_per_second: {ceiling_mps:.1f}")
    print(f"ceiling_before_messages_per_second: {count / before[0]:.1f}")
    print(f"ceiling_after_messages_per_second: {count / after[0]:.1f}")
    print(f"ratio: {mps / ceiling_mps:.2f}")
    print(f"encoder_messages_per_second_per_process: {count / encoder_seconds:.1f}")
    print(f"spacy_messages_per_second_per_process: {count / spacy_seconds:.1f}")
    print(f"fp32_encoder_messages_per_second: {count / fp32_seconds:.1f}")
    print(f"fp32_before_messages_per_second: {count / fp32_before:.1f}")
    print(f"fp32_after_messages_per_second: {count / fp32_after:.1f}")
    print(f"speedup_vs_fp32: {mps / (count / fp32_seconds):.2f}")
    print(f"peak_rss_mb: {rss:.0f}")
    # CPU seconds (all processes) hardly depend on other load: the figures to size with.
    print(f"pipeline_cpu_seconds: {pipeline_cpu:.1f}")
    print(f"ceiling_cpu_seconds: {ceiling_cpu:.1f}")
    print(f"cpu_ratio: {ceiling_cpu / pipeline_cpu:.2f}")
    print(f"messages_per_cpu_second: {count / pipeline_cpu:.1f}")
    print(f"load_average: {os.getloadavg()[0]:.1f}")
    sys.stdout.flush()
    if os.environ.get("BENCH_SKIP_BANKING77") != "1":
        pipeline_encoder = Embedder(
            settings.models.embedding_path,
            batch_size=settings.models.batch_size,
            backend=backend,
            cache_dir=settings.path(settings.models.cache_dir),
        )
        print(f"banking77_accuracy_pipeline_encoder: {banking77_accuracy(pipeline_encoder):.4f}")
        print(f"banking77_accuracy_fp32: {banking77_accuracy(fresh(fp32)):.4f}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
