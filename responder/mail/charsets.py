"""Turn bytes and RFC 2047 header values into text without ever raising.

Real mail declares wrong or unknown charsets and carries raw 8-bit bytes in headers; a reply
service must still show staff something readable, so every step falls back instead of failing.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

import charset_normalizer

# How many bytes charset detection looks at: enough to decide, bounded for huge bodies.
_DETECTION_SAMPLE = 200_000

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")


def _known_codec(charset: str | None) -> str | None:
    """Return a Python codec name for a declared charset, or None when unknown."""
    if not charset:
        return None
    name = charset.strip().strip('"').split("*")[0].lower()  # RFC 2231 language suffix
    if name in {"unknown-8bit", "x-unknown", "x-user-defined", "default", "unknown"}:
        return None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode with the declared charset, else a detected one, else UTF-8 with replacement."""
    codec = _known_codec(declared)
    if codec is not None:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:_DETECTION_SAMPLE]).best()
    if best is not None and best.encoding:
        try:
            return data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            return data.decode(best.encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def has_surrogates(text: str) -> bool:
    """True when text carries undecoded bytes smuggled in by the parser (surrogateescape)."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def repair_surrogates(text: str) -> str:
    """Decode raw 8-bit bytes that the stdlib parser kept as surrogate escapes."""
    if not has_surrogates(text):
        return text
    data = text.encode("utf-8", errors="surrogateescape")
    return decode_bytes(data)


def _decode_word(charset: str, encoding: str, payload: str) -> str:
    """Decode one encoded word, tolerating bad padding and unknown charsets."""
    if encoding in "Bb":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            data = base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return payload
    else:
        data = quopri.decodestring(
            payload.replace("_", " ").encode("ascii", "replace"), header=False
        )
    return decode_bytes(data, charset)


def decode_header_text(value: str) -> str:
    """Decode encoded words and stray 8-bit bytes in a raw header value, as well as possible."""
    text = repair_surrogates(value)
    text = "".join(text.splitlines())
    text = _BETWEEN_WORDS.sub(r"\1\2", text)
    return _ENCODED_WORD.sub(lambda m: _decode_word(m.group(1), m.group(2), m.group(3)), text)
