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
from collections.abc import Sequence

import charset_normalizer

# How many bytes charset detection looks at: enough to decide, bounded for huge bodies.
_DETECTION_SAMPLE = 200_000

# Below this many bytes detection is unreliable and a simpler rule decides.
_SHORT = 200
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]{2}")

# Single-byte Latin charsets: they decode any bytes at all, so UTF-8 mislabelled as one of them
# (a web form or mail client that declares Latin-1 and writes UTF-8) would read as mojibake.
_SINGLE_BYTE_LATIN = frozenset(
    {
        "iso8859-1",
        "iso8859-2",
        "iso8859-3",
        "iso8859-4",
        "iso8859-9",
        "iso8859-10",
        "iso8859-13",
        "iso8859-14",
        "iso8859-15",
        "iso8859-16",
        "cp1250",
        "cp1252",
        "cp1254",
        "cp1257",
        "mac-roman",
    }
)

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


def decode_bytes(data: bytes, declared: str | None = None, hints: Sequence[str] = ()) -> str:
    """Decode with the declared charset, else UTF-8, else a hinted charset (such as the body's
    for 8-bit headers), else a detected one, else UTF-8 with replacement. A single-byte Latin
    charset declared (or hinted) for bytes that are valid UTF-8 beyond ASCII reads as UTF-8."""
    for candidate in (declared, "utf-8", *hints):
        codec = _known_codec(candidate)
        if codec is None:
            continue
        if codec in _SINGLE_BYTE_LATIN and _strict_utf8_beyond_ascii(data):
            codec = "utf-8"
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    if _mostly_utf8(data):
        return data.decode("utf-8", errors="replace")
    if len(data) < _SHORT and not _NON_ASCII_RUN.search(data):
        # Detection guesses wildly on a few bytes; isolated accented letters among ASCII are
        # the signature of Western European text, almost always Windows-1252 / Latin-1.
        return data.decode("cp1252", errors="replace")
    best = charset_normalizer.from_bytes(data[:_DETECTION_SAMPLE]).best()
    if best is not None and best.encoding and not best.encoding.startswith(("utf_16", "utf_32")):
        try:
            return data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            return data.decode(best.encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def _strict_utf8_beyond_ascii(data: bytes) -> bool:
    """Valid UTF-8 with multibyte characters: genuine Latin text almost never is (its accented
    letters would have to fall in exactly the lead-and-continuation byte pairs)."""
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mostly_utf8(data: bytes) -> bool:
    """UTF-8 with a few broken bytes (a truncated character, say) is still UTF-8."""
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return multibyte >= 4 * broken


_SURROGATE = re.compile("[\udc80-\udcff]")


def has_surrogates(text: str) -> bool:
    """True when text carries undecoded bytes smuggled in by the parser (surrogateescape)."""
    return _SURROGATE.search(text) is not None


def repair_surrogates(text: str, hints: Sequence[str] = ()) -> str:
    """Decode raw 8-bit bytes that the stdlib parser kept as surrogate escapes."""
    if not has_surrogates(text):
        return text
    data = text.encode("utf-8", errors="surrogateescape")
    return decode_bytes(data, hints=hints)


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


def decode_header_text(value: str, hints: Sequence[str] = ()) -> str:
    """Decode encoded words and stray 8-bit bytes in a raw header value, as well as possible.

    hints are charsets to try for raw 8-bit bytes (the body's, usually what the client used).
    """
    text = repair_surrogates(value, hints)
    text = "".join(text.splitlines())
    text = _BETWEEN_WORDS.sub(r"\1\2", text)
    return _ENCODED_WORD.sub(lambda m: _decode_word(m.group(1), m.group(2), m.group(3)), text)
