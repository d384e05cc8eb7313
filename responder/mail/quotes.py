"""Separate the new text of a reply from quoted history and signatures.

Drafting and classification must see what the customer wrote now, not the thread below it.
mail-parser-reply knows many clients' attribution lines; generic structural rules (attribution
lines, header blocks, separators, '>' runs, signature delimiters) catch what it misses.
"""

from __future__ import annotations

from mailparser_reply import EmailReplyParser

_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs", "ja", "zh", "ko"]


def strip_quotes(text: str) -> str:
    """Return the new text; the whole text (stripped) when stripping leaves nothing."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        reply = EmailReplyParser(languages=list(_LANGUAGES)).parse_reply(normalised) or ""
    except Exception:  # a third-party regex failure must not lose the message
        reply = ""
    reply = reply.strip()
    return reply or normalised.strip()
