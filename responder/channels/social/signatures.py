"""The platforms' webhook checks: HMAC-SHA256 of the raw body with the app secret.

Meta sends `X-Hub-Signature-256: sha256=<hex>`; X sends `x-twitter-webhooks-signature:
sha256=<base64>` and answers its CRC challenge with the same HMAC over the `crc_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


class SignatureError(Exception):
    """Refused before anything is stored: missing (401) or wrong (403) signature."""

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


def _digest(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def _check(header: str | None, expected: str, secret: str, name: str) -> None:
    if not secret:
        raise SignatureError(f"no app secret configured, so {name} cannot be checked", 403)
    if not header:
        raise SignatureError(f"{name} header missing", 401)
    if not hmac.compare_digest(header.strip().encode(), expected.encode()):
        raise SignatureError(f"{name} does not match the body", 403)


def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + _digest(secret, body).hex()


def x_signature(secret: str, data: bytes) -> str:
    return "sha256=" + base64.b64encode(_digest(secret, data)).decode()


def check_meta(secret: str, body: bytes, header: str | None) -> None:
    _check(header, meta_signature(secret, body), secret, "X-Hub-Signature-256")


def check_x(secret: str, body: bytes, header: str | None) -> None:
    _check(header, x_signature(secret, body), secret, "x-twitter-webhooks-signature")


def x_crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """X's challenge-response check: proves we hold the consumer secret."""
    return {"response_token": x_signature(secret, crc_token.encode())}
