"""A photo or file a customer sends in a DM is fetched from the platform into our store, so the
agent sees the bill or the broken phone on the review page, and still can once the platform's
link has expired; what the platform refuses, and why, is shown instead."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from responder.channels.social.media import FetchedMedia, MediaFetcher
from responder.db.models import Attachment, Message, utcnow
from responder.db.session import transaction
from responder.ops.metrics import REGISTRY
from responder.pipeline.media_fetch import fetch_due
from responder.pipeline.worker import Worker
from responder.review import retry
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.social.conftest import Receiver
from tests.social.payloads import (
    messenger_message,
    post_meta,
    post_x,
    whatsapp_message,
    x_dm,
)
from tests.test_web_security import login

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _files(rt: Runtime) -> list[Attachment]:
    with rt.factory() as session:
        return list(session.scalars(select(Attachment).order_by(Attachment.id)))


def _message_id(rt: Runtime) -> int:
    with rt.factory() as session:
        return session.scalars(select(Message.id).where(Message.direction == "in")).one()


def test_a_whatsapp_photo_is_fetched_with_the_token_and_shown_on_the_review_page(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    link = receiver.serve("/wa-media/8812?ext=1", PNG, "image/png")
    receiver.serve(
        "/v21.0/1184750195647401",
        {"url": link, "mime_type": "image/jpeg", "file_size": len(PNG), "id": "1184750195647401"},
    )
    photo = {"id": "1184750195647401", "mime_type": "image/jpeg", "caption": "my bill, see?"}
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        post_meta(client, whatsapp_message(wamid="wamid.photo", message_type="image", media=photo))
        worker.drain()  # parsed and drafted; the photo is owed
        worker.drain()  # the next round fetches it
        message_id = _message_id(rt)
        (lookup,) = receiver.fetched("/v21.0/1184750195647401")
        (download,) = receiver.fetched("/wa-media/8812?ext=1")
        assert lookup.headers["authorization"] == "Bearer wa-token"
        assert download.headers["authorization"] == "Bearer wa-token"

        auth = api_token(client, "alice")
        detail = client.get(f"/api/messages/{message_id}", headers=auth).json()
        assert detail["text"] == "my bill, see?"
        (image,) = detail["attachments"]
        assert image["kept"] is True and image["previewable"] is True
        assert image["served_as"] == "image/png"  # its bytes, not the lookup's word
        opened = client.get(f"/api/messages/{message_id}/attachments/{image['id']}", headers=auth)
        assert opened.content == PNG and opened.headers["content-type"] == "image/png"
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert (
            f'<img class="thumb" src="/messages/{message_id}/attachments/{image["id"]}/view"'
            in page
        )

    worker.drain()
    assert len(receiver.fetched("/wa-media/8812?ext=1")) == 1  # stored once, not fetched again


def test_a_messenger_file_comes_from_the_cdn_link_without_the_page_token(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    link = receiver.serve("/cdn/v/t1/bill.pdf?oh=abc", PDF, "application/pdf")
    sent = [{"type": "file", "payload": {"url": link}}]
    with TestClient(create_app(rt)) as client:
        post_meta(
            client, messenger_message("Here's the bill I mean", mid="m_pdf", attachments=sent)
        )
    worker.drain()
    worker.drain()
    (download,) = receiver.fetched("/cdn/v/t1/bill.pdf?oh=abc")
    assert "authorization" not in download.headers  # a signed CDN link needs no token
    (row,) = _files(rt)
    assert (row.content, row.content_type, row.size) == (PDF, "application/pdf", len(PDF))
    assert row.fetch_due_at is None and row.fetch_error is None


def test_an_expired_link_is_explained_and_not_asked_for_again(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    receiver.serve(
        "/cdn/gone.jpg",
        {"error": {"message": "URL signature expired", "code": 100}},
        status=403,
    )
    sent = [{"type": "image", "payload": {"url": f"{receiver.url}/cdn/gone.jpg"}}]
    staff(rt, "alice")
    refusals = {"platform": "messenger", "outcome": "refused"}
    before = REGISTRY.get_sample_value("responder_media_fetches_total", refusals) or 0.0
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("", mid="m_gone", attachments=sent))
        worker.drain()
        worker.drain()
        worker.drain()
        assert len(receiver.fetched("/cdn/gone.jpg")) == 1
        # Operations see it too (a platform refusing files en masse shows on a dashboard).
        assert REGISTRY.get_sample_value("responder_media_fetches_total", refusals) == before + 1
        auth = api_token(client, "alice")
        message_id = _message_id(rt)
        (image,) = client.get(f"/api/messages/{message_id}", headers=auth).json()["attachments"]
        assert image["kept"] is False
        assert image["why_not_kept"] == (
            "not fetched from Messenger: Messenger no longer gives this file "
            "(403: URL signature expired (code 100))"
        )
        refused = client.get(f"/api/messages/{message_id}/attachments/{image['id']}", headers=auth)
        assert refused.status_code == 404
        assert "URL signature expired" in refused.json()["detail"]


def test_a_platform_outage_is_retried_later_then_the_photo_arrives(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    receiver.serve("/pbs/photo.png", {"title": "Service Unavailable"}, status=503)
    with TestClient(create_app(rt)) as client:
        post_x(
            client, x_dm("No signal, look at the bars", photo_url=f"{receiver.url}/pbs/photo.png")
        )
    worker.drain()
    worker.drain()
    (row,) = _files(rt)
    assert row.content is None and row.fetch_attempts == 1
    assert row.fetch_error == "X answered 503: Service Unavailable"
    assert row.fetch_due_at is not None and row.fetch_due_at > utcnow() + timedelta(seconds=20)
    (tried,) = receiver.fetched("/pbs/photo.png")
    assert tried.headers["authorization"] == "Bearer x-token"

    worker.drain()  # not due yet: nothing asked
    assert len(receiver.fetched("/pbs/photo.png")) == 1
    receiver.serve("/pbs/photo.png", PNG, "image/png")
    with rt.factory.begin() as session:  # the backoff has passed
        session.execute(update(Attachment).values(fetch_due_at=utcnow()))
    worker.drain()
    (row,) = _files(rt)
    assert row.content == PNG and row.content_type == "image/png"
    assert row.fetch_due_at is None and row.fetch_error is None and row.fetch_attempts == 2


def test_links_off_the_platforms_hosts_and_oversized_files_are_not_fetched(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    big = receiver.serve("/cdn/video.mp4", b"\0" * 5_000, "video/mp4")
    away = receiver.serve(
        "/cdn/moved.png", b"", status=302, headers={"Location": "http://localhost:9/admin"}
    )
    moved = receiver.serve("/cdn/old.png", b"", status=301, headers={"Location": "/cdn/new.png"})
    receiver.serve("/cdn/new.png", PNG, "image/png")
    sent = [
        {"type": "image", "payload": {"url": "https://attacker.example/track.png"}},
        {"type": "image", "payload": {"url": "http://localhost:9/admin"}},
        {"type": "video", "payload": {"url": big}},
        {"type": "image", "payload": {"url": away}},
        {"type": "image", "payload": {"url": moved}},
    ]
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("look", mid="m_odd", attachments=sent))
    worker.drain()
    fetcher = MediaFetcher(rt.settings.social, max_bytes=1_000)
    assert fetch_due(rt.factory, fetcher) == 5
    foreign, local, video, redirected_away, redirected_home = _files(rt)
    for row in (foreign, local):
        assert row.content is None and row.fetch_due_at is None
        assert row.fetch_error.startswith("the link points outside Messenger's hosts")
    assert video.content is None and video.fetch_due_at is None
    assert video.fetch_error == (
        "larger than [pipeline] max_attachment_bytes (1,000 bytes): open it on Messenger"
    )
    assert redirected_away.content is None
    assert redirected_away.fetch_error == (
        "Messenger sent the link on outside its hosts; it was not followed"
    )
    assert redirected_home.content == PNG  # a redirect within the platform is followed
    # Only the platform's own links were asked for; the others never left the process.
    asked = [r.path for r in receiver.requests if r.method == "GET"]
    assert asked == ["/cdn/video.mp4", "/cdn/moved.png", "/cdn/old.png", "/cdn/new.png"]


def test_a_social_reply_takes_no_files_and_its_page_offers_none(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    staff(rt, "alice")
    with TestClient(create_app(rt)) as client:
        post_meta(client, whatsapp_message("Can you send me my bill as a PDF?"))
        worker.drain()
        message_id = _message_id(rt)
        auth = api_token(client, "alice")
        refused = client.post(
            f"/api/messages/{message_id}/reply-files",
            headers=auth,
            files=[("files", ("bill.pdf", PDF, "application/pdf"))],
        )
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("WhatsApp replies carry text only")
        login(client, "alice")
        page = client.get(f"/messages/{message_id}").text
        assert 'id="approve"' in page and 'name="files"' not in page


def test_an_unforeseen_failure_is_retried_later_and_does_not_hold_up_the_other_files(
    rt: Runtime, worker: Worker, receiver: Receiver
) -> None:
    fine = receiver.serve("/cdn/fine.png", PNG, "image/png")
    sent = [
        {"type": "image", "payload": {"url": f"{receiver.url}/cdn/odd.png"}},
        {"type": "image", "payload": {"url": fine}},
    ]
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("two photos", mid="m_two", attachments=sent))
    worker.drain()

    class Flaky(MediaFetcher):
        def fetch(self, remote: dict) -> FetchedMedia:
            if remote["url"].endswith("/odd.png"):
                raise RuntimeError("a bug in a platform's answer handling")
            return super().fetch(remote)

    assert fetch_due(rt.factory, Flaky(rt.settings.social, max_bytes=10_000)) == 2
    odd, good = _files(rt)
    assert odd.content is None and odd.fetch_attempts == 1
    assert odd.fetch_error == "a bug in a platform's answer handling"
    assert odd.fetch_due_at is not None and odd.fetch_due_at > utcnow()
    assert good.content == PNG


def test_a_retried_message_keeps_the_file_fetched_before_its_link_expired(
    rt: Runtime, worker: Worker, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DM that failed after its parse is retried once its link has expired: the file fetched
    before stays, once, and is not asked for again."""
    path = "/cdn/v/t1/contract.pdf?oh=def"
    link = receiver.serve(path, PDF, "application/pdf")
    sent = [{"type": "file", "payload": {"url": link}}]
    rt.settings.pipeline.max_attempts = 1

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("classifier store unreachable")

    monkeypatch.setattr("responder.pipeline.stages.classify_texts", broken)
    with TestClient(create_app(rt)) as client:
        post_meta(client, messenger_message("My contract, page 2", mid="m_retry", attachments=sent))
    worker.drain()
    worker.drain()
    message_id = _message_id(rt)
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "failed"  # type: ignore[union-attr]
    assert [row.content for row in _files(rt)] == [PDF]
    monkeypatch.undo()
    receiver.serve(path, {"error": {"message": "URL signature expired"}}, status=403)
    with transaction(rt.factory) as session:
        retry(session, message_id, "alice")
    worker.drain()
    worker.drain()
    with rt.factory() as session:
        assert session.get(Message, message_id).state == "in_review"  # type: ignore[union-attr]
    (row,) = _files(rt)
    assert (row.content, row.fetch_due_at, row.fetch_error) == (PDF, None, None)
    assert len(receiver.fetched(path)) == 1
