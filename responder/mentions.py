"""@mentions in internal notes: "@bob, she asked for you" reaches bob under Mentions, with a
count in the menu, until he opens the conversation. A name that is not an active colleague's
is left as plain text, and an address such as aoife@gmail.com is never a mention; a colleague
whose name is an address (@aoife@company.ie) is named by all of it."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from responder.db.keyset import Page, decode_cursor, encode_cursor
from responder.db.models import Message, Note, NoteMention, StaffUser, utcnow
from responder.display import headline, preview_column

#: An @ that starts a word (not one inside an address: aoife@gmail.com, x.@bob, @@bob), and
#: what follows it up to a space: a name, perhaps with "@" or "." in it (aoife@company.ie).
#: Punctuation or a slash before another @ ends it: "@bob,@carol" and "@bob/@carol" are two.
MENTION = re.compile(r"""(?<![\w@.])@([^\s@](?:(?![,;:/!?)\]}'"]@)\S)*)""")
TRAILING = ".,;:!?)]}'\""


def _spellings(word: str) -> list[str]:
    """What an @word may name, longest first, lower-cased: the word, then the word without each
    further piece of the punctuation that ends a sentence ("@bob," names bob; a name that ends
    in a full stop is still found); nothing for punctuation alone ("@, " names nobody)."""
    word = word.lower()
    found = [word]
    while word[-1] in TRAILING:
        word = word[:-1]
        if not word:
            return []
        found.append(word)
    return found


def _words(body: str) -> list[list[str]]:
    return [spellings for m in MENTION.finditer(body) if (spellings := _spellings(m.group(1)))]


def mentioned_names(body: str, known: Collection[str] = ()) -> set[str]:
    """Every @name in the text, lower-cased: the longest of the `known` names (lower-cased) that
    the word after the @ spells, else the word without the punctuation that ends a sentence."""
    return {next((w for w in words if w in known), words[-1]) for words in _words(body)}


def _named(session: Session, note: Note) -> tuple[dict[int, str], list[str]]:
    """The active colleagues the note names (id: name; not its author), and the @names no
    active colleague has, in name order. Names are matched whatever their case, as sign-in
    matches them."""
    words = _words(note.body)
    asked = sorted({w for spellings in words for w in spellings})
    if not asked:
        return {}, []
    people: dict[str, dict[int, str]] = {}
    for user_id, username in session.execute(
        select(StaffUser.id, StaffUser.username).where(
            func.lower(StaffUser.username).in_(asked), StaffUser.active.is_(True)
        )
    ):
        # two accounts made before names were kept apart whatever their case: both are told
        people.setdefault(username.lower(), {})[user_id] = username
    names = mentioned_names(note.body, people.keys()) - {note.author.lower()}
    named = {user_id: name for n in names for user_id, name in people.get(n, {}).items()}
    return named, sorted(names - people.keys())


def record_mentions(session: Session, note: Note) -> list[str]:
    """The active colleagues the note names (not its author) and did not name before (an
    edit may add a name), in name order; each finds it under Mentions."""
    named, _ = _named(session, note)
    already = set(
        session.scalars(select(NoteMention.user_id).where(NoteMention.note_id == note.id))
    )
    told = {user_id: name for user_id, name in named.items() if user_id not in already}
    for user_id in told:
        session.add(NoteMention(note_id=note.id, user_id=user_id))
    session.flush()
    return sorted(told.values(), key=str.lower)


def drop_unnamed(session: Session, note: Note) -> list[str]:
    """After an edit, the mentions of colleagues the note no longer names ("@bob" mended to
    "@rob"), seen or not, are taken back: it is no longer a note to them. Their names, in name
    order. A colleague since deactivated who is still named keeps theirs."""
    still = {w for spellings in _words(note.body) for w in spellings}
    gone = [
        (mention_id, username)
        for mention_id, username in session.execute(
            select(NoteMention.id, StaffUser.username)
            .join(StaffUser, StaffUser.id == NoteMention.user_id)
            .where(NoteMention.note_id == note.id)
        )
        if username.lower() not in still
    ]
    if gone:
        session.execute(delete(NoteMention).where(NoteMention.id.in_([i for i, _ in gone])))
    return sorted((username for _, username in gone), key=str.lower)


def unmatched_names(session: Session, note: Note) -> list[str]:
    """The @names in the note that are no active colleague's (a misspelt name, someone who has
    left): nobody was told, so the author is, in name order."""
    return _named(session, note)[1]


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
