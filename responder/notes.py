"""Internal notes: what one agent tells the next about a conversation ("called the customer,
waiting for the network team"). Stored apart from messages, so no draft, reply, timeline or
classifier ever reads them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from responder.db.models import Message, Note, utcnow
from responder.display import headline, preview_column

MAX_NOTE_CHARS = 5000
EDIT_WINDOW = timedelta(minutes=10)


class NoteError(ValueError):
    status_code = 422


class NoMessage(NoteError):
    status_code = 404


class NotYours(NoteError):
    status_code = 403


class TooLate(NoteError):
    status_code = 409


def _clean(body: str) -> str:
    """Line breaks as one character each, as the browser counts them against the form's
    maxlength (it sends them as two)."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if not text:
        raise NoteError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise NoteError(f"a note holds at most {MAX_NOTE_CHARS:,} characters ({len(text):,} given)")
    return text


def add_note(session: Session, message_id: int, author: str, body: str) -> Note:
    text = _clean(body)
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


def _own_recent(session: Session, note_id: int, author: str) -> Note:
    """A typo is mended at once; after a few minutes colleagues may have acted on the note, so
    it stands (a new note corrects it)."""
    note = session.get(Note, note_id)
    if note is None:
        raise NoMessage(f"note {note_id} not found")
    if note.author != author:
        raise NotYours(f"only {note.author}, who wrote it, can change this note")
    if not still_changeable(note.author, note.created_at, author, utcnow()):
        minutes = int(EDIT_WINDOW.total_seconds() // 60)
        raise TooLate(f"a note can be changed for {minutes} minutes; add a new note instead")
    return note


def edit_note(session: Session, note_id: int, author: str, body: str) -> tuple[Note, str]:
    """Returns the note and its text before the edit."""
    note = _own_recent(session, note_id, author)
    before = note.body
    note.body = _clean(body)
    note.edited_at = utcnow()
    session.flush()
    return note, before


def delete_note(session: Session, note_id: int, author: str) -> Note:
    note = _own_recent(session, note_id, author)
    session.delete(note)
    session.flush()
    return note


def mark_changeable(rows: list[dict[str, Any]], author: str, now: datetime) -> None:
    """Flag, on note rows, the ones `author` may still edit or delete."""
    for row in rows:
        written = datetime.fromisoformat(row["at"])
        row["changeable"] = still_changeable(row["author"], written, author, now)


def still_changeable(written_by: str, written_at: datetime, author: str, now: datetime) -> bool:
    """The one rule, for the page's buttons and the edit itself: the author, within the window."""
    return written_by == author and now - written_at <= EDIT_WINDOW


def note_row(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "message_id": note.message_id,
        "author": note.author,
        "body": note.body,
        "at": note.created_at.isoformat(),
        "edited_at": note.edited_at.isoformat() if note.edited_at else None,
    }


def notes_of_customer(session: Session, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The newest notes on any of the customer's messages: they follow a link or unlink, since
    they hang on the messages, which move."""
    rows = session.execute(
        select(Note, Message.subject, preview_column())
        .join(Message, Message.id == Note.message_id)
        .where(Message.customer_id == customer_id)
        .order_by(Note.id.desc())
        .limit(limit)
    ).all()
    return [
        {**note_row(note), "subject": subject, "title": headline(subject, preview)}
        for note, subject, preview in rows
    ]


def notes_for(session: Session, message: Message) -> list[dict[str, Any]]:
    """The message's notes and those on the rest of its conversation, oldest first."""
    where = Note.message_id == message.id
    if message.conversation_id is not None:
        where = or_(where, Note.conversation_id == message.conversation_id)
    return [note_row(note) for note in session.scalars(select(Note).where(where).order_by(Note.id))]
