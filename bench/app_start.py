"""What building the web app costs: `create_app` once in a fresh process (what a server start
pays) and again in the same process (what each of the test suite's ~700 apps pays), and the
import of `responder.web.app` before them (the pages' modules, and what is built once per
process at import).

The demo's config on a throw-away SQLite database; nothing is served. Each later app gets its
own Runtime, as the tests' apps do. After the first app the heap is frozen out of the garbage
collector's full passes, as tests/conftest.py `settled_heap` does in a test process. BENCH_APPS
sets how many later apps are timed (default 20; the figures are their medians). The CPU figure
is this process's own time, steadier than the wall time when other work shares the machine.
"""

from __future__ import annotations

import gc
import importlib
import os
import shutil
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import migrated_sqlite, project_folder  # noqa: E402
from responder.runtime import Runtime  # noqa: E402

APPS = int(os.environ.get("BENCH_APPS", "20"))


def timed(build: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one `build()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    build()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)  # as pyproject.toml has the tests do
    folder = project_folder()
    try:
        settings = migrated_sqlite(folder)
        runtimes = [Runtime(settings) for _ in range(APPS + 1)]
        imported, imported_cpu = timed(lambda: importlib.import_module("responder.web.app"))
        create_app = importlib.import_module("responder.web.app").create_app
        first, first_cpu = timed(partial(create_app, runtimes[0]))
        gc.collect()
        gc.freeze()
        later = [timed(partial(create_app, rt)) for rt in runtimes[1:]]
        for rt in runtimes:
            rt.engine.dispose()
        print(f"apps: {APPS + 1}")
        print(f"import_seconds: {imported:.3f}")
        print(f"create_app_seconds_first: {first:.3f}")
        print(f"create_app_seconds_next: {statistics.median(w for w, _ in later):.3f}")
        print(f"import_cpu_seconds: {imported_cpu:.3f}")
        print(f"create_app_cpu_seconds_first: {first_cpu:.3f}")
        print(f"create_app_cpu_seconds_next: {statistics.median(c for _, c in later):.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
