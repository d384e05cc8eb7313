"""Keeps keep-alive connections spread evenly over the web processes.

SO_REUSEPORT hashes each new connection to one process, and a keep-alive connection stays there
for its life. With 20 busy staff browsers on two processes the hash gave one process 13 and the
other 7 (bench/queue_latency.py): the 13 waited twice as long as the 7 while the other process
had time to spare. A process that holds more than its share of the recently active connections
therefore answers one of them with `Connection: close`; the browser opens a new connection at
once, which the kernel hashes again, so the counts even out within a few requests. Load
balancers do the same with a maximum connection age; this closes only where it helps.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableSequence
from typing import Any

#: A connection counts as active while it sent a request within this many seconds.
ACTIVE_SECONDS = 2.0

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class ConnectionShare:
    """This process's active connections, published in its slot of a table shared by all web
    processes (a `multiprocessing.Array`), against its fair share of them all. The supervisor
    sets a slot to -1 until its process has started."""

    def __init__(
        self, slot: int, counts: MutableSequence[int], active_seconds: float = ACTIVE_SECONDS
    ) -> None:
        self.slot = slot
        self.counts = counts
        self.active_seconds = active_seconds
        self._last_seen: dict[object, float] = {}
        self._pruned_at = 0.0
        counts[slot] = 0  # a replacement process starts with no connections

    def should_close(self, client: object, now: float) -> bool:
        """Called on each request; True when this connection should close after the response."""
        self._last_seen[client] = now
        if now - self._pruned_at >= self.active_seconds / 2:
            horizon = now - self.active_seconds
            self._last_seen = {c: t for c, t in self._last_seen.items() if t >= horizon}
            self._pruned_at = now
        mine = len(self._last_seen)
        self.counts[self.slot] = mine
        if min(self.counts) < 0:
            return False  # a process is still starting: it would get none of the reconnections
        fair = -(-sum(self.counts) // len(self.counts))  # ceiling: never close below the share
        if mine <= fair:
            return False
        del self._last_seen[client]
        self.counts[self.slot] = mine - 1
        return True


class BalanceConnections:
    """ASGI wrapper: adds `Connection: close` to a response when `ConnectionShare` says so."""

    def __init__(self, app: App, share: ConnectionShare) -> None:
        self.app = app
        self.share = share

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or client is None:
            await self.app(scope, receive, send)
            return
        if not self.share.should_close(tuple(client), time.monotonic()):
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)
