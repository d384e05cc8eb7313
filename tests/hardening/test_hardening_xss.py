"""An XSS corpus, delivered as inbound HTML email and as social DM text, shown in Chromium.

Every payload (tests/hardening/data/xss-payloads.txt) arrives through the real paths (the
Maildir for email, the signed Meta webhook for DMs), is drafted by the worker and is opened on
the review page. A payload that ran would request a loopback beacon the test serves, open a
dialog or write "XSS-RAN" to the console: none of that may happen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.browser_support import browser, log_in, on_sqlite_only
from tests.helpers import drop, staff
from tests.live_server import serve
from tests.social.payloads import META_SECRET, messenger_message, post_meta

CORPUS = Path(__file__).parent / "data" / "xss-payloads.txt"
PAYLOADS = [
    line
    for line in CORPUS.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


class Beacon:
    """A loopback HTTP server that records every request: a hit means a payload got out."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                beacon.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xss-beacon"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    server = Beacon()
    yield server
    server.stop()


def hostile_email(number: int, payload: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Mallory {number} <mallory{number}@evil.test>"
    msg["To"] = "support@northwind-mobile.test"
    msg["Subject"] = f"My bill {payload}"[:200]
    msg["Message-ID"] = f"<xss-{number}@evil.test>"
    msg.set_content(f"My bill is wrong. {payload}")
    msg.add_alternative(f"<html><body><p>My bill is wrong.</p>{payload}</body></html>", "html")
    return msg.as_bytes()


# The embedded default only: what the browser shows does not depend on the database, and
# drafting the whole corpus twice would cost minutes.
@on_sqlite_only
def test_xss_corpus_in_email_and_social_text_runs_nothing_in_the_browser(
    rt: Runtime, worker: Worker, beacon: Beacon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPONDER_META_APP_SECRET", META_SECRET)
    payloads = [p.replace("BEACON", beacon.url) for p in PAYLOADS]
    for number, payload in enumerate(payloads):
        drop(rt, hostile_email(number, payload), f"xss-{number}")
    with TestClient(create_app(rt)) as client:
        for number, payload in enumerate(payloads):
            dm = messenger_message(
                f"My bill is wrong {payload}", psid=f"9{number:015d}", mid=f"m_xss_{number}"
            )
            assert post_meta(client, dm).status_code == 200
    worker.drain()
    staff(rt, "alice")
    with rt.factory() as session:
        shown = list(session.scalars(select(Message.id).where(Message.state == "in_review")))
    assert len(shown) == 2 * len(payloads), "every hostile message should reach review"

    requests: list[str] = []
    dialogs: list[str] = []
    console: list[str] = []
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page()
        page.on("request", lambda r: requests.append(r.url) if "xss-beacon" in r.url else None)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: console.append(m.text) if "XSS-RAN" in m.text else None)
        with page.expect_request(lambda r: "xss-beacon" in r.url):  # the watch itself works
            page.set_content(f"<script>fetch('{beacon.url}?control')</script>")
        requests.clear()
        log_in(page, base, "alice", "correct horse battery")
        for message_id in shown:
            page.goto(f"{base}/messages/{message_id}", wait_until="load")
            formatted = page.locator("summary:has-text('Formatted version')")
            if formatted.count():
                formatted.click()
                frame = page.frame_locator("iframe.html-body")
                frame.locator("text=My bill is wrong").wait_for()
            assert page.evaluate("typeof window.__xss") == "undefined"
        page.goto(f"{base}/queue", wait_until="load")

    assert requests == [], "a payload made the browser call the beacon"
    assert [hit for hit in beacon.hits if "control" not in hit] == [], "a payload got out"
    assert dialogs == [], "a payload opened a dialog"
    assert console == [], "a payload wrote to the console"
