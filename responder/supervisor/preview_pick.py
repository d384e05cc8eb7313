"""Which message a template or snippet editor previews against when the supervisor has not
chosen one: a message it would answer, so the preview reads like a draft it makes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from responder.db.models import Message


def template_intents(name: str) -> list[str]:
    """`intents/roaming` answers roaming; a layout wraps every intent."""
    return [name.removeprefix("intents/")] if name.startswith("intents/") else []


def fitting_message(session: Session, intents: Sequence[str], language: str) -> int | None:
    """The newest message of one of the intents in the language, else of one of the intents,
    else the newest classified one in the language, else the newest classified one at all (so
    never a bounce or newsletter the ignore rules stopped)."""
    newest: Select[tuple[int]] = (
        select(Message.id)
        .where(Message.direction == "in", Message.intent.is_not(None))
        .order_by(Message.id.desc())
        .limit(1)
    )
    tries = []
    if intents:
        of_intent = newest.where(Message.intent.in_(list(intents)))
        tries += [of_intent.where(Message.language == language), of_intent]
    tries += [newest.where(Message.language == language), newest]
    for query in tries:
        found = session.scalar(query)
        if found is not None:
            return int(found)
    return None
