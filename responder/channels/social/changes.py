"""A customer's unsend or edit (Messenger, Instagram) applied to the message stored for it.

Unsent: the customer took the words back (a card number sent by mistake, say), so they go from
every copy Responder keeps of the message: its text and search text, its files from the
platform, and its stored event, which keeps only who sent it, when, and that it was deleted. A
message still waiting for its answer is ignored with why, its drafts stale; one answered keeps
its state and its history (the reply, the outbox row), only the customer's words are gone. The
stored event stays a valid one, so any later parse of it (a retry) reads "deleted" again, never
the old words; the webhook bodies it came in (the first and every redelivery, named in the
stored event) are cut the same way.

An unsend may come before the message it names is stored: in the same body (the body is cut
once split), or while the message's body waits to be split or has not come yet. It is then kept
(`pending_unsends`) and the message is stored without its words when it comes, ignored like
any other unsent message; one that never comes is dropped after `PENDING_UNSEND_DAYS`, unless
a body received by then still waits to be split (it may hold the message).

Edited: the stored event takes the new text, so a parse reads it; a message still in the
pipeline or awaiting review is sent to be parsed again (`reparse.forget_parse`), its draft
marked stale as it answers the old words. One already answered (or being sent) keeps the words
its reply answered: the edit is listed as not used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from responder.channels.social.events import DELETED_REASON, DELETED_TEXT, Change
from responder.db.models import (
    Attachment,
    Channel,
    ClassifierExample,
    Draft,
    Message,
    MessageSearchText,
    PendingUnsend,
    WebhookDelivery,
    utcnow,
)
from responder.db.row_locks import lock_rows
from responder.pipeline.notify import announce_work
from responder.pipeline.reparse import forget_parse
from responder.pipeline.states import State
from responder.search_text import index_message

log = logging.getLogger(__name__)

#: Not answered yet: an unsent message among these gets no answer (ignored, with why).
UNANSWERED = (
    State.RECEIVED,
    State.PARSED,
    State.CLASSIFIED,
    State.DRAFTED,
    State.IN_REVIEW,
    State.SNOOZED,
    State.QUARANTINED,
    State.IGNORED,
)
#: Parsed and not yet answered: an edited message among these is parsed again.
PARSE_AGAIN = (State.PARSED, State.CLASSIFIED, State.DRAFTED, State.IN_REVIEW, State.SNOOZED)
#: A stored event not parsed yet, or not parseable: the edit goes into the event only.
EVENT_ONLY = (State.RECEIVED, State.QUARANTINED, State.IGNORED)
#: What `apply_change` answers for an unsend kept until its message is stored.
AWAITING = "awaiting its message"
#: An unsend whose message never came is dropped after this many days (see `prune_pending`).
PENDING_UNSEND_DAYS = 30


def apply_change(session: Session, change: Change, delivery_id: int | None = None) -> str:
    """Apply it to the stored message: "" when applied, `AWAITING` for an unsend kept until its
    message is stored, else why not (listed as not used)."""
    verb = "deleted" if change.deleted else "edited"
    what = f"{change.kind} message {change.external_key} {verb} by the customer"
    channel = session.scalar(
        select(Channel).where(Channel.kind == change.kind, Channel.address == change.account_id)
    )
    message = _stored(session, channel, change.external_key)
    if message is None and change.deleted:
        return _await_message(session, channel, change, delivery_id)
    if message is None:
        return f"{what} is not stored here"
    if change.deleted:
        unsend(session, message)
        return ""
    if message.state not in (*PARSE_AGAIN, *EVENT_ONLY):
        return f"{what} after it was answered or closed ({message.state}): its words are kept"
    return _edit(session, message, change.text or "", what)


def _stored(session: Session, channel: Channel | None, external_key: str) -> Message | None:
    if channel is None:
        return None
    return session.scalar(
        select(Message)
        .where(
            Message.channel_id == channel.id,
            Message.external_key == external_key[:500],
            Message.direction == "in",
        )
        .options(undefer(Message.raw))
        .with_for_update()
    )


def _await_message(
    session: Session, channel: Channel | None, change: Change, delivery_id: int | None
) -> str:
    """The unsend came before its message: kept, to be applied when the message is stored.
    The channel's row is locked first; a body storing a message locks it to share before it
    looks for an unsend (`unsend_waiting`), so that body either committed first (the message
    is found now) or finds this row once we commit: never both missed."""
    if channel is not None:
        lock_channel(session, channel.id)
        message = _stored(session, channel, change.external_key)
        if message is not None:
            unsend(session, message)
            return ""
    key = change.external_key[:500]
    wanted = (
        PendingUnsend.kind == change.kind,
        PendingUnsend.account_id == change.account_id,
        PendingUnsend.external_key == key,
    )
    if session.scalar(select(PendingUnsend.id).where(*wanted)) is None:
        try:
            with session.begin_nested():
                session.add(
                    PendingUnsend(
                        kind=change.kind,
                        account_id=change.account_id,
                        external_key=key,
                        delivery_id=delivery_id,
                    )
                )
        except IntegrityError:
            pass  # the same unsend, redelivered into another worker's hands: kept once
    log.info("%s message %s deleted before it was stored: kept for it", change.kind, key)
    return AWAITING


def unsend_waiting(session: Session, channel: Channel, external_key: str) -> bool:
    """Whether the customer unsent this message before it is stored (the kept unsend is used
    up). The channel's row is locked to share first: see `_await_message`."""
    lock_channel(session, channel.id, share=True)
    found = session.scalar(
        select(PendingUnsend).where(
            PendingUnsend.kind == channel.kind,
            PendingUnsend.account_id == channel.address,
            PendingUnsend.external_key == external_key[:500],
        )
    )
    if found is None:
        return False
    session.delete(found)
    return True


def lock_channel(session: Session, channel_id: int, *, share: bool = False) -> None:
    """The channel's row locked until commit: to share by a body storing a message, alone by
    one keeping an unsend (SQLite: its one writer's lock)."""
    lock_rows(session, Channel.address, Channel.id == channel_id, share=share)


def note_redelivery(session: Session, message_id: int, delivery_id: int) -> bool:
    """A stored message came again in another body: that body is named in its stored event
    (`deliveries`), so an unsend cuts the words from it too. Whether it was unsent already
    (this body is then cut when split). The message's row is locked first (written first on
    SQLite), so an unsend at the same moment reads this or this reads its "deleted"."""
    lock_rows(session, Message.updated_at, Message.id == message_id)
    message = session.scalar(
        select(Message)
        .where(Message.id == message_id)
        .options(undefer(Message.raw))
        .execution_options(populate_existing=True)
    )
    document = _document(message) if message is not None else None
    if message is None or document is None:
        return False
    body = _event_message(document)
    if body is not None and body.get("is_deleted"):
        return True
    named = _deliveries(document)
    if delivery_id not in named:
        listed = document.get("deliveries")
        document["deliveries"] = [*(listed if isinstance(listed, list) else []), delivery_id]
        _store(message, document)
    return False


def _deliveries(document: dict[str, Any]) -> list[int]:
    """The bodies a message came in: the first (`delivery`) and any redelivery."""
    listed = document.get("deliveries")
    named = [document.get("delivery"), *(listed if isinstance(listed, list) else [])]
    return [d for d in named if isinstance(d, int) and not isinstance(d, bool)]


def unsent_document(document: dict[str, Any], external_key: str) -> dict[str, Any]:
    """A message's stored event as an unsent one keeps it: who sent it and when, not what."""
    event = document.get("event")
    event = dict(event) if isinstance(event, dict) else {}
    event["message"] = {"mid": external_key, "is_deleted": True}
    return {**document, "event": event}


def was_unsent(raw: bytes | None) -> bool:
    """Whether a stored message's event says the customer deleted it."""
    document = _document_of(raw or b"")
    body = _event_message(document) if document else None
    return bool(body and body.get("is_deleted"))


def prune_pending(session: Session, now: datetime) -> int:
    """Unsends kept `PENDING_UNSEND_DAYS` for a message that never came are dropped, unless a
    body received by a day after the unsend still waits to be split (or was given up and may
    be retried): it may hold the message, which must not be stored with its words then."""
    cutoff = now - timedelta(days=PENDING_UNSEND_DAYS)
    oldest = session.scalar(
        select(func.min(WebhookDelivery.received_at)).where(WebhookDelivery.processed_at.is_(None))
    )
    if oldest is not None:
        cutoff = min(cutoff, oldest - timedelta(days=1))
    dropped = session.execute(
        delete(PendingUnsend).where(PendingUnsend.received_at < cutoff)
    ).rowcount
    if dropped:
        log.info("%d unsend(s) dropped: their messages never came", dropped)
    return dropped


def _document(message: Message) -> dict[str, Any] | None:
    return _document_of(message.raw)


def _document_of(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _store(message: Message, document: dict[str, Any]) -> None:
    message.raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode()
    message.raw_size = len(message.raw)


def _event_message(document: dict[str, Any]) -> dict[str, Any] | None:
    event = document.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("message"), dict):
        return None
    return event["message"]


def unsend(session: Session, message: Message) -> None:
    """Its words out of every copy; not answered yet, it is ignored with why. Also for a
    message stored after its unsend came, already without its words."""
    document = _document(message)
    body = _event_message(document) if document else None
    readable = document is not None and body is not None
    if document is None or body is None:  # unreadable: nothing of it is worth keeping
        document = {"platform": "", "account_id": "", "event": {}}
    document["event"]["message"] = {"mid": message.external_key, "is_deleted": True}
    _store(message, document)
    _scrub_webhook_bodies(session, message, document)
    session.execute(
        delete(Attachment).where(
            Attachment.message_id == message.id, Attachment.remote.is_not(None)
        )
    )
    session.execute(delete(MessageSearchText).where(MessageSearchText.message_id == message.id))
    if message.text or message.new_text:
        message.text = message.new_text = DELETED_TEXT
        index_message(session, message)  # still found by its sender, not by its words
    message.html = None
    if message.state in UNANSWERED:
        _forget_drafts(session, message.id)
    # One not parsed yet stays to be: the parse reads "deleted" in its event and ignores it
    # with why, knowing who sent it (found by its sender, as any unsent message).
    if message.state in UNANSWERED and not (message.state == State.RECEIVED and readable):
        message.state = State.IGNORED
        message.state_reason = DELETED_REASON
        message.attempts = 0
        message.next_attempt_at = None
    # A correction's example holds the message's words: the model must not keep learning them.
    taught = session.execute(
        delete(ClassifierExample).where(ClassifierExample.message_id == message.id)
    ).rowcount
    message.version += 1
    message.updated_at = utcnow()
    log.info(
        "message %s: %s (%s; %d classifier example(s) removed)",
        message.id,
        DELETED_REASON,
        message.state,
        taught,
    )


def _edit(session: Session, message: Message, text: str, what: str) -> str:
    document = _document(message)
    body = _event_message(document) if document else None
    if document is None or body is None:
        return f"{what}: its stored event cannot be read"
    if body.get("is_deleted"):
        return f"{what} after it was deleted: the deletion stands"
    body["text"] = text
    _store(message, document)
    if message.state in PARSE_AGAIN:
        _stale_drafts(session, message.id)
        forget_parse(session, [message.id], keep_platform_files=True)
        message.state = State.RECEIVED
        message.state_reason = ""
        message.attempts = 0
        message.next_attempt_at = None
        announce_work(session)
    elif message.state == State.IGNORED and message.text:
        message.text = message.new_text = text
        session.execute(delete(MessageSearchText).where(MessageSearchText.message_id == message.id))
        index_message(session, message)
    message.version += 1
    message.updated_at = utcnow()
    log.info("message %s: edited by the customer (%s)", message.id, message.state)
    return ""


def _forget_drafts(session: Session, message_id: int) -> None:
    """The unanswered message's drafts go stale and lose what they quoted of its words (the
    reply text and the numbers and names found in it); a sent reply's draft is our history."""
    for draft in session.scalars(select(Draft).where(Draft.message_id == message_id)):
        draft.stale = True
        draft.body = ""
        draft.grounding = {
            key: value for key, value in (draft.grounding or {}).items() if key != "entities"
        }


def _stale_drafts(session: Session, message_id: int) -> None:
    session.execute(
        update(Draft)
        .where(Draft.message_id == message_id, Draft.stale.is_(False))
        .values(stale=True)
    )


def _scrub_webhook_bodies(session: Session, message: Message, document: dict[str, Any]) -> None:
    """The raw webhook bodies the message came in (named in its stored event: the first and
    every redelivery) lose its words too, once split (one waiting to be split still needs its
    every event; one being split is cut by `ingest.process_delivery` when done), so no copy of
    them is left. A message stored before messages named their delivery names none."""
    for delivery_id in _deliveries(document):
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.processed_at is None:
            continue
        cut = cut_body(delivery.body, {message.external_key})
        if cut is not None:
            delivery.body = cut


def cut_body(body: bytes, mids: Collection[str]) -> bytes | None:
    """The body with the words and files of the messages `mids` taken out; None if it has none
    of them."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    changed = False
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        events = entry.get("messaging") if isinstance(entry, dict) else None
        for event in events if isinstance(events, list) else []:
            sent = event.get("message") if isinstance(event, dict) else None
            mid = sent.get("mid") if isinstance(sent, dict) else None
            if isinstance(mid, str) and mid in mids and not sent.get("is_deleted"):
                event["message"] = {"mid": mid, "is_deleted": True}
                changed = True
    return json.dumps(payload, ensure_ascii=False).encode() if changed else None
