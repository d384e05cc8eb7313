"""The real app served over HTTP on loopback in a thread, for the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from responder.runtime import Runtime
from responder.web.app import create_app
from tests.servers import free_port


@contextmanager
def serve(rt: Runtime) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(200):  # bounded: up to 10 s for the socket to open
        if server.started:
            ready.set()
            break
        ready.wait(0.05)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("the web app did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
