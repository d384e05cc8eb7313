"""The webhook edge: the raw body is committed first, then split into queue rows and receipts.

A body that cannot be split keeps its raw row with the reason; a customer message becomes a
`received` message keyed by the platform's message id, so a redelivery stores nothing new;
echoes and statuses update the outbox and are never drafted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, load_only, sessionmaker

from responder.channels.social import PLATFORM
from responder.channels.social.changes import (
    AWAITING,
    apply_change,
    cut_body,
    lock_channel,
    note_redelivery,
    prune_pending,
    unsend,
    unsend_waiting,
    unsent_document,
    was_unsent,
)
from responder.channels.social.events import InboundDM, Receipt, Split, split_meta, split_x
from responder.channels.social.outside import record_outside_reply
from responder.db.models import Channel, Message, OutboxItem, WebhookDelivery, utcnow
from responder.db.session import transaction
from responder.pipeline.notify import announce_work
from responder.pipeline.states import State

log = logging.getLogger(__name__)

#: How `IngestOutcome.summary` marks a body it could not read, and each event it did not use.
MALFORMED_MARK = "malformed: "
IGNORED_MARK = "; ignored: "

#: A receipt never moves the outbox backwards (a late "delivered" after "read" changes nothing).
RANK = {"": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 9}


@dataclass(frozen=True)
class IngestOutcome:
    delivery_id: int
    stored: int = 0
    duplicates: int = 0
    receipts: int = 0
    changes: int = 0
    awaiting: int = 0
    outside: int = 0
    ignored: tuple[str, ...] = ()
    malformed: str = ""

    def summary(self) -> str:
        if self.malformed:
            return f"{MALFORMED_MARK}{self.malformed}"
        parts = [
            f"{self.stored} stored",
            f"{self.duplicates} already stored",
            f"{self.receipts} outbox updates",
        ]
        if self.changes:
            parts.append(f"{self.changes} edited or deleted by the customer")
        if self.awaiting:
            parts.append(
                f"{self.awaiting} deleted by the customer before it came in "
                "(it is stored without its words when it does)"
            )
        if self.outside:
            parts.append(f"{self.outside} answered outside Responder")
        return ", ".join(parts) + "".join(f"{IGNORED_MARK}{r}" for r in self.ignored)


def record_delivery(factory: sessionmaker[Session], source: str, body: bytes) -> int:
    """Raw first: committed before any parsing, so nothing a platform sent is lost."""
    with transaction(factory) as session:
        delivery = WebhookDelivery(source=source, body=body)
        session.add(delivery)
        session.flush()
        return delivery.id


def ingest(factory: sessionmaker[Session], source: str, body: bytes) -> IngestOutcome:
    return process_delivery(factory, record_delivery(factory, source, body))


def process_delivery(factory: sessionmaker[Session], delivery_id: int) -> IngestOutcome:
    with transaction(factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise LookupError(f"webhook delivery {delivery_id} not found")
        try:
            payload = json.loads(delivery.body)
            split = (split_meta if delivery.source == "meta" else split_x)(payload)
        except (ValueError, RecursionError) as exc:
            outcome = IngestOutcome(delivery_id, malformed=str(exc)[:500] or type(exc).__name__)
        else:
            # Unsent in this very body, or before it came: stored without the words.
            deleted = {c.external_key for c in split.changes if c.deleted}
            _lock_channels(session, split, alone=bool(deleted))
            cut: set[str] = set()
            stored = sum(
                _store_message(session, dm, delivery_id, deleted, cut) for dm in split.messages
            )
            receipts, outside = 0, []
            for receipt in split.receipts:
                matched = apply_receipt(session, receipt)
                receipts += matched
                if not matched and receipt.status == "sent" and receipt.document is not None:
                    outside.append(_outside(session, receipt))
            answers = [apply_change(session, change, delivery_id) for change in split.changes]
            unused = [a for a in answers if a != AWAITING]
            # This body is split now: its copy of every message unsent loses the words too.
            if cut or deleted:
                delivery.body = cut_body(delivery.body, cut | deleted) or delivery.body
            outcome = IngestOutcome(
                delivery_id,
                stored=stored,
                duplicates=len(split.messages) - stored,
                receipts=receipts,
                changes=unused.count(""),
                awaiting=answers.count(AWAITING),
                outside=outside.count(""),
                ignored=(*split.ignored, *filter(None, unused), *filter(None, outside)),
            )
        delivery.outcome = outcome.summary()
        delivery.processed_at = utcnow()
        delivery.failed_at = None
    if outcome.malformed or outcome.ignored:
        log.warning("%s webhook %s: %s", delivery.source, delivery_id, outcome.summary())
    else:
        log.info("%s webhook %s: %s", delivery.source, delivery_id, outcome.summary())
    return outcome


def _lock_channels(session: Session, split: Split, *, alone: bool) -> None:
    """Every channel the body stores messages in or unsends from is locked up front, in one
    order: alone when it holds an unsend (one kept for later locks its channel alone), else to
    share (as storing a message does). Taken one by one as the body is split, two bodies for
    one Page could each hold a share and wait for the other's to upgrade: a deadlock."""
    accounts = {(dm.kind, dm.account_id) for dm in split.messages}
    accounts |= {(c.kind, c.account_id) for c in split.changes if c.deleted}
    if not accounts:
        return
    ids = session.scalars(
        select(Channel.id)
        .where(or_(*(and_(Channel.kind == k, Channel.address == a) for k, a in accounts)))
        .order_by(Channel.id)
    )
    for channel_id in list(ids):
        lock_channel(session, channel_id, share=not alone)


def note_failure(
    factory: sessionmaker[Session], delivery_id: int, exc: BaseException, max_attempts: int
) -> int:
    """A try at splitting a stored body raised (and was rolled back): count it and keep the
    error, so the body is given up after `max_attempts` and shown to a person with why."""
    error = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:1000]
    with transaction(factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.processed_at is not None:
            return 0
        delivery.attempts += 1
        delivery.outcome = error
        attempts = delivery.attempts
        if attempts >= max_attempts and delivery.failed_at is None:
            delivery.failed_at = utcnow()
    if attempts >= max_attempts:
        log.error(
            "webhook delivery %s given up after %d attempts (Needs attention): %s",
            delivery_id,
            attempts,
            error,
        )
    else:
        log.warning(
            "webhook delivery %s not split (attempt %d of %d): %s",
            delivery_id,
            attempts,
            max_attempts,
            error,
        )
    return attempts


def retry_unprocessed(
    factory: sessionmaker[Session], older_than: timedelta, max_attempts: int = 5
) -> int:
    """Bodies stored but never split (the process died in between, or splitting raised) are
    split now, oldest first and each on its own: one that raises is counted and the next is
    still tried. A failed one waits `older_than`, then twice as long after each try; after
    `max_attempts` it waits for a person (Needs attention), as the platform, answered
    already, never sends it again. Unsends kept for messages that never came are dropped."""
    now = utcnow()
    with transaction(factory) as session:
        prune_pending(session, now)
    with factory() as session:
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.received_at, WebhookDelivery.attempts)
            .where(
                WebhookDelivery.processed_at.is_(None),
                WebhookDelivery.failed_at.is_(None),
                WebhookDelivery.received_at < now - older_than,
            )
            .order_by(WebhookDelivery.id)
        ).all()
    stored = 0
    for delivery_id, received_at, attempts in rows:
        if received_at + older_than * 2 ** max(attempts - 1, 0) > now:
            continue  # tried lately
        try:
            stored += process_delivery(factory, delivery_id).stored
        except SQLAlchemyError as exc:
            if not _counted(factory, delivery_id, exc, max_attempts):
                raise  # the database itself, not this body: the next round tries again
        except Exception as exc:
            note_failure(factory, delivery_id, exc, max_attempts)
    return stored


def _counted(
    factory: sessionmaker[Session], delivery_id: int, exc: BaseException, max_attempts: int
) -> bool:
    try:
        note_failure(factory, delivery_id, exc, max_attempts)
    except SQLAlchemyError:
        log.exception("webhook delivery %s failed and could not be marked so", delivery_id)
        return False
    return True


def channel_names(kind: str, account_id: str) -> tuple[str, str]:
    """What staff see a new account's channel called: the platform's name, or, when another
    channel has that name already (a second WhatsApp number), the name with the account id."""
    return PLATFORM[kind], f"{PLATFORM[kind]} {account_id}"


def channel_for(session: Session, kind: str, account_id: str, *, create: bool) -> Channel | None:
    """One channel per platform account (Page, Instagram account, WhatsApp number, X user),
    found by its kind and account id; its name is only for people."""
    query = select(Channel).where(Channel.kind == kind, Channel.address == account_id)
    channel = session.scalar(query)
    if channel is not None or not create:
        return channel
    for name in channel_names(kind, account_id):
        try:
            with session.begin_nested():
                channel = Channel(name=name, kind=kind, address=account_id)
                session.add(channel)
            return channel
        except IntegrityError:  # another worker made it first, or the name is taken
            channel = session.scalar(query)
            if channel is not None:
                return channel
    return None


def _store_message(
    session: Session, dm: InboundDM, delivery_id: int, deleted: set[str], cut: set[str]
) -> bool:
    """Stored once, keyed by the platform's id. One the customer unsent before it was stored
    (in this body: `deleted`; earlier: a kept unsend) is stored without its words; its id goes
    into `cut`, as does a redelivered one whose stored copy was unsent, so this body loses them;
    a redelivered one not unsent names this body in its stored event, for an unsend to cut."""
    channel = channel_for(session, dm.kind, dm.account_id, create=True)
    assert channel is not None
    key = dm.external_key[:500]
    exists = session.execute(
        select(Message.id, Message.raw).where(
            Message.channel_id == channel.id, Message.external_key == key
        )
    ).first()
    if exists:
        if was_unsent(exists.raw) or note_redelivery(session, exists.id, delivery_id):
            cut.add(dm.external_key)
        return False
    # The delivery it came in is named, so an unsend can cut the words from that body too.
    document = {**dm.document, "delivery": delivery_id}
    unsent = dm.external_key in deleted or unsend_waiting(session, channel, key)
    if unsent:
        document = unsent_document(document, dm.external_key)
        cut.add(dm.external_key)
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode()
    message = Message(
        channel_id=channel.id,
        direction="in",
        external_key=key,
        raw=raw,
        raw_size=len(raw),
        state=State.RECEIVED,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return False
    if unsent:
        unsend(session, message)
    announce_work(session)
    return True


def _outside(session: Session, echo: Receipt) -> str:
    channel = channel_for(session, echo.kind, echo.account_id, create=False)
    if channel is None:
        return f"{echo.kind} message sent outside Responder from an account we do not hold"
    return record_outside_reply(session, channel, echo)


def apply_receipt(session: Session, receipt: Receipt) -> int:
    """Echo, delivered, read or failed: find our sent replies it speaks of and record it.

    A watermark ("everything up to then") is matched to the replies to that one customer in
    SQL, by the message each answered, and only the columns recorded here are read: a channel's
    sent replies (with their bytes) are never loaded to find the few a receipt speaks of."""
    channel = channel_for(session, receipt.kind, receipt.account_id, create=False)
    if channel is None:
        return 0
    found: set[int] = set()
    ids = [i for i in receipt.external_ids if i]
    if ids:
        found.update(
            session.scalars(
                select(OutboxItem.id).where(
                    OutboxItem.channel_id == channel.id, OutboxItem.external_id.in_(ids)
                )
            )
        )
    if receipt.watermark is not None and receipt.recipient_id:
        lower = [s for s, rank in RANK.items() if rank < RANK[receipt.status]]
        found.update(
            session.scalars(
                select(OutboxItem.id)
                .join(Message, Message.id == OutboxItem.message_id)
                .where(
                    OutboxItem.channel_id == channel.id,
                    OutboxItem.state == "sent",
                    OutboxItem.sent_at <= receipt.watermark,
                    OutboxItem.delivery_status.in_(lower),
                    Message.sender_address == receipt.recipient_id,
                )
            )
        )
    if not found:
        log.info("%s %s receipt matches no reply we sent", receipt.kind, receipt.status)
        return 0
    items = session.scalars(
        select(OutboxItem)
        .where(OutboxItem.id.in_(sorted(found)))
        .options(
            load_only(
                OutboxItem.delivery_status,
                OutboxItem.state,
                OutboxItem.last_error,
                OutboxItem.message_id,
            )
        )
    )
    for item in items:
        _record(session, item, receipt)
    return len(found)


def _record(session: Session, item: OutboxItem, receipt: Receipt) -> None:
    if RANK[receipt.status] <= RANK.get(item.delivery_status, 0):
        return
    item.delivery_status = receipt.status
    if receipt.status != "failed":
        return
    platform = PLATFORM.get(receipt.kind, receipt.kind)
    item.state = "failed"
    reason = receipt.error or "no reason given"
    item.last_error = f"{platform} could not deliver the reply: {reason}"
    message = session.get(Message, item.message_id)
    if message is not None and message.state == State.SENT:
        message.state = State.FAILED
        message.state_reason = item.last_error
