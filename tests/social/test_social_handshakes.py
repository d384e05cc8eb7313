"""The platforms' verification handshakes and webhook signatures, by their documented algorithms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.db.models import Message, WebhookDelivery
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.social.payloads import (
    META_VERIFY_TOKEN,
    X_SECRET,
    messenger_message,
    post_meta,
    post_x,
    x_dm,
)


@contextmanager
def refusals_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The app's logging set-up replaces root handlers, so listen on our own logger."""
    logger = logging.getLogger("responder.web.webhooks")
    logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)


def _counts(rt: Runtime) -> tuple[int, int]:
    with rt.factory() as session:
        return (
            session.scalar(select(func.count(WebhookDelivery.id))) or 0,
            session.scalar(select(func.count(Message.id))) or 0,
        )


def test_meta_verification_echoes_the_challenge_only_for_our_token(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        params = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN}
        ok = client.get("/webhooks/meta", params={**params, "hub.challenge": "1158201444"})
        assert ok.status_code == 200
        assert ok.text == "1158201444"
        wrong = {**params, "hub.verify_token": "guess", "hub.challenge": "1"}
        assert client.get("/webhooks/meta", params=wrong).status_code == 403
        unsubscribe = {**params, "hub.mode": "unsubscribe", "hub.challenge": "1"}
        assert client.get("/webhooks/meta", params=unsubscribe).status_code == 403
        assert client.get("/webhooks/meta").status_code == 403


def test_x_crc_answers_with_the_base64_hmac_of_the_token(rt: Runtime) -> None:
    token = "Mjk0NzE3MDUtOWM0Yy00N2Q2LWE0OGQtYmI2YjE5ZWI0MzM4"
    expected = base64.b64encode(
        hmac.new(X_SECRET.encode(), token.encode(), hashlib.sha256).digest()
    ).decode()
    with TestClient(create_app(rt)) as client:
        response = client.get("/webhooks/x", params={"crc_token": token})
        assert response.status_code == 200
        assert response.json() == {"response_token": f"sha256={expected}"}
        assert client.get("/webhooks/x").status_code == 400


def test_crc_without_a_configured_secret_is_refused(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESPONDER_X_CONSUMER_SECRET")
    with TestClient(create_app(rt)) as client:
        assert client.get("/webhooks/x", params={"crc_token": "abc"}).status_code == 403


@pytest.mark.parametrize(
    ("signature", "status"),
    [(None, 401), ("sha256=" + "0" * 64, 403), ("not-a-signature", 403)],
)
def test_unsigned_or_wrongly_signed_meta_posts_are_refused_and_not_stored(
    rt: Runtime, caplog: pytest.LogCaptureFixture, signature: str | None, status: int
) -> None:
    with TestClient(create_app(rt)) as client, refusals_logged(caplog):
        response = post_meta(client, messenger_message(), signature=signature)
    assert response.status_code == status
    assert _counts(rt) == (0, 0)
    assert "meta webhook refused" in caplog.text


def test_a_body_signed_with_another_secret_is_refused(rt: Runtime) -> None:
    body = b'{"object":"page","entry":[]}'
    forged = "sha256=" + hmac.new(b"someone-else", body, hashlib.sha256).hexdigest()
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, body, signature=forged).status_code == 403
        tampered = post_meta(client, body.replace(b"[]", b"[{}]"), signature=None)
        assert tampered.status_code == 401
    assert _counts(rt) == (0, 0)


@pytest.mark.parametrize(("signature", "status"), [(None, 401), ("sha256=AAAA", 403)])
def test_unsigned_or_wrongly_signed_x_posts_are_refused_and_not_stored(
    rt: Runtime, caplog: pytest.LogCaptureFixture, signature: str | None, status: int
) -> None:
    with TestClient(create_app(rt)) as client, refusals_logged(caplog):
        response = post_x(client, x_dm(), signature=signature)
    assert response.status_code == status
    assert _counts(rt) == (0, 0)
    assert "x webhook refused" in caplog.text


def test_a_meta_signature_does_not_pass_for_x(rt: Runtime) -> None:
    from tests.social.payloads import encode, meta_signature

    body = encode(x_dm())
    with TestClient(create_app(rt)) as client:
        assert post_x(client, body, signature=meta_signature(body)).status_code == 403


def test_correctly_signed_posts_are_accepted(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        assert post_meta(client, messenger_message()).status_code == 200
        assert post_x(client, x_dm()).status_code == 200
    assert _counts(rt) == (2, 2)
