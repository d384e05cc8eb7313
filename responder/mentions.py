"""@mentions in internal notes: "@bob, she asked for you" reaches bob under Mentions, with a
count in the menu, until he opens the conversation. A name that is not an active colleague's
is left as plain text, and an address such as aoife@gmail.com is never a mention."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from responder.db.keyset import Page, decode_cursor, encode_cursor
from responder.db.models import Message, Note, NoteMention, StaffUser, utcnow
from responder.display import headline, preview_column

MENTION = re.compile(r"(?<![\w@.])@([^\s@]+)")
TRAILING = ".,;:!?)]}'\""


def mentioned_names(body: str) -> set[str]:
    """Every @name in the text, lower-cased, without the punctuation that ends a sentence."""
    return {m.group(1).rstrip(TRAILING).lower() for m in MENTION.finditer(body)} - {""}


def record_mentions(session: Session, note: Note) -> list[str]:
    """The active colleagues the note names (not its author) and did not name before (an
    edit may add a name), in name order."""
    names = mentioned_names(note.body) - {note.author.lower()}
    if not names:
        return []
    already = set(
        session.scalars(select(NoteMention.user_id).where(NoteMention.note_id == note.id))
    )
    people = [
        (user_id, username)
        for user_id, username in session.execute(
            select(StaffUser.id, StaffUser.username).where(
                func.lower(StaffUser.username).in_(sorted(names)), StaffUser.active.is_(True)
            )
        )
        if user_id not in already
    ]
    for user_id, _ in people:
        session.add(NoteMention(note_id=note.id, user_id=user_id))
    session.flush()
    return sorted((username for _, username in people), key=str.lower)


def unmatched_names(session: Session, note: Note) -> list[str]:
    """The @names in the note that are no active colleague's (a misspelt name, someone who has
    left): nobody was told, so the author is, in name order."""
    names = mentioned_names(note.body) - {note.author.lower()}
    if not names:
        return []
    known = set(
        session.scalars(
            select(func.lower(StaffUser.username)).where(
                func.lower(StaffUser.username).in_(sorted(names)), StaffUser.active.is_(True)
            )
        )
    )
    return sorted(names - known)


def unseen_count(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(NoteMention)
            .where(NoteMention.user_id == user_id, NoteMention.seen_at.is_(None))
        )
        or 0
    )


#: The Mentions page's length: older ones are reached by "Next page".
PAGE_SIZE = 100


def mention_rows(
    session: Session, user_id: int, limit: int = PAGE_SIZE, cursor: str | None = None
) -> list[dict[str, Any]]:
    """The user's mentions, newest first, unseen ones marked; from `cursor` (a row's own) on."""
    query = (
        select(NoteMention.id, NoteMention.seen_at, Note, Message.subject, preview_column())
        .join(Note, Note.id == NoteMention.note_id)
        .join(Message, Message.id == Note.message_id)
        .where(NoteMention.user_id == user_id)
        .order_by(NoteMention.id.desc())
        .limit(limit)
    )
    if (after := _position(cursor)) is not None:
        query = query.where(NoteMention.id < after)
    rows = session.execute(query).all()
    return [
        {
            "note_id": note.id,
            "message_id": note.message_id,
            "subject": subject,
            "title": headline(subject, preview),
            "author": note.author,
            "body": note.body,
            "at": note.created_at.isoformat(),
            "seen": seen_at is not None,
            "cursor": encode_cursor(None, mention_id),
        }
        for mention_id, seen_at, note, subject, preview in rows
    ]


def mention_list(
    session: Session, user_id: int, cursor: str | None = None, size: int = PAGE_SIZE
) -> Page:
    """One page of the user's mentions, with how many there are in all and the page's place."""
    rows = mention_rows(session, user_id, size + 1, cursor)
    mine = select(func.count()).select_from(NoteMention).where(NoteMention.user_id == user_id)
    total = session.scalar(mine) or 0
    after = _position(cursor)
    before = 0 if after is None else session.scalar(mine.where(NoteMention.id >= after)) or 0
    next_cursor = str(rows[size - 1]["cursor"]) if len(rows) > size else None
    return Page(rows[:size], total, before, next_cursor)


def _position(cursor: str | None) -> int | None:
    """The mention a cursor names; None (from the newest) for anything else."""
    decoded = decode_cursor(cursor) if cursor else None
    return decoded[1] if decoded is not None and decoded[0] is None else None


def mark_seen(session: Session, user_id: int, message: Message | None = None) -> int:
    """Opening a message sees the mentions in its conversation's notes; None sees them all."""
    notes = select(Note.id)
    if message is not None:
        on_message = Note.message_id == message.id
        notes = notes.where(
            or_(on_message, Note.conversation_id == message.conversation_id)
            if message.conversation_id is not None
            else on_message
        )
    return session.execute(
        update(NoteMention)
        .where(
            NoteMention.user_id == user_id,
            NoteMention.seen_at.is_(None),
            NoteMention.note_id.in_(notes),
        )
        .values(seen_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
