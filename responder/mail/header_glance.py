"""A look at a mail's From and Subject headers when the mail itself could not be read.

A quarantined message has no parsed sender or subject, yet staff deciding what to do with it
want to know who sent what. The header block alone is read, by the standard library's header
parser, which never looks at the body that may be what broke the parse; what it says is shown
as written, unchecked.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser

#: A header block longer than this is cut: the glance is for a person, not a parse.
HEAD_BYTES = 64 * 1024


def glance(raw: bytes) -> dict[str, str]:
    """{"from": ..., "subject": ...} as the headers say, with empty strings for what is absent
    or unreadable."""
    head = raw[:HEAD_BYTES].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(head)
        return {name: _text(headers, name) for name in ("from", "subject")}
    except Exception:
        return {"from": "", "subject": ""}


def _text(headers: object, name: str) -> str:
    try:
        value = headers.get(name)  # type: ignore[attr-defined]
    except Exception:
        return ""
    return " ".join(str(value or "").split())[:300]
