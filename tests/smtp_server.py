"""A real SMTP server for tests: aiosmtpd's Controller on 127.0.0.1, scripted per attempt.

Each DATA can be told in advance what to do (accept, answer a code, drop the connection, hang),
so every outbox failure mode is a real exchange with a real server.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from responder.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=default).parsebytes(self.raw)  # type: ignore[return-value]


@dataclass
class ScriptedHandler:
    """`answers` holds what each DATA does in turn: None accepts, "drop", "hang" or a reply;
    "keep+drop" and "keep+hang" store the message first, as a relay that took it and whose
    answer never reached the sender. `rcpt_faults` does the same to each RCPT in turn ("drop",
    "hang"), and `go_ahead_faults` to each DATA command before its 354 go-ahead, both before
    any message went. `rcpt_answer` refuses every recipient, `refuse` only the
    addresses it names. `delay`: seconds each DATA takes to answer, as a slow relay's filter.
    `hold`: each DATA waits for `SmtpServer.let_go` before it is taken, as a relay slower than
    any time a test sets; `holding` is set once one waits."""

    answers: list[str | None] = field(default_factory=list)
    rcpt_faults: list[str] = field(default_factory=list)
    go_ahead_faults: list[str] = field(default_factory=list)
    rcpt_answer: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    delay: float = 0.0
    hold: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: asyncio.Event | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        fault = self.rcpt_faults.pop(0) if self.rcpt_faults else None
        if fault:
            return await self._fault(server, fault)
        if self.rcpt_answer:
            return self.rcpt_answer
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold:
            self.release = asyncio.Event()
            self.holding.set()
            await self.release.wait()
        answer = self.answers.pop(0) if self.answers else None
        if answer in ("drop", "hang"):
            return await self._fault(server, answer)
        if answer and not answer.startswith("keep+"):
            return answer
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content),
                list(envelope.mail_options),
            )
        )
        if answer:
            return await self._fault(server, answer.removeprefix("keep+"))
        return "250 Message accepted"

    async def _fault(self, server: Any, fault: str) -> str:
        """No answer reaches the client: the connection dropped, or one never sent."""
        if fault == "drop":
            server.transport.abort()
            return "451 gone"
        self.release = asyncio.Event()
        await self.release.wait()
        return "451 too late"


class _ScriptedSmtp(SMTP):
    """aiosmtpd's server, with the DATA command's go-ahead scripted too: its handlers only
    see DATA once the message has come."""

    async def smtp_DATA(self, arg: str) -> None:
        handler: ScriptedHandler = self.event_handler
        if handler.go_ahead_faults and self.envelope is not None and self.envelope.rcpt_tos:
            await handler._fault(self, handler.go_ahead_faults.pop(0))
            return
        await super().smtp_DATA(arg)


class _ScriptedController(Controller):
    def factory(self) -> SMTP:
        return _ScriptedSmtp(self.handler, **self.SMTP_kwargs)


class PasswordAuthenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user,
            self.password,
        )
        # handled=False lets aiosmtpd answer 535; otherwise the client waits for its timeout.
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    controller: Controller
    handler: ScriptedHandler
    port: int

    def let_go(self) -> None:
        """A held DATA is answered now, and none is held after it."""

        def go() -> None:
            self.handler.hold = False
            if self.handler.release is not None:
                self.handler.release.set()

        self.controller.loop.call_soon_threadsafe(go)

    def stop(self) -> None:
        release = self.handler.release
        if release is not None:
            self.controller.loop.call_soon_threadsafe(release.set)
        self.controller.stop()


def start_smtp(handler: ScriptedHandler | None = None, **smtp_kwargs: Any) -> SmtpServer:
    handler = handler or ScriptedHandler()
    port = free_port()
    controller = _ScriptedController(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    return SmtpServer(controller, handler, port)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_certificate() -> Certificate:
    """A throw-away certificate for 127.0.0.1, which the client trusts as its CA file."""
    folder = Path(tempfile.mkdtemp(prefix="smtp-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.stop()


def send_through(settings: Settings, server: SmtpServer, timeout: float = 10.0) -> Settings:
    """Approved replies go out over SMTP to this loopback server, unencrypted. The time-out is
    generous: on a loaded host the server's thread may greet late (a 2 s time-out once made a
    reply fail for the moment in CI); the tests of a server that never answers set their own."""
    settings.outbound.transport = "smtp"
    settings.smtp.host = "127.0.0.1"
    settings.smtp.port = server.port
    settings.smtp.security = "none"
    settings.smtp.timeout_seconds = timeout
    return settings
