"""A customer's unsend or edit (Messenger, Instagram) applied to the message stored for it.

Unsent: the customer took the words back (a card number sent by mistake, say), so they go from
every copy Responder keeps of the message: its text and search text, its files from the
platform, and its stored event, which keeps only who sent it, when, and that it was deleted. A
message still waiting for its answer is ignored with why, its drafts stale; one answered keeps
its state and its history (the reply, the outbox row), only the customer's words are gone. The
stored event stays a valid one, so any later parse of it (a retry) reads "deleted" again, never
the old words; the webhook body it came in is cut the same way.

Edited: the stored event takes the new text, so a parse reads it; a message still in the
pipeline or awaiting review is sent to be parsed again (`reparse.forget_parse`), its draft
marked stale as it answers the old words. One already answered (or being sent) keeps the words
its reply answered: the edit is listed as not used.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, undefer

from responder.channels.social.events import DELETED_REASON, DELETED_TEXT, Change
from responder.db.models import (
    Attachment,
    Channel,
    ClassifierExample,
    Draft,
    Message,
    MessageSearchText,
    WebhookDelivery,
    utcnow,
)
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


def apply_change(session: Session, change: Change) -> str:
    """Apply it to the stored message; "" when applied, else why not (listed as not used)."""
    verb = "deleted" if change.deleted else "edited"
    what = f"{change.kind} message {change.external_key} {verb} by the customer"
    channel = session.scalar(
        select(Channel).where(Channel.kind == change.kind, Channel.address == change.account_id)
    )
    message = None
    if channel is not None:
        message = session.scalar(
            select(Message)
            .where(
                Message.channel_id == channel.id,
                Message.external_key == change.external_key[:500],
                Message.direction == "in",
            )
            .options(undefer(Message.raw))
            .with_for_update()
        )
    if message is None:
        return f"{what} is not stored here"
    if change.deleted:
        _unsend(session, message)
        return ""
    if message.state not in (*PARSE_AGAIN, *EVENT_ONLY):
        return f"{what} after it was answered or closed ({message.state}): its words are kept"
    return _edit(session, message, change.text or "", what)


def _document(message: Message) -> dict[str, Any] | None:
    try:
        document = json.loads(message.raw)
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


def _unsend(session: Session, message: Message) -> None:
    document = _document(message)
    body = _event_message(document) if document else None
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
        message.state = State.IGNORED
        message.state_reason = DELETED_REASON
        message.attempts = 0
        message.next_attempt_at = None
        _forget_drafts(session, message.id)
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
    """The raw webhook body the message came in (named in its stored event) loses its words
    too, once split (one waiting to be split still needs its every event), so no copy of them
    is left. A redelivery of it stored as a duplicate is not traced and keeps them."""
    delivery_id = document.get("delivery")
    if not isinstance(delivery_id, int):
        return  # stored before messages named their delivery
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.processed_at is None:
        return
    cut = _cut(delivery.body, message.external_key)
    if cut is not None:
        delivery.body = cut


def _cut(body: bytes, mid: str) -> bytes | None:
    """The body with the words and files of message `mid` taken out; None if it has none."""
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
            if isinstance(sent, dict) and sent.get("mid") == mid and not sent.get("is_deleted"):
                event["message"] = {"mid": mid, "is_deleted": True}
                changed = True
    return json.dumps(payload, ensure_ascii=False).encode() if changed else None
