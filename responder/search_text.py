"""The one text search matches per inbound message, kept beside the message.

Fields are joined by a line break, which a search never holds (`responder.web.search` folds
whitespace to single spaces), so a search cannot match across the end of one field and the
start of the next. The text is stored folded (`responder.search_fold`), as every search is.
The phone numbers written in the text follow, one a line as E.164, so a number is found
however the customer spaced it ("0871 234 567"): a search for a number also looks for its E.164
form (`responder.customers.identity.phone_forms`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from responder.customers.identity import phone_numbers_in
from responder.db.models import Message, MessageSearchText
from responder.search_fold import fold

SEPARATOR = "\n"
PHONES_SCANNED = 20_000  # characters of the new text looked through for phone numbers


def searchable(
    subject: str, sender_name: str, sender_address: str, new_text: str, phones: Sequence[str] = ()
) -> str:
    return fold(SEPARATOR.join((subject, sender_name, sender_address, new_text, *phones)))


def written_phones(new_text: str, region: str | None) -> tuple[str, ...]:
    """The numbers written in the customer's new text, E.164, each once (`region`: for numbers
    written without their country code)."""
    return tuple(phone_numbers_in(new_text[:PHONES_SCANNED], region))


def index_message(session: Session, message: Message, phone_region: str | None = None) -> None:
    """At the parse (`phone_region`: `[customers] default_region`, for numbers written without
    their country code). A message sent back to be parsed again loses its row first
    (`responder.pipeline.reparse.forget_parse`)."""
    session.add(
        MessageSearchText(
            message_id=message.id,
            text=searchable(
                message.subject or "",
                message.sender_name or "",
                message.sender_address or "",
                message.new_text or "",
                written_phones(message.new_text or "", phone_region),
            ),
        )
    )
