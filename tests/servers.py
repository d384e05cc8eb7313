"""Throw-away real servers for tests, started from Debian's packages on loopback.

PostgreSQL: one cluster per test session (initdb + pg_ctl as the postgres user when root),
a fresh database per test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerUnavailable(Exception):
    pass


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServerUnavailable(
            "PostgreSQL server binaries not installed (Debian package postgresql)"
        )
    return Path(found[-1]).parent


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="rpg", dir="/tmp"))
        self.data = self.root / "data"
        self.port = free_port()
        self.counter = 0
        self._copier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-template-copy")
        self._spares: dict[str, Future[str]] = {}
        os.chmod(self.root, 0o755)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*(["runuser", "-u", "postgres", "--"] if self.as_root else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=120)
        if result.returncode != 0:
            raise ServerUnavailable(f"{' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")
        return result

    def start(self) -> PostgresCluster:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server on the existing data folder (after start() and pause())."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def pause(self) -> None:
        """A fast shutdown: open transactions are rolled back, every connection is dropped."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(ServerUnavailable):
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
            )

    def restart(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "restart")

    def cleanup(self) -> None:
        """The folder holds a database per test (gigabytes by the end of a run): a detached
        `rm` deletes it, so the session does not wait the 10-15 s that takes."""
        self._copier.shutdown(wait=True, cancel_futures=True)
        self.stop()
        subprocess.Popen(
            ["rm", "-rf", "--", str(self.root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def create_database(self, template: str | None = None) -> str:
        """A fresh database; from `template` (a file copy, no migrations to run) when given.

        A copy of a template is made one test ahead: the next one is copied in the background
        while this one's test runs (the copy's checkpoint waits on the disk a few tenths of a
        second, which each of some seven hundred tests would otherwise wait for in its set-up).
        Every test still gets a database nobody has used."""
        if template is None:
            return self.url(self._create(self._next_name(), None))
        spare = self._spares.pop(template, None)
        name = spare.result() if spare is not None else self._create(self._next_name(), template)
        self._spares[template] = self._copier.submit(self._create, self._next_name(), template)
        return self.url(name)

    def _next_name(self) -> str:
        self.counter += 1
        return f"t{os.getpid()}_{self.counter}"

    def _create(self, name: str, template: str | None) -> str:
        copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{copy}')
        return name

    def execute(self, statement: str) -> None:
        """One statement outside a transaction (CREATE DATABASE refuses to run inside one)."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(statement)  # type: ignore[arg-type]  # built from our own names

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
