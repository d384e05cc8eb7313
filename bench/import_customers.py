"""Import a generated customers CSV (1,000,000 rows by default) and print speed and memory.

The file is written to a temporary folder (with a few bad rows among the good ones) and
imported into a fresh database there through the same code as `responder import customers`.
Resident memory is sampled while the import runs: it should stay flat as the file grows.

`--preview` first previews the file (the upload page's dry run) into the empty database, in a
child process so the import's own figures stay its own: every row is new, which is what a
preview holds in memory (`preview_*` keys). `--preview-only` skips the import.

Usage: python bench/import_customers.py [--rows N] [--database-url URL] [--preview[-only]]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from responder.config import Settings
from responder.customers.importer import import_csv, import_customers
from responder.db.migrate import upgrade
from responder.db.session import make_engine, make_session_factory

PLANS = (
    ("Prepaid Go", 10.0, 1),
    ("Basic 5GB", 15.0, 1),
    ("Smart 20GB", 25.0, 1),
    ("Unlimited Plus", 45.0, 1),
    ("Family Share 4 lines", 80.0, 4),
    ("Business Pro", 120.0, 2),
)
HEADER = [
    "external_id",
    "name",
    "email",
    "phone",
    "plan",
    "monthly_spend",
    "contract_start",
    "contract_end",
    "lines",
    "segment",
    "language",
    "addons",
    "followers",
    "x_handle",
    "whatsapp",
]
BAD_EVERY = 100_000


def write_file(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for n in range(rows):
            plan, spend, lines = PLANS[n % len(PLANS)]
            year = 2020 + n % 7
            spend_text = f"{spend + n % 13:.2f}" if n % BAD_EVERY != 7 else "n/a"
            out.writerow(
                [
                    f"B{n:07d}",
                    f"Customer {n}",
                    f"customer.{n}@bench.test",
                    f"+35387{n:07d}",
                    plan,
                    spend_text,
                    f"{year}-0{1 + n % 9}-1{n % 10}",
                    f"{year + 2}-0{1 + n % 9}-1{n % 10}" if n % 6 else "",
                    lines,
                    "business" if plan == "Business Pro" else "consumer",
                    "en",
                    "EU Roam Pass" if n % 5 == 0 else "",
                    n % 5000,
                    f"@bench{n}" if n % 4 == 0 else "",
                    f"+35387{n:07d}" if n % 3 == 0 else "",
                ]
            )


def current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def sampler(rows: int, samples: dict[int, float]) -> Callable[[int], None]:
    """A progress callback noting resident memory at 10, 50 and 100% of the rows."""

    def progress(count: int) -> None:
        for share in (10, 50, 100):
            if count >= rows * share // 100 and share not in samples:
                samples[share] = current_rss_mb()

    return progress


def preview(url: str, path: Path, rows: int, out: Connection) -> None:
    """The dry run in this (child) process; its figures sent back as printable lines."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    samples: dict[int, float] = {}
    before = current_rss_mb()
    started = time.perf_counter()
    summary = import_csv(
        factory, "customers", path, sampler(rows, samples), settings=Settings(), dry_run=True
    )
    seconds = time.perf_counter() - started
    engine.dispose()
    lines = [
        f"preview_created: {summary.created}",
        f"preview_updated: {summary.updated}",
        f"preview_skipped: {summary.skipped}",
        f"preview_seconds: {seconds:.1f}",
        f"preview_rss_mb_before: {before:.0f}",
        *(f"preview_rss_mb_at_{share}pct: {rss:.0f}" for share, rss in sorted(samples.items())),
        f"preview_peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
    ]
    out.send(lines)


def run_preview(url: str, path: Path, rows: int) -> list[str]:
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=preview, args=(url, path, rows, send)
    )
    child.start()
    lines: list[str] = receive.recv()
    child.join()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in the temporary folder")
    parser.add_argument("--preview", action="store_true", help="preview the file first")
    parser.add_argument("--preview-only", action="store_true", help="preview, no import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="responder-import-") as folder:
        path = Path(folder) / "customers.csv"
        write_file(path, args.rows)
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()  # no connection handed down to the preview's process
        previewed = run_preview(url, path, args.rows) if args.preview or args.preview_only else []
        if args.preview_only:
            print(f"rows: {args.rows}")
            print(f"file_mb: {path.stat().st_size / 2**20:.1f}")
            print("\n".join(previewed))
            return
        factory = make_session_factory(engine)
        samples: dict[int, float] = {}
        progress = sampler(args.rows, samples)
        started = time.perf_counter()
        cpu_started = time.process_time()
        summary = import_customers(factory, path, progress, settings=Settings())
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        engine.dispose()
        print(f"rows: {summary.rows}")
        print(f"created: {summary.created}")
        print(f"skipped: {summary.skipped}")
        print(f"file_mb: {path.stat().st_size / 2**20:.1f}")
        print(f"seconds: {seconds:.1f}")
        print(f"rows_per_second: {summary.rows / seconds:.0f}")
        print(f"cpu_seconds: {cpu_seconds:.1f}")
        print(f"rows_per_cpu_second: {summary.rows / cpu_seconds:.0f}")
        for share, rss in sorted(samples.items()):
            print(f"rss_mb_at_{share}pct: {rss:.0f}")
        print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
        for line in previewed:
            print(line)


if __name__ == "__main__":
    main()
