"""A customer's attachments (the bill they are angry about, a screenshot of the error) open
from the review page, and no file can act in the agent's browser, whatever its sender claims."""

from __future__ import annotations

import base64
import re
from email.message import EmailMessage
from urllib.parse import quote

from litestar.testing import TestClient
from playwright.sync_api import expect
from sqlalchemy import select

from responder.attachments import download_name, served_type
from responder.db.models import Message
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.browser_support import browser, log_in, on_sqlite_only
from tests.helpers import api_token, drop, staff
from tests.live_server import serve
from tests.test_web_security import login

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<html><body><script>fetch('/api/queue')</script>Your refund</body></html>"


def email_with_attachments() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Aoife Murphy <aoife.murphy@gmail.test>"
    msg["To"] = "support@northwind-mobile.test"
    msg["Subject"] = "Bill attached, please look"
    msg["Message-ID"] = "<bill@mail.test>"
    msg["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    msg.set_content("Hi, my bill is 180 euro this month, see the screenshot and the PDF attached.")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="screenshot.png")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Rechnung März.pdf")
    msg.add_attachment(HTML, maintype="image", subtype="png", filename="../../not-an-image.png")
    msg.add_attachment(HTML, maintype="text", subtype="html", filename="offer.html")
    msg.add_attachment(b"x" * 5_000, maintype="application", subtype="zip", filename="logs.zip")
    return msg.as_bytes()


def only_message(rt: Runtime) -> int:
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.direction == "in")).one()


def test_attachments_open_from_the_review_page_and_never_run(rt: Runtime, worker: Worker) -> None:
    rt.settings.pipeline.max_attachment_bytes = 4_000
    staff(rt, "alice")
    drop(rt, email_with_attachments(), "bill")
    worker.drain()
    message_id = only_message(rt)

    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert "Attachments (5)" in page
        links = dict(
            (name, href)
            for href, name in re.findall(r'<a href="([^"]+)" download>([^<]+)</a>', page)
        )
        assert set(links) == {
            "screenshot.png",
            "Rechnung März.pdf",
            "../../not-an-image.png",
            "offer.html",
        }
        # The zip was over the limit: named, with why it cannot be opened, and no link.
        assert "logs.zip" in page
        assert "not kept: larger than [pipeline] max_attachment_bytes" in page
        # Only the real image is shown in the page.
        thumbnails = re.findall(r'<img class="thumb" src="([^"]+)"', page)
        assert thumbnails == [links["screenshot.png"] + "/view"]

        shown = client.get(thumbnails[0])
        assert shown.status_code == 200 and shown.content == PNG
        assert shown.headers["content-type"] == "image/png"
        assert shown.headers["content-disposition"].startswith("inline;")
        assert "sandbox" in shown.headers["content-security-policy"]
        assert shown.headers["x-content-type-options"] == "nosniff"

        pdf = client.get(links["Rechnung März.pdf"])
        assert pdf.content == PDF and pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"].startswith("attachment;")
        encoded = quote("Rechnung März.pdf")
        assert f"filename*=UTF-8''{encoded}" in pdf.headers["content-disposition"]

        # HTML claiming to be a PNG, and HTML as itself: bytes as they came, never as a page.
        for name in ("../../not-an-image.png", "offer.html"):
            for url in (links[name], links[name] + "/view"):
                served = client.get(url)
                assert served.content == HTML
                assert served.headers["content-type"] == "application/octet-stream"
                assert served.headers["content-disposition"].startswith("attachment;")
        assert (
            'filename="not-an-image.png"'
            in client.get(links["../../not-an-image.png"]).headers["content-disposition"]
        )

        ids = [int(href.rsplit("/", 1)[1]) for href in links.values()]
        missing = client.get(f"/messages/{message_id}/attachments/{max(ids) + 1}")
        assert missing.status_code == 404
        assert "not kept" in missing.text
        elsewhere = client.get(f"/messages/{message_id + 1000}/attachments/{ids[0]}")
        assert elsewhere.status_code == 404

        auth = api_token(client, "alice")
        detail = client.get(f"/api/messages/{message_id}", headers=auth).json()
        listed = {a["filename"]: a for a in detail["attachments"]}
        assert listed["screenshot.png"]["previewable"] is True
        assert listed["offer.html"]["served_as"] == "application/octet-stream"
        assert listed["logs.zip"]["kept"] is False and listed["logs.zip"]["size"] == 5_000
        png_id = listed["screenshot.png"]["id"]
        api_file = client.get(f"/api/messages/{message_id}/attachments/{png_id}", headers=auth)
        assert api_file.status_code == 200 and api_file.content == PNG

    with TestClient(create_app(rt)) as stranger:
        refused = stranger.get(links["screenshot.png"], follow_redirects=False)
        assert refused.status_code in (302, 303) and "/login" in refused.headers["location"]
        api_refused = stranger.get(f"/api/messages/{message_id}/attachments/{png_id}")
        assert api_refused.status_code == 401


def test_what_a_file_is_served_as_is_decided_by_its_bytes() -> None:
    assert served_type("image/png", PNG) == ("image/png", True)
    assert served_type("application/octet-stream", PNG) == ("image/png", True)
    assert served_type("image/svg+xml", b"<svg onload='alert(1)'/>") == (
        "application/octet-stream",
        False,
    )
    assert served_type("application/pdf", PDF) == ("application/pdf", False)
    assert served_type("application/pdf", HTML) == ("application/octet-stream", False)
    assert served_type("text/plain; charset=utf-8", b"call me back") == ("text/plain", False)
    assert download_name("C:\\Users\\aoife\\bill.pdf", "application/pdf", 7) == "bill.pdf"
    assert download_name("bad\x00\r\nname.txt", "text/plain", 7) == "badname.txt"
    assert download_name(None, "image/png", 7) == "attachment-7.png"
    assert download_name("..", "application/octet-stream", 9) == "attachment-9.bin"


@on_sqlite_only
def test_the_screenshot_shows_in_the_browser_and_a_disguised_page_only_downloads(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    drop(rt, email_with_attachments(), "bill")
    worker.drain()
    message_id = only_message(rt)
    with serve(rt) as base, browser() as chromium:
        page = chromium.new_page(accept_downloads=True)
        log_in(page, base, "alice", "correct horse battery")
        page.goto(f"{base}/messages/{message_id}")
        # The real PNG decodes under the page's own Content-Security-Policy.
        expect(page.locator("img.thumb")).to_have_js_property("naturalWidth", 1)
        with page.expect_download() as download:
            page.click("a[download]:has-text('not-an-image.png')")
        assert download.value.suggested_filename == "not-an-image.png"
        assert page.evaluate("document.title").endswith("Responder")


def test_a_follow_up_shows_the_files_sent_earlier_in_the_conversation(
    rt: Runtime, worker: Worker
) -> None:
    staff(rt, "alice")
    drop(rt, email_with_attachments(), "bill")
    worker.drain()
    first = only_message(rt)
    follow_up = EmailMessage()
    follow_up["From"] = "Aoife Murphy <aoife.murphy@gmail.test>"
    follow_up["To"] = "support@northwind-mobile.test"
    follow_up["Subject"] = "Re: Bill attached, please look"
    follow_up["Message-ID"] = "<bill2@mail.test>"
    follow_up["In-Reply-To"] = "<bill@mail.test>"
    follow_up.set_content("Any news on the bill I sent?")
    drop(rt, follow_up.as_bytes(), "bill2")
    worker.drain()
    with rt.factory() as session:
        second = session.scalars(
            select(Message.id).where(Message.message_id_header == "<bill2@mail.test>")
        ).one()
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get(f"/messages/{second}").text
        earlier = page.split("<h2>Conversation</h2>", 1)[1].split('<h2 id="notes">', 1)[0]
        assert f'href="/messages/{first}/attachments/' in earlier
        assert ">screenshot.png</a>" in earlier and ">Rechnung März.pdf</a>" in earlier
        assert "Attachments (" not in page, "the follow-up itself has no files"
