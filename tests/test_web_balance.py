"""Web processes even out their keep-alive connections (responder.web.balance)."""

from __future__ import annotations

import asyncio
from typing import Any

from responder.web.balance import BalanceConnections, ConnectionShare


def test_a_process_over_its_share_closes_connections_until_even() -> None:
    counts = [0, 7]  # the other process holds 7 active connections
    share = ConnectionShare(0, counts, active_seconds=2.0)
    told_to_close = [share.should_close(("127.0.0.1", 40000 + n), now=1.0) for n in range(13)]
    assert told_to_close[:8] == [False] * 8, "up to its share, connections stay"
    assert all(told_to_close[8:]), "beyond it, each new one is closed after its response"
    assert counts[0] == 8, "and is no longer counted here"
    counts[1] = 12  # the closed ones reconnected to the other process
    assert not share.should_close(("127.0.0.1", 40000), now=1.5)


def test_even_splits_close_nothing_and_idle_connections_stop_counting() -> None:
    counts = [0, 0]
    share = ConnectionShare(0, counts, active_seconds=2.0)
    counts[1] = 10
    assert not any(share.should_close(("127.0.0.1", n), now=0.0) for n in range(10))
    assert counts[0] == 10
    assert not share.should_close(("127.0.0.1", 99), now=5.0)
    assert counts[0] == 1, "connections idle for longer than the window no longer count"


def test_nothing_closes_while_another_process_is_still_starting() -> None:
    counts = [0, -1]  # the supervisor marks a process that has not started yet
    share = ConnectionShare(0, counts)
    assert not any(share.should_close(("127.0.0.1", n), now=0.0) for n in range(10))
    counts[1] = 0  # it has started: the first process now holds more than its share
    assert share.should_close(("127.0.0.1", 10), now=0.5)


def test_a_replacement_process_starts_from_zero() -> None:
    counts = [25, 3]  # left behind by a process that died
    ConnectionShare(0, counts)
    assert counts == [0, 3]


def _call(app: Any, client: tuple[str, int] | None) -> list[tuple[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "client": client}
    asyncio.run(app(scope, receive, send))
    assert sent[-1]["type"] == "http.response.body" and sent[-1]["body"] == b"ok"
    return sent[0]["headers"]


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_the_response_says_connection_close_only_when_over_the_share() -> None:
    counts = [0, 0]
    app = BalanceConnections(_ok, ConnectionShare(0, counts))
    assert _call(app, ("127.0.0.1", 1)) == [(b"x-a", b"1")]  # 1 of 1: its fair share
    assert (b"connection", b"close") in _call(app, ("127.0.0.1", 2))  # 2 of 2 on one process
    assert _call(app, None) == [(b"x-a", b"1")], "no client address (a Unix socket): left alone"
