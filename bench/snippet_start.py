"""What a starting worker or web process pays for its snippet index: every live snippet embedded
(before `text_vectors`) against the vectors read back from the database (now).

The demo's snippets plus variants of them (BENCH_SNIPPETS in all, default 1000: an operator's
approved answers in a few languages and versions) in a throw-away SQLite database, embedded
with the shipped encoder (int8 ONNX). `embed_all_ms` is a fresh process's index with nothing
stored, its encoder already loaded, so only the embedding is timed; `read_stored_ms` is the
same index built by a fresh process from the stored vectors, which never loads the encoder.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy import delete  # noqa: E402

from bench.pipeline import migrated_sqlite, project_folder  # noqa: E402
from responder.classify.embedder import Embedder  # noqa: E402
from responder.content import live_snippets  # noqa: E402
from responder.db.models import Snippet, TextVector  # noqa: E402
from responder.db.session import transaction  # noqa: E402
from responder.runtime import Runtime  # noqa: E402

SNIPPETS = int(os.environ.get("BENCH_SNIPPETS", "1000"))
MODELS = ROOT / "var" / "models"


def fresh(settings: object, *, warm: bool) -> Runtime:
    embedder = Embedder(backend="onnx-int8", cache_dir=MODELS)
    if warm:
        embedder.encode(["loaded before the clock"])
    return Runtime(settings, embedder=embedder)  # type: ignore[arg-type]


def main() -> None:
    folder = project_folder()
    try:
        settings = migrated_sqlite(folder)
        setup = Runtime(settings)
        with transaction(setup.factory) as session:
            demo = live_snippets(session)
            for n in range(SNIPPETS - len(demo)):
                base = demo[n % len(demo)]
                session.add(
                    Snippet(
                        key=f"{base.key}-variant-{n}",
                        title=f"{base.title} ({n})",
                        intents=base.intents,
                        tags=base.tags,
                        language=base.language,
                        body=f"{base.body} Reference {n}: ask for team {n % 17}.",
                    )
                )
        setup.engine.dispose()

        before = fresh(settings, warm=True)
        with transaction(before.factory) as session:
            session.execute(delete(TextVector))
        started = time.perf_counter()
        with before.factory() as session:
            embedded = before.snippet_index(session)
        embed_all = time.perf_counter() - started

        after = fresh(settings, warm=False)
        started = time.perf_counter()
        with after.factory() as session:
            read = after.snippet_index(session)
        read_stored = time.perf_counter() - started
        if after.embedder.loaded or not np.allclose(read.vectors, embedded.vectors, atol=1e-6):
            raise SystemExit("the stored vectors are not the embedded ones")
        print(f"snippets: {len(read.snippets)}")
        print(f"embed_all_ms: {embed_all * 1000:.0f}")
        print(f"read_stored_ms: {read_stored * 1000:.0f}")
        print(f"speedup: {embed_all / read_stored:.1f}")
        before.engine.dispose()
        after.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
