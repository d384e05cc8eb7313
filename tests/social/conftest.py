"""A loopback HTTP server standing in for the platforms' send and media APIs, settings that
use it, and set-ups the tests share."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from responder.channels.delivery import OutgoingReply
from responder.channels.social.senders import SocialSender
from responder.config import Settings, load_settings
from responder.pipeline.stages import StageCrash
from responder.runtime import Runtime
from tests.helpers import api_token
from tests.social.payloads import TOKENS, post_meta, whatsapp_message


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
    files: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stalls: int = 0
    released: threading.Event = field(default_factory=threading.Event)

    def serve(
        self,
        path: str,
        body: Any,
        content_type: str = "application/json",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> str:
        """GET `path` answers this from now on (a photo, a file, a media lookup, an error, a
        redirect); returns the full URL."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.files[path] = (status, {"Content-Type": content_type, **(headers or {})}, data)
        return self.url + path

    def fetched(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "GET" and r.path == path]

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """The next request gets this answer instead of the platform's success shape."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.scripted.append((status, headers or {}, data))

    def stall(self) -> None:
        """The next POST reaches the platform (it is recorded) but is never answered: the
        sender's wait for the answer times out, as when a platform's answer is lost."""
        self.stalls += 1

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
                stalled, receiver.stalls = receiver.stalls > 0, max(receiver.stalls - 1, 0)
                scripted = (
                    receiver.scripted.popleft() if receiver.scripted and not stalled else None
                )
            if stalled:  # no answer, until the test ends
                receiver.released.wait(30)
                self.close_connection = True
                return
            status, headers, body = scripted or (200, {}, receiver.success(recorded))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            recorded = Recorded(
                "GET", self.path, {k.lower(): v for k, v in self.headers.items()}, b""
            )
            with receiver.lock:
                receiver.requests.append(recorded)
            missing = json.dumps({"error": {"message": "Unsupported get request", "code": 100}})
            status, headers, body = receiver.files.get(
                self.path, (404, {"Content-Type": "application/json"}, missing.encode())
            )
            self.send_response(status)
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
    # shutdown() waits for the loop's next look (half a second by default) at every test's end.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield receiver
    receiver.released.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def settings(
    project: Path, database_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The project's settings with every platform API pointed at the loopback receiver, on
    SQLite and on PostgreSQL like every other test."""
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    return load_settings(
        project / "config.toml",
        environ={
            "RESPONDER_DATABASE__URL": database_url,
            "RESPONDER_SOCIAL__GRAPH_BASE_URL": receiver.url,
            "RESPONDER_SOCIAL__INSTAGRAM_BASE_URL": receiver.url + "/ig",
            "RESPONDER_SOCIAL__X_BASE_URL": receiver.url,
            "RESPONDER_SOCIAL__TIMEOUT_SECONDS": "5",
        },
    )


def acknowledging(rt: Runtime, *, social: bool) -> None:
    """Every message waiting for a person acknowledged, direct messages too when `social`."""
    rt.settings = msgspec.structs.replace(
        rt.settings,
        acknowledge=msgspec.structs.replace(
            rt.settings.acknowledge, enabled=True, when="always", social=social
        ),
    )


def late_whatsapp_dms() -> tuple[dict[str, Any], dict[str, Any]]:
    """Two WhatsApp DMs from Aoife, 30 and 29 hours old: WhatsApp's reply window has closed."""
    return (
        whatsapp_message(hours_ago=30),
        whatsapp_message("Also my data", wamid="wamid.second", hours_ago=29),
    )


def late_whatsapp_pair(
    client: TestClient, drain: Callable[[], object], reply: str
) -> tuple[int, int, dict[str, str]]:
    """Both `late_whatsapp_dms` posted and drafted (`drain`), the first's `reply` approved
    by alice: the first's id, the second's, and alice's API headers."""
    for payload in late_whatsapp_dms():
        post_meta(client, payload)
    drain()
    auth = api_token(client)
    first, second = sorted(item["id"] for item in client.get("/api/queue", headers=auth).json())
    approve = client.post(f"/api/messages/{first}/approve", headers=auth, json={"body": reply})
    assert approve.status_code == 201, approve.text
    return first, second, auth


@contextmanager
def killed_mid_send(*, request_left: bool = True) -> Iterator[None]:
    """The worker killed in its social send, once the request left (its answer never stored)
    or just before: the block ends with the crash, the take's records left as they were."""
    deliver = SocialSender.deliver

    def killed(self: SocialSender, reply: OutgoingReply, now: object = None) -> None:
        if request_left:
            deliver(self, reply, now)  # type: ignore[arg-type]
        raise StageCrash("killed mid-send")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(SocialSender, "deliver", killed)
        with pytest.raises(StageCrash):
            yield
