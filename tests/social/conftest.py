"""A loopback HTTP receiver standing in for the platforms' send APIs, and settings that use it."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from responder.config import Settings, load_settings
from tests.social.payloads import TOKENS


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    scripted: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """The next request gets this answer instead of the platform's success shape."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.scripted.append((status, headers or {}, data))

    def success(self, recorded: Recorded) -> bytes:
        n = len(self.requests) - 1  # this request is already recorded
        if "/2/dm_conversations/" in recorded.path:
            data: dict[str, Any] = {
                "data": {"dm_conversation_id": "3001969357-4337869213", "dm_event_id": f"dm{n}"}
            }
        elif recorded.json.get("messaging_product") == "whatsapp":
            to = recorded.json["to"]
            data = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.out{n}"}],
            }
        else:
            data = {"recipient_id": recorded.json["recipient"]["id"], "message_id": f"m_out{n}"}
        return json.dumps(data).encode()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                "POST",
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            with receiver.lock:
                receiver.requests.append(recorded)
                scripted = receiver.scripted.popleft() if receiver.scripted else None
            status, headers, body = scripted or (200, {}, receiver.success(recorded))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def settings(project: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The project's settings with every platform API pointed at the loopback receiver."""
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    return load_settings(
        project / "config.toml",
        environ={
            "RESPONDER_SOCIAL__GRAPH_BASE_URL": receiver.url,
            "RESPONDER_SOCIAL__INSTAGRAM_BASE_URL": receiver.url + "/ig",
            "RESPONDER_SOCIAL__X_BASE_URL": receiver.url,
            "RESPONDER_SOCIAL__TIMEOUT_SECONDS": "5",
        },
    )
