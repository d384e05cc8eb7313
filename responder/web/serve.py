"""`responder serve`: the web app in one process, or in several processes on one port.

Python runs one page at a time per process, so on a machine with several cores the app runs as
`[web] workers` processes. Each binds its own listening socket on the port with SO_REUSEPORT,
so the kernel spreads new connections over them (with one shared socket, whichever process
wakes first takes a whole burst of connections and keeps them for their keep-alive life); a
process holding more than its share of the active connections closes some after their
response (`responder.web.balance`), so the hash's uneven splits do not last. The web processes
are stateless: logins, rate limits and claims live in the database, and every process gets the
same CSRF secret from the supervisor, so a form from one process is accepted by any other. The
pipeline worker and the mail pollers run once, in the supervisor process, not once per web
process.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import MutableSequence
from pathlib import Path

from responder.config import Settings, load_settings
from responder.runtime import Runtime
from responder.web.balance import BalanceConnections, ConnectionShare
from responder.web.secret_key import SECRET_ENV, csrf_secret

log = logging.getLogger(__name__)

#: Where the supervisor tells its web processes which config file it read.
CONFIG_ENV = "RESPONDER_CONFIG"
#: A web process that exits sooner than this after its start is broken, not unlucky.
MIN_LIFETIME_SECONDS = 10.0


def web_processes(settings: Settings) -> int:
    """`[web] workers`, where 0 means one per CPU core this process may use."""
    if settings.web.workers > 0:
        return settings.web.workers
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def web_process_app(share: ConnectionShare) -> BalanceConnections:
    """The app in a web process (config and secret from the supervisor's environment).

    No migration or seeding here: the supervisor did both before starting the processes.
    """
    from responder.ops.logs import configure_logging
    from responder.web.app import create_app

    settings = load_settings()
    configure_logging(settings.logging, os.environ.get("RESPONDER_LOG_LEVEL"))
    app = create_app(Runtime(settings), csrf_secret=os.environ[SECRET_ENV])
    return BalanceConnections(app, share)


def already_served(host: str, port: int) -> bool:
    """Whether something answers on the port. SO_REUSEPORT lets a second server bind a port a
    running one holds, and the kernel would split connections between old and new: a start
    asks first, so a server started twice fails instead of serving half the requests."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=2):
            return True
    except OSError:
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """This process's own socket on the shared port (SO_REUSEPORT: the kernel balances)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_web_process(host: str, port: int, slot: int, counts: MutableSequence[int]) -> None:
    """Entry point of a spawned web process: serve until SIGTERM, then finish open requests.

    `counts` is the supervisor's table of active connections per process, `slot` this one's.
    """
    import uvicorn

    app = functools.partial(web_process_app, ConnectionShare(slot, counts))
    config = uvicorn.Config(app, factory=True, log_level="info")
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def serve_web(rt: Runtime, config: Path | None, host: str, port: int, processes: int) -> None:
    """Serve until SIGTERM or SIGINT: in this process, or in `processes` spawned ones."""
    import uvicorn

    from responder.web.app import create_app

    if processes <= 1:
        app = create_app(rt, csrf_secret=csrf_secret(rt.factory))
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    os.environ[SECRET_ENV] = csrf_secret(rt.factory)  # the web processes read it there
    supervise(host, port, processes)


def supervise(host: str, port: int, processes: int) -> None:
    """Keep `processes` web processes running; stop them all on SIGTERM or SIGINT.

    A process that dies is replaced; one that dies right after starting (port taken, broken
    config) stops the whole server instead of restarting in a loop.
    """
    context = multiprocessing.get_context("spawn")  # no fork of this process's threads
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())

    # Active connections per web process; -1 until the process has started (no balancing then).
    counts = context.Array("i", [-1] * processes, lock=False)

    def start(slot: int) -> tuple[multiprocessing.process.BaseProcess, float]:
        process = context.Process(
            target=run_web_process, args=(host, port, slot, counts), name="responder-web"
        )
        process.start()
        return process, time.monotonic()

    running = [start(slot) for slot in range(processes)]
    try:
        while not stop.wait(0.5):
            for index, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                if time.monotonic() - started < MIN_LIFETIME_SECONDS:
                    raise RuntimeError(
                        f"web process {process.pid} exited at start (code {process.exitcode})"
                    )
                log.warning(
                    "web process %s exited (code %s): replaced", process.pid, process.exitcode
                )
                counts[index] = -1
                running[index] = start(index)
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes open requests, then exits
        for process, _ in running:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
