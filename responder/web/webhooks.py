"""Webhook endpoints for Meta (Messenger, Instagram, WhatsApp) and X direct messages.

Every POST is checked against the app secret before anything is stored; a signed body is
committed raw, then split (responder.channels.social.ingest). A body we cannot read is answered
400 and kept; no path answers 500 for what a platform sent.
"""

from __future__ import annotations

import hmac
import logging
import os
from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.enums import MediaType
from sqlalchemy.exc import SQLAlchemyError

from responder.channels.social.ingest import note_failure, process_delivery, record_delivery
from responder.channels.social.signatures import (
    SignatureError,
    check_meta,
    check_x,
    x_crc_response,
)
from responder.config import SocialSettings
from responder.web.state import runtime as _rt

log = logging.getLogger(__name__)


def _social(request: Request) -> SocialSettings:
    return _rt(request).settings.social


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _text(body: str, status_code: int) -> Response[str]:
    return Response(body, status_code=status_code, media_type=MediaType.TEXT)


@get("/webhooks/meta", sync_to_thread=False)
def meta_verify(request: Request) -> Response[str]:
    """Meta's subscription handshake: echo hub.challenge when hub.verify_token is ours."""
    params = request.query_params
    expected = os.environ.get(_social(request).meta_verify_token_env, "")
    token = params.get("hub.verify_token") or ""
    challenge = params.get("hub.challenge") or ""
    if (
        params.get("hub.mode") == "subscribe"
        and expected
        and challenge
        and hmac.compare_digest(token.encode(), expected.encode())
    ):
        return _text(challenge, 200)
    log.warning("meta webhook verification refused from %s", _client(request))
    return _text("verification failed", 403)


@get("/webhooks/x", sync_to_thread=False)
def x_crc(request: Request) -> Response[Any]:
    """X's challenge-response check: the HMAC of crc_token under the consumer secret."""
    crc_token = request.query_params.get("crc_token") or ""
    secret = os.environ.get(_social(request).x_consumer_secret_env, "")
    if not crc_token:
        return Response({"detail": "crc_token missing"}, status_code=400)
    if not secret:
        log.warning("x CRC check refused: %s is not set", _social(request).x_consumer_secret_env)
        return Response({"detail": "not configured"}, status_code=403)
    return Response(x_crc_response(secret, crc_token), status_code=200)


async def _receive(request: Request, source: str) -> Response[Any]:
    social = _social(request)
    body = await request.body()
    try:
        if source == "meta":
            secret = os.environ.get(social.meta_app_secret_env, "")
            check_meta(secret, body, request.headers.get("x-hub-signature-256"))
        else:
            secret = os.environ.get(social.x_consumer_secret_env, "")
            check_x(secret, body, request.headers.get("x-twitter-webhooks-signature"))
    except SignatureError as exc:
        log.warning(
            "%s webhook refused from %s (%d bytes): %s", source, _client(request), len(body), exc
        )
        return Response({"detail": str(exc)}, status_code=exc.status_code)
    factory = _rt(request).factory
    try:
        store = partial(record_delivery, factory, source, body)
        delivery_id = await anyio.to_thread.run_sync(store)
    except SQLAlchemyError:
        log.exception("%s webhook could not be stored; the platform will deliver it again", source)
        return Response({"detail": "temporarily unavailable"}, status_code=503)
    try:
        outcome = await anyio.to_thread.run_sync(partial(process_delivery, factory, delivery_id))
    except Exception as exc:
        log.exception("%s webhook %s stored but not split; retried later", source, delivery_id)
        attempts = _rt(request).settings.pipeline.max_attempts
        try:
            note = partial(note_failure, factory, delivery_id, exc, attempts)
            await anyio.to_thread.run_sync(note)
        except SQLAlchemyError:
            log.exception("%s webhook %s: the failed attempt was not counted", source, delivery_id)
        return Response({"delivery": delivery_id, "detail": "stored"}, status_code=202)
    if outcome.malformed:
        return Response(
            {"detail": f"malformed: {outcome.malformed}", "delivery": outcome.delivery_id},
            status_code=400,
        )
    return Response(
        {
            "delivery": outcome.delivery_id,
            "stored": outcome.stored,
            "duplicates": outcome.duplicates,
            "receipts": outcome.receipts,
            "changes": outcome.changes,
            "awaiting": outcome.awaiting,
            "outside": outcome.outside,
            "ignored": list(outcome.ignored),
        },
        status_code=200,
    )


@post("/webhooks/meta")
async def meta_event(request: Request) -> Response[Any]:
    return await _receive(request, "meta")


@post("/webhooks/x")
async def x_event(request: Request) -> Response[Any]:
    return await _receive(request, "x")


WEBHOOK_ROUTES = [meta_verify, meta_event, x_crc, x_event]
