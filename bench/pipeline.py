"""Pipeline throughput against the models' own ceiling, the int8 encoder against fp32.

2,000 email-length messages (variations of the demo emails, bench/corpus.py) are stored raw,
then one worker takes them to a draft in the review queue. In the same run:
- ceiling: the models the pipeline runs, alone, on the same texts at the same batch size;
- fp32: the sentence-transformers PyTorch fp32 encoder alone on the same texts;
- Banking77 accuracy (logistic regression on frozen embeddings) for the pipeline's encoder and
  for fp32 (data: ../shared/data/banking77, see its SOURCE.md; CC BY 4.0, Casanueva et al. 2020).

Environment: BENCH_MESSAGES (default 2000), BENCH_BACKEND (default onnx-int8),
BENCH_DATABASE_URL (default a fresh SQLite file), BENCH_CONCURRENCY (worker threads, default 1),
BENCH_SKIP_BANKING77=1.
CPU seconds (all threads of the process) are printed beside wall time: on a shared machine
they are the figures that say what a core does.
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.corpus import customer_email  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.channels.maildir_source import ensure_channel  # noqa: E402
from responder.classify.embedder import Embedder  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.db.models import Message  # noqa: E402
from responder.db.session import transaction  # noqa: E402
from responder.drafting.service import message_text  # noqa: E402
from responder.pipeline.stages import classification_text  # noqa: E402
from responder.pipeline.states import State  # noqa: E402
from responder.pipeline.worker import Worker, state_counts  # noqa: E402

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
        embedder.model_path, embedder.device, embedder.batch_size, backend=embedder.backend
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


def main() -> None:
    count = int(os.environ.get("BENCH_MESSAGES", "2000"))
    backend = os.environ.get("BENCH_BACKEND", "onnx-int8")
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "1"))
    folder = project_folder()
    environ = {
        "RESPONDER_DATABASE__URL": os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite:///{folder / 'var' / 'responder.db'}"
        ),
        "RESPONDER_MODELS__BACKEND": backend,
        "RESPONDER_MODELS__CACHE_DIR": str(ROOT / "var" / "models"),
        "RESPONDER_MAILDIR__ENABLED": "false",
    }
    settings = load_settings(folder / "config.toml", environ=environ)
    rt = prepare(settings)
    channel_id = ensure_channel(rt.factory, "support", "maildir", settings.maildir.address)
    with transaction(rt.factory) as session:
        for n in range(count):
            raw = customer_email(n)
            session.add(
                Message(
                    channel_id=channel_id,
                    external_key=f"load-{n}",
                    raw=raw,
                    raw_size=len(raw),
                    state=State.RECEIVED,
                )
            )

    # Both models loaded once before the clock starts (the classifiers trained, the snippets
    # embedded), as in a worker that has been running for a while.
    nlp = rt.entity_extractor.nlp
    rt.classifiers(settings.classify.pipeline)
    with rt.factory() as session:
        rt.snippet_index(session)

    # BENCH_CONCURRENCY threads share the process's models, as `responder worker --concurrency N`:
    # one thread's spaCy batch can run beside another's encoding. One worker runs in this
    # thread, so a profiler of the bench sees it.
    workers = [Worker(rt) for _ in range(concurrency)]
    threads = [
        threading.Thread(target=w.drain_claims, kwargs={"max_rounds": 1_000_000})
        for w in workers[1:]
    ]
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    workers[0].drain_claims(max_rounds=1_000_000)
    for thread in threads:
        thread.join()
    pipeline_seconds = time.perf_counter() - started
    pipeline_cpu = time.process_time() - cpu_started
    counts = state_counts(rt)
    assert counts["in_review"] == count, counts
    rss = peak_rss_mb()

    with rt.factory() as session:
        messages = list(session.scalars(select(Message).where(Message.direction == "in")))
        texts = [classification_text(m) for m in messages]
        entity_texts = [message_text(m) for m in messages]
    batch = settings.pipeline.batch_size
    # The ceiling: the same models the pipeline runs, on the texts it gives each of them
    # (the embedding model and spaCy's entity pipeline as the draft stage loads it).
    cpu_started = time.process_time()
    encoder_seconds = timed_encode(fresh(rt.embedder), texts, batch)
    started = time.perf_counter()
    for start in range(0, len(entity_texts), batch):
        for _ in nlp.pipe(entity_texts[start : start + batch], batch_size=batch):
            pass
    spacy_seconds = time.perf_counter() - started
    ceiling_seconds = encoder_seconds + spacy_seconds
    ceiling_cpu = time.process_time() - cpu_started
    ceiling_models = "embedding+spacy"
    fp32 = Embedder(settings.models.embedding_path, batch_size=settings.models.batch_size)
    fp32_seconds = timed_encode(fp32, texts, batch)

    mps = count / pipeline_seconds
    ceiling = count / ceiling_seconds
    print(f"messages: {count}")
    print(f"backend: {backend}")
    print(f"concurrency: {concurrency}")
    print(f"database: {rt.engine.dialect.name}")
    print(f"words_per_message: {np.mean([len(t.split()) for t in texts]):.0f}")
    print(f"pipeline_seconds: {pipeline_seconds:.1f}")
    print(f"messages_per_second: {mps:.1f}")
    print(f"ceiling_models: {ceiling_models}")
    print(f"ceiling_messages_per_second: {ceiling:.1f}")
    print(f"ratio: {mps / ceiling:.2f}")
    print(f"encoder_messages_per_second: {count / encoder_seconds:.1f}")
    print(f"spacy_messages_per_second: {count / spacy_seconds:.1f}")
    print(f"fp32_encoder_messages_per_second: {count / fp32_seconds:.1f}")
    print(f"speedup_vs_fp32: {mps / (count / fp32_seconds):.2f}")
    print(f"peak_rss_mb: {rss:.0f}")
    # CPU seconds (all threads) hardly depend on other processes: the figures to size with.
    print(f"pipeline_cpu_seconds: {pipeline_cpu:.1f}")
    print(f"ceiling_cpu_seconds: {ceiling_cpu:.1f}")
    print(f"cpu_ratio: {ceiling_cpu / pipeline_cpu:.2f}")
    print(f"messages_per_cpu_second: {count / pipeline_cpu:.1f}")
    print(f"load_average: {os.getloadavg()[0]:.1f}")
    sys.stdout.flush()
    if os.environ.get("BENCH_SKIP_BANKING77") != "1":
        print(f"banking77_accuracy_pipeline_encoder: {banking77_accuracy(fresh(rt.embedder)):.4f}")
        print(f"banking77_accuracy_fp32: {banking77_accuracy(fresh(fp32)):.4f}")
    rt.engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
