"""Social direct messages: Messenger, Instagram, WhatsApp Cloud API and X, in and out.

`events` turns the platforms' webhook bodies into plain records, `signatures` checks who sent
them, `ingest` stores them (raw first), `senders` delivers approved replies, `media` fetches
the photos and files customers send.
"""

from __future__ import annotations

META_KINDS = frozenset({"messenger", "instagram", "whatsapp"})
SOCIAL_KINDS = frozenset({*META_KINDS, "x"})
#: The platforms' own names, for what staff read.
PLATFORM = {"messenger": "Messenger", "instagram": "Instagram", "whatsapp": "WhatsApp", "x": "X"}
