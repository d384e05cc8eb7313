"""What a message is called where staff see it: its subject, or for a direct message (which has
none) its first words, so a queue of DMs is not a column of "(no subject)"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func

from responder.channels.social import PLATFORM
from responder.db.models import Message

#: Characters of the first words used as a title, cut at a word.
TITLE_CHARS = 60
NO_SUBJECT = "(no subject)"


def headline(subject: str | None, text: str | None = None) -> str:
    """The subject when there is one, else the text's first words (about TITLE_CHARS)."""
    if subject and subject.strip():
        return subject
    words = " ".join((text or "").split())
    if not words:
        return NO_SUBJECT
    if len(words) <= TITLE_CHARS:
        return words
    cut = words[: TITLE_CHARS + 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut[:TITLE_CHARS].rstrip(" ,.;:-") + "…"


def preview_column() -> Any:
    """The start of the text, read only where there is no subject: what `headline` needs from a
    list's query without loading whole bodies."""
    return case(
        (func.coalesce(Message.subject, "") == "", func.substr(Message.text, 1, 4 * TITLE_CHARS)),
        else_="",
    ).label("preview")


def dm_sender(platform: str, name: str, platform_id: str) -> str:
    """Who wrote a direct message, for people: the name when known, else the platform's user
    with the start of its id (a Messenger id alone means nothing to staff)."""
    if name.strip():
        return name
    return f"{platform} user {platform_id[:4]}…" if platform_id else f"a {platform} user"


def sender_label(kind: str | None, name: str | None, address: str | None) -> str:
    """Who wrote a message, as a list names them: a direct message's sender as the review page
    does (`dm_sender`: never a bare Messenger id), mail's by its From name ("" without one).
    `kind`: the channel's."""
    platform = PLATFORM.get(kind or "")
    if platform:
        return dm_sender(platform, name or "", address or "")
    return name or ""
