"""The one text search matches per inbound message, kept beside the message.

Fields are joined by a line break, which a search never holds (`responder.web.search` folds
whitespace to single spaces), so a search cannot match across the end of one field and the
start of the next. The text is stored folded (`responder.search_fold`), as every search is.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from responder.db.models import Message, MessageSearchText
from responder.search_fold import fold

SEPARATOR = "\n"


def searchable(subject: str, sender_name: str, sender_address: str, new_text: str) -> str:
    return fold(SEPARATOR.join((subject, sender_name, sender_address, new_text)))


def index_message(session: Session, message: Message) -> None:
    """At the parse. A message sent back to be parsed again loses its row first
    (`responder.pipeline.reparse.forget_parse`)."""
    session.add(
        MessageSearchText(
            message_id=message.id,
            text=searchable(
                message.subject or "",
                message.sender_name or "",
                message.sender_address or "",
                message.new_text or "",
            ),
        )
    )
