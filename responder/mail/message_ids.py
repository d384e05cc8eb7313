"""The threading headers of a reply (Message-ID, In-Reply-To, References) as clients read them.

A msg-id is a structured value (RFC 5322 3.6.4) where RFC 2047 forbids encoded words, yet the
stdlib folder writes one for any token longer than a line (Exchange Online's ids are about 90
characters): a client that matches ids as written then finds no parent. Lines fold between ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.policy import Policy

_MSG_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")

#: Ids a reply's References keeps at most: the thread's first and the latest ones. A chain
#: grows by one with every message; a bounded header stays under servers' header-size limits.
MAX_REFERENCES = 20

# Longest id kept: a line of an id header holds one id and must stay within 998 characters.
_MAX_ID = 900


def usable_id(value: str | None, *, utf8: bool) -> str | None:
    """The id stripped, or None when no client could match it: not <...>, cut short when it
    was stored, too long for a header line, or beyond ASCII in a message without SMTPUTF8."""
    value = (value or "").strip()
    if not _MSG_ID.fullmatch(value) or len(value) > _MAX_ID:
        return None
    return value if utf8 or value.isascii() else None


def thread_references(
    references: Sequence[str], in_reply_to: str | None, message_id: str | None
) -> tuple[str, ...]:
    """A reply's References from its parent's (RFC 5322 3.6.4): the parent's References, or
    its In-Reply-To when it has none (as many clients write), then the parent's Message-ID."""
    chain = [*references] if references else [in_reply_to or ""]
    return tuple(ref for ref in dict.fromkeys([*chain, message_id or ""]) if ref)


def trimmed(ids: Sequence[str]) -> list[str]:
    """The thread's first id and the latest ones: what threading needs when a chain is long."""
    if len(ids) <= MAX_REFERENCES:
        return list(ids)
    return [ids[0], *ids[len(ids) - MAX_REFERENCES + 1 :]]


class IdsHeader(str):
    """An id header's value, folded only at the spaces between ids. The email policy treats a
    value with a `name` as a ready header object and writes what `fold` returns."""

    def __new__(cls, name: str, ids: Sequence[str]) -> IdsHeader:
        header = super().__new__(cls, " ".join(ids))
        header.name = name
        return header

    name: str

    def fold(self, *, policy: Policy) -> str:
        """Ids joined by spaces while a line holds them, each further one on its own line."""
        width = policy.max_line_length or 78
        first, *rest = self.split(" ")
        lines = [f"{self.name}: {first}"]
        for msg_id in rest:
            if len(lines[-1]) + 1 + len(msg_id) > width:
                lines.append(f" {msg_id}")
            else:
                lines[-1] += f" {msg_id}"
        return policy.linesep.join(lines) + policy.linesep
