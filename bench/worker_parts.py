"""Where one worker's time goes, part by part, without a profiler's distortion.

`bench/pipeline.py` says how far the pipeline is from the models' ceiling; this says which of
Responder's own parts make the difference. One `responder worker` (one process, one model
thread, one worker thread) takes 1,000 email-length messages (bench/corpus.py) from stored raw
to a draft in a throw-away PostgreSQL; each part named below is wrapped by a timer (a
perf_counter pair per call, about a microsecond, where cProfile doubles the time of Python
code). Every figure is milliseconds of wall time a message; `own_ms_per_message` is the total
less the two models (the encoder and spaCy), i.e. the pipeline's overhead. Parts nest (the stages
hold everything else; `flush_*` is the ORM's writes within that stage), so they do not add up.

Environment: BENCH_MESSAGES (default 1000), BENCH_DATABASE=sqlite for the embedded database.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from sqlalchemy.orm import Session  # noqa: E402

import responder.classify.embedder as embedder_module  # noqa: E402
import responder.classify.language as language_module  # noqa: E402
import responder.classify.ngrams as ngrams_module  # noqa: E402
import responder.drafting.entities as entities_module  # noqa: E402
import responder.drafting.service as service_module  # noqa: E402
import responder.pipeline.stages as stages  # noqa: E402
import responder.pipeline.worker as worker_module  # noqa: E402
from bench.corpus import customer_email, store_received  # noqa: E402
from bench.pipeline import project_folder  # noqa: E402
from responder.bootstrap import prepare  # noqa: E402
from responder.channels.maildir_source import ensure_channel  # noqa: E402
from responder.config import load_settings  # noqa: E402
from responder.runtime import Runtime  # noqa: E402
from tests.servers import PostgresCluster  # noqa: E402

SECONDS: Counter[str] = Counter()
CURRENT_STAGE = [""]


def timed(owner: Any, name: str, key: str, *, per_stage: bool = False) -> None:
    """Replace owner.name by a wrapper that adds its wall time to SECONDS[key]."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if name.endswith("_stage"):
            CURRENT_STAGE[0] = name.removesuffix("_stage")
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            label = f"{key}_{CURRENT_STAGE[0]}" if per_stage else key
            SECONDS[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def instrument() -> None:
    for name in ("parse_stage", "classify_stage", "draft_stage", "route_stage"):
        timed(stages, name, name.replace("_stage", "_stage_total"))
    for name in ("parse_email", "classify_texts", "make_draft", "create_customers", "read_records"):
        timed(stages, name, name)
    timed(worker_module, "claim_batch", "claim_batch")
    timed(ngrams_module.SharedNgrams, "counts", "ngram_counts")
    timed(language_module.LanguageIdentifier, "detect", "language_detection")
    timed(embedder_module.Embedder, "encode", "model_encoder")
    timed(entities_module.EntityExtractor, "docs", "model_spacy")
    timed(service_module, "compose_draft", "compose_draft")
    timed(service_module, "rank_snippets", "rank_snippets")
    timed(Session, "_flush", "flush", per_stage=True)
    # The worker holds its own reference to the stage functions.
    worker_module.STAGES = tuple(
        stages.Stage(s.name, s.takes, getattr(stages, s.run.__name__, s.run)) for s in stages.STAGES
    )


def main() -> None:
    count = int(os.environ.get("BENCH_MESSAGES", "1000"))
    folder = project_folder()
    cluster = None
    if os.environ.get("BENCH_DATABASE", "postgresql") == "postgresql":
        cluster = PostgresCluster().start()
        url = cluster.create_database()
    else:
        url = f"sqlite:///{folder / 'var' / 'responder.db'}"
    settings = load_settings(
        folder / "config.toml",
        environ={
            "RESPONDER_DATABASE__URL": url,
            "RESPONDER_MODELS__CACHE_DIR": str(ROOT / "var" / "models"),
            "RESPONDER_MODELS__THREADS": "1",
            "RESPONDER_MAILDIR__ENABLED": "false",
        },
    )
    setup = prepare(settings)
    channel_id = ensure_channel(setup.factory, "support", "maildir", settings.maildir.address)
    store_received(setup.factory, channel_id, [customer_email(n) for n in range(count)])
    setup.classifiers(settings.classify.pipeline)  # trained once, as on a running install
    setup.engine.dispose()

    rt = Runtime(settings)  # models loaded before the clock, as bench/pipeline.py does
    rt.entity_extractor.docs(["spaCy loaded before the clock"])
    rt.classifiers(settings.classify.pipeline)
    with rt.factory() as session:
        rt.snippet_index(session)
    rt.embedder.encode(["warm up the encoder"])
    instrument()
    worker = worker_module.Worker(rt)
    started = time.perf_counter()
    worker.drain_claims(max_rounds=1_000_000)
    total = time.perf_counter() - started
    drafted = worker_module.state_counts(rt).get("in_review", 0)
    rt.engine.dispose()
    if cluster is not None:
        cluster.cleanup()
    shutil.rmtree(folder, ignore_errors=True)

    models = SECONDS["model_encoder"] + SECONDS["model_spacy"]
    print(f"messages: {count}")
    print(f"in_review: {drafted}")
    print(f"database: {'postgresql' if cluster else 'sqlite'}")
    print(f"total_ms_per_message: {1000 * total / count:.2f}")
    print(f"models_ms_per_message: {1000 * models / count:.2f}")
    print(f"own_ms_per_message: {1000 * (total - models) / count:.2f}")
    for key, seconds in sorted(SECONDS.items(), key=lambda item: -item[1]):
        print(f"{key}_ms: {1000 * seconds / count:.2f}")


if __name__ == "__main__":
    main()
