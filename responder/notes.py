"""Internal notes: what one agent tells the next about a conversation ("called the customer,
waiting for the network team"). Stored apart from messages, so no draft, reply, timeline or
classifier ever reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from responder.db.models import Message, Note

MAX_NOTE_CHARS = 5000


class NoteError(ValueError):
    status_code = 422


class NoMessage(NoteError):
    status_code = 404


def add_note(session: Session, message_id: int, author: str, body: str) -> Note:
    text = body.replace("\x00", "").strip()
    if not text:
        raise NoteError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise NoteError(f"a note holds at most {MAX_NOTE_CHARS:,} characters ({len(text):,} given)")
    message = session.get(Message, message_id)
    if message is None or message.direction != "in":
        raise NoMessage(f"message {message_id} not found")
    note = Note(
        message_id=message.id,
        conversation_id=message.conversation_id,
        author=author,
        body=text,
    )
    session.add(note)
    session.flush()
    return note


def note_row(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "message_id": note.message_id,
        "author": note.author,
        "body": note.body,
        "at": note.created_at.isoformat(),
    }


def notes_of_customer(session: Session, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The newest notes on any of the customer's messages: they follow a link or unlink, since
    they hang on the messages, which move."""
    rows = session.execute(
        select(Note, Message.subject)
        .join(Message, Message.id == Note.message_id)
        .where(Message.customer_id == customer_id)
        .order_by(Note.id.desc())
        .limit(limit)
    ).all()
    return [{**note_row(note), "subject": subject} for note, subject in rows]


def notes_for(session: Session, message: Message) -> list[dict[str, Any]]:
    """The message's notes and those on the rest of its conversation, oldest first."""
    where = Note.message_id == message.id
    if message.conversation_id is not None:
        where = or_(where, Note.conversation_id == message.conversation_id)
    return [note_row(note) for note in session.scalars(select(Note).where(where).order_by(Note.id))]
