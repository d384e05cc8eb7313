"""The pipeline's stages: each takes messages in one state and moves them to the next.

Every stage re-reads its messages and checks their state inside its transaction, so running a
stage twice (after a crash, or in two workers) changes nothing the second time. A stage writes
a whole batch in one transaction (the models run before it opens): a crash leaves the batch as
it was, and a failure makes the worker run the batch again one message at a time.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload, undefer

from responder.acknowledge import queue_acknowledgements
from responder.blocklist import BlockList
from responder.channels import EMAIL_KINDS
from responder.channels.delivery import (
    DeliveryHeld,
    DeliveryResult,
    OutgoingReply,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UncertainDeliveryError,
    retry_delay,
)
from responder.channels.imap_state import record_answered
from responder.channels.social import SOCIAL_KINDS
from responder.channels.social.senders import maybe_template, template_in_place
from responder.classify.message import classification_text as joined_text
from responder.classify.message import classify_texts
from responder.config import CustomerSettings, PipelineSettings
from responder.conversations import (
    add_our_message,
    find_or_start_new,
    mark_waiting_drafts_stale,
    written_again,
)
from responder.customers.resolve import create_customers, find_customers, resolve_or_create
from responder.customers.view import read_records
from responder.db.models import (
    Acknowledgement,
    Attachment,
    Channel,
    Customer,
    Message,
    MessageIdClaim,
    OutboxItem,
    utcnow,
)
from responder.db.row_locks import lock_rows
from responder.db.session import after_commit, transaction
from responder.drafting.rule_versions import current_rules
from responder.drafting.service import make_draft, message_text, template_refs
from responder.late_mail import late_reason
from responder.mail.bounces import Bounce, address_list, read_bounce, sent_date
from responder.mail.compose import redated, reply_all_cc
from responder.mail.guard import ignore_reason
from responder.mail.parse import Attachment as ParsedAttachment
from responder.mail.parse import MessageParseError, ParsedEmail, ParseLimits, parse_email
from responder.mail.sender_check import check_sender, unverified_reason
from responder.mail.threading_keys import normalise_subject
from responder.ops.metrics import REPLIES_SENT, SEND_FAILURES, count_when_committed
from responder.pipeline.queue import Claim, message_kept_alive, renew
from responder.pipeline.sender_cap import BatchSenderCap, Sender, sender_key
from responder.pipeline.social import (
    INSTEAD_MARK,
    MAYBE_INSTEAD_MARK,
    instead_header,
    parse_social,
    reply_details,
)
from responder.pipeline.states import State, state_words
from responder.pipeline.taken_over import Outcome, TakenOver, after_taken_over, while_held
from responder.pipeline.template_going import (
    QUEUED_AGAIN,
    TemplateGoing,
    cut_off,
    going,
    held_behind,
    hold_conversation,
    replaced,
    withdraw,
)
from responder.queue_order import churn_is_high, due_at, sentiment_of, urgency_of
from responder.review import ReviewError, approve, current_drafts
from responder.runtime import Runtime
from responder.search_text import index_message
from responder.snooze import wake_conversations

log = logging.getLogger(__name__)


class StageCrash(BaseException):
    """Stands for the process dying mid-stage (tests raise it); never caught by the worker."""


@dataclass(frozen=True)
class Stage:
    """`run` takes the claimed ids and the worker's claim on them (None outside a worker)."""

    name: str
    takes: State
    run: Callable[[Runtime, Sequence[int], Claim | None], None]


@overload
def storable(value: str, limit: int | None = None) -> str: ...
@overload
def storable(value: None, limit: int | None = None) -> None: ...


def storable(value: str | None, limit: int | None = None) -> str | None:
    """Text a database column accepts: PostgreSQL refuses NUL and enforces VARCHAR lengths.

    The raw bytes stay untouched in Message.raw; only the parsed copy is cleaned.
    """
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    return value[:limit] if limit is not None else value


def parse_limits(pipeline: PipelineSettings) -> ParseLimits:
    """The parser's bounds from [pipeline] settings."""
    return ParseLimits(
        max_attachment_bytes=pipeline.max_attachment_bytes,
        max_mime_parts=pipeline.max_mime_parts,
        max_mime_depth=pipeline.max_mime_depth,
        max_header_bytes=pipeline.max_header_bytes,
    )


Row = TypeVar("Row", Channel, Customer)


def _load_batch(
    session: Session, ids: Sequence[int], state: State, *, with_raw: bool = False
) -> list[Message]:
    """The batch's messages still in `state`, in id order; `with_raw` in the same query (the
    raw bytes are deferred, so reading them later would cost a query a message).

    The row locks make a second worker whose lease overlapped wait, then see the new state.
    """
    query = (
        select(Message)
        .where(Message.id.in_(list(ids)), Message.state == state)
        .order_by(Message.id)
        .with_for_update()
    )
    if with_raw:
        query = query.options(undefer(Message.raw))
    return list(session.scalars(query))


def _read_batch(session: Session, ids: Sequence[int], state: State) -> list[Message]:
    """The batch's messages in `state`, unlocked, for the model work done before writing."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.id.in_(list(ids)), Message.state == state)
            .order_by(Message.id)
        )
    )


def _by_id(session: Session, model: type[Row], ids: set[int]) -> dict[int, Row]:
    """Rows of one table for a batch, in one query."""
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _move(message: Message, state: State, reason: str = "") -> None:
    """Change a message's state; the change is logged once its transaction commits, so a log
    reader (an operator, a test, another process) never sees a change the database lacks."""
    message.state = state
    message.state_reason = reason
    message.attempts = 0
    message.next_attempt_at = None
    session = object_session(message)
    assert session is not None, "stages move only messages they loaded"
    after_commit(session, partial(_log_move, message.id, state.value))


def _log_move(message_id: int, state: str) -> None:
    extra = {"message_id": message_id, "state": state}
    log.info("message %s -> %s", message_id, state, extra=extra)


# -- parse ---------------------------------------------------------------------------------------


def parse_stage(rt: Runtime, ids: Sequence[int], claim: Claim | None = None) -> None:
    """Parse the batch, then look up its senders and our own reply headers in one query each.

    The parsed fields are written to each message only once its customer exists: creating the
    batch's customers flushes the session, and fields set before it would make every message
    row be written twice in the transaction."""
    with transaction(rt.factory) as session:
        messages = _load_batch(session, ids, State.RECEIVED, with_raw=True)
        channels = _by_id(session, Channel, {m.channel_id for m in messages})
        blocked = BlockList(session)
        own = rt.own_addresses  # a property that builds the set: once a batch, not per message
        emails: list[tuple[Message, Channel, _ParsedFields, str | None]] = []
        continued: set[int] = set()  # conversations the customer wrote in again
        bounces: dict[int, Bounce] = {}
        for message in messages:
            channel = channels[message.channel_id]
            if channel.kind in SOCIAL_KINDS:
                result = parse_social(
                    session,
                    message,
                    channel,
                    _unblocked if message.guard_override else blocked.reason,
                    phone_region=rt.settings.customers.default_region,
                )
                _move(message, result.state, result.reason)
                if result.state == State.PARSED and message.conversation_id is not None:
                    continued.add(message.conversation_id)
            elif channel.kind in EMAIL_KINDS:
                parsed = _parse_email(rt, message)
                if parsed is not None:
                    guard = ignore_reason(parsed, own_addresses=own)
                    if (bounce := read_bounce(parsed)) is not None:
                        bounces[message.id] = bounce
                    fields = _ParsedFields.of(parsed, own, rt.settings.guard.trusted_authserv_id)
                    emails.append((message, channel, fields, guard))
        headers = [f.message_id_header for _, _, f, _ in emails if f.message_id_header]
        ours = set(
            session.scalars(
                select(OutboxItem.message_id_header).where(
                    OutboxItem.message_id_header.in_(headers)
                )
            )
            if headers
            else ()
        )
        copies = _earlier_copies(session, [(m, c, f) for m, c, f, _ in emails])
        returned = _returned_replies(session, bounces)
        known = find_customers(
            session, "email", {f.sender_address for _, _, f, _ in emails if f.sender_address}
        )
        cap = BatchSenderCap(
            session,
            [Sender(f.sender_address, m.id, m.received_at) for m, _, f, _ in emails],
            rt.settings.guard.max_drafts_per_sender_per_hour,
        )
        routed: list[tuple[Message, Channel, _ParsedFields]] = []
        for message, channel, fields, reason in emails:
            if reason is None and fields.message_id_header in ours:
                reason = "our own reply came back"
            if reason is None and message.id in copies:
                reason = copies[message.id]
            if message.id in returned:
                reason = returned[message.id]
            if message.guard_override:
                reason = None  # a person read it and asked for a draft
            elif reason is None:
                reason = blocked.reason(fields.sender_address)
            sender = Sender(fields.sender_address, message.id, message.received_at)
            reason = _ignore_reason(sender, reason, cap, overridden=message.guard_override)
            if reason:
                fields.store(session, message, rt.settings.customers.default_region)
                _move(message, State.IGNORED, reason)
            else:
                routed.append((message, channel, fields))
        claimed = _claim_message_ids(session, routed)
        for message, _, fields in routed:
            if message.id in claimed:
                fields.store(session, message, rt.settings.customers.default_region)
                _move(message, State.IGNORED, claimed[message.id])
        routed = [r for r in routed if r[0].id not in claimed]
        unknown = {
            f.sender_address: f.sender_name for _, _, f in routed if f.sender_address not in known
        }
        created = create_customers(session, "email", unknown)
        known.update(created)
        new_customers = {c.id for c in created.values()}
        for message, channel, fields in routed:
            conversation_id = _route_parsed(
                session, message, channel, fields, known, new_customers, rt.settings.customers
            )
            if conversation_id is not None:
                continued.add(conversation_id)
        for woken in wake_conversations(session, continued):
            after_commit(session, partial(_log_move, woken, State.IN_REVIEW.value))
        blocked.record_hits(session)


def _earlier_copies(
    session: Session, emails: Sequence[tuple[Message, Channel, _ParsedFields]]
) -> dict[int, str]:
    """Why each message that another of our mailboxes already took in gets no draft of its
    own: mail to support@ with billing@ copied arrives once in each, and two drafts would
    make two replies. Once one copy holds the Message-ID's claim, the claim decides: that copy
    is answered, parsed again or not (a Retry after it failed), and the copy ignored naming it
    does not count against it. Before any claim, the copy stored first is the one answered.
    Read from the stored Message-IDs (IMAP stores them with the raw bytes) and the batch's
    own, which a Maildir message has only once parsed."""
    headers = {f.message_id_header for _, _, f in emails if f.message_id_header}
    if not headers:
        return {}
    claims = {
        row.message_id_header: row
        for row in session.execute(
            select(MessageIdClaim.message_id_header, Message.id, Message.channel_id, Channel.name)
            .join(Message, Message.id == MessageIdClaim.message_id)
            .join(Channel, Channel.id == Message.channel_id)
            .where(MessageIdClaim.message_id_header.in_(headers))
        )
    }
    stored: dict[str, list[tuple[int, int, str]]] = {}
    rows = session.execute(
        select(Message.id, Message.channel_id, Channel.name, Message.message_id_header)
        .join(Channel, Channel.id == Message.channel_id)
        .where(
            Message.message_id_header.in_(headers - set(claims)),
            Message.direction == "in",
            Channel.kind.in_(EMAIL_KINDS),
        )
    )
    for row in rows:
        stored.setdefault(row.message_id_header, []).append((row.id, row.channel_id, row.name))
    for message, channel, fields in emails:
        if fields.message_id_header:
            stored.setdefault(fields.message_id_header, []).append(
                (message.id, channel.id, channel.name)
            )
    reasons: dict[int, str] = {}
    for message, channel, fields in emails:
        header = fields.message_id_header or ""
        if (claim := claims.get(header)) is not None:
            earlier = [] if claim.id == message.id else [(claim.id, claim.channel_id, claim.name)]
        else:
            earlier = [
                (first, channel_id, name)
                for first, channel_id, name in stored.get(header, ())
                if first < message.id
            ]
        others = [(first, name) for first, channel_id, name in earlier if channel_id != channel.id]
        if others:
            first, name = min(others)
            reasons[message.id] = (
                f"the same message already came in through {name} (message {first})"
            )
    return reasons


def _claim_message_ids(
    session: Session, routed: Sequence[tuple[Message, Channel, _ParsedFields]]
) -> dict[int, str]:
    """Claim the Message-ID of each message about to be drafted; returns why each that another
    mailbox's copy holds already gets no draft. `_earlier_copies` sees the copies committed
    before; this settles two parsed at the same moment by two workers (PostgreSQL): the second
    insert of the key waits for the first transaction, then fails in its savepoint, and the
    copy that claimed first is the one answered. Claimed in Message-ID order, so two batches
    holding copies of the same two messages never wait for each other in a circle. A copy that
    a person asked to have drafted anyway claims nothing; nor does a second message with the
    same Message-ID in the same mailbox, which was never a copy."""
    wanted = sorted(
        (fields.message_id_header, message.id)
        for message, _, fields in routed
        if fields.message_id_header and not message.guard_override
    )
    holders: dict[int, int] = {}
    for header, message_id in wanted:
        holder = _claim(session, header, message_id)
        if holder != message_id:
            holders[message_id] = holder
    if not holders:
        return {}
    found = {
        row.id: row
        for row in session.execute(
            select(Message.id, Message.channel_id, Channel.name)
            .join(Channel, Channel.id == Message.channel_id)
            .where(Message.id.in_(set(holders.values())))
        )
    }
    channels = {message.id: channel.id for message, channel, _ in routed}
    return {
        message_id: f"the same message already came in through {first.name} (message {first.id})"
        for message_id, holder in holders.items()
        if (first := found.get(holder)) is not None and first.channel_id != channels[message_id]
    }


def _claim(session: Session, header: str, message_id: int) -> int:
    """The message holding the claim on `header`: `message_id` when it was free."""
    held = select(MessageIdClaim.message_id).where(MessageIdClaim.message_id_header == header)
    holder = session.scalar(held)
    if holder is not None:
        return holder
    try:
        with session.begin_nested():
            session.add(MessageIdClaim(message_id_header=header, message_id=message_id))
            session.flush()
    except IntegrityError:
        holder = session.scalar(held)
        if holder is None:
            raise
        return holder
    return message_id


def _returned_replies(session: Session, bounces: dict[int, Bounce]) -> dict[int, str]:
    """Put each bounce on the reply or acknowledgement it returns (by its Message-ID in our
    outbox or among the acknowledgements), so that a reply that never arrived is under Needs
    attention instead of reading "sent"; returns the ignore reason of each bounce that names
    one of ours, matched or not."""
    if not bounces:
        return {}
    returned = {b.original_id for b in bounces.values()}
    # Messages before their outbox rows, as sending and Retry lock them: the other order could
    # deadlock with a send of the same reply on PostgreSQL.
    answered = {
        m.id: m
        for m in session.scalars(
            select(Message)
            .where(
                Message.id.in_(
                    select(OutboxItem.message_id).where(OutboxItem.message_id_header.in_(returned))
                )
            )
            .order_by(Message.id)
            .with_for_update()
        )
    }
    items = {
        item.message_id_header: item
        for item in session.scalars(
            select(OutboxItem)
            .where(OutboxItem.message_id_header.in_(returned))
            .order_by(OutboxItem.id)
            .with_for_update()
        )
    }
    acknowledgements = {
        ack.message_id_header: ack
        for ack in session.scalars(
            select(Acknowledgement)
            .where(Acknowledgement.message_id_header.in_(returned - set(items)))
            .order_by(Acknowledgement.id)
            .with_for_update()
        )
    }
    reasons: dict[int, str] = {}
    for bounce_id in sorted(bounces):
        bounce = bounces[bounce_id]
        item = items.get(bounce.original_id)
        ack = acknowledgements.get(bounce.original_id)
        if item is not None and item.message_id in answered:
            reasons[bounce_id] = _return_reply(answered[item.message_id], item, bounce)
        elif ack is not None:
            reasons[bounce_id] = _return_acknowledgement(session, ack, bounce)
    return reasons


@dataclass(frozen=True)
class _Addressed:
    """Whom one of our messages went to, from its bytes as last sent (lower-cased)."""

    to: set[str]
    copied: set[str]

    @staticmethod
    def of(raw: bytes | None, recipients: Sequence[str]) -> _Addressed:
        if not raw:
            return _Addressed({r.lower() for r in recipients}, set())
        to = address_list(raw, "to")
        return _Addressed(to, address_list(raw, "cc") - to)


def _mismatch(bounce: Bounce, addressed: _Addressed) -> str:
    """Why a report naming one of our Message-IDs is not the delivery failure of that message
    ("" when it is): anyone can write one, and a forged one must not fail a reply that
    arrived. It must be a delivery status notification, and say that delivery failed to an
    address the message went to."""
    if bounce.form_problem:
        return bounce.form_problem
    if not bounce.failures_for(addressed.to | addressed.copied).failures:
        return f"the failed recipient it names ({bounce.named()}) is not one it was sent to"
    return ""


def _return_reply(message: Message, item: OutboxItem, bounce: Bounce) -> str:
    """The reply is failed (with the server's answer), unless the report is not that reply's
    delivery failure (`_mismatch`), or the reply is no longer the one that bounced: failed or
    left unsent already, sent again since (its Date is later than the returned copy's), or
    returned only for addresses it copied, whom the customer's copy does not depend on (then
    it stays sent, the failure noted on it, as a refused Cc is)."""
    ours = message.direction == "out"
    reply = f"our message {message.id}" if ours else f"our reply to message {message.id}"
    head = f"delivery status report (bounce) of {reply}"
    addressed = _Addressed.of(item.raw, item.recipients)
    if mismatch := _mismatch(bounce, addressed):
        return (
            f"delivery status report (bounce) naming {reply}, which could not be matched to it: "
            f"{mismatch}: left as it is"
        )
    if message.state != State.SENT or item.state != "sent":
        return f"{head}, which is {state_words(message.state, ours=ours)} now: left as it is"
    if _earlier_attempt(bounce, item):
        return f"{head}, from an attempt before it was sent again: left as it is"
    failed = bounce.failures_for(addressed.to | addressed.copied)
    if not failed.failures_for(addressed.to).failures:
        note = f"sent, but {failed.reason()}"
        if note not in message.state_reason:
            message.state_reason = "; ".join(filter(None, (message.state_reason, note)))
        return f"{head}, for copied addresses only: it stays sent, the failure noted on it"
    item.state = "failed"
    item.last_error = failed.reason()
    _move(message, State.FAILED, failed.reason())
    return f"{head}: now failed, under Needs attention"


def _return_acknowledgement(session: Session, ack: Acknowledgement, bounce: Bounce) -> str:
    """The automatic acknowledgement did not reach the customer: marked `bounced` with the
    server's answer, shown where it is (the message's page, and our message in the
    conversation). One left `uncertain` did go out, then. Nothing is sent again or in answer:
    it said only "we have your message", and the reply a person writes goes out on its own."""
    what = f"the automatic acknowledgement of message {ack.message_id}"
    addressed = _Addressed.of(ack.raw, ack.recipients)
    if mismatch := _mismatch(bounce, addressed):
        return (
            f"delivery status report (bounce) naming {what}, which could not be matched to it: "
            f"{mismatch}: left as it is"
        )
    head = f"delivery status report (bounce) of {what}"
    if ack.state not in {"sent", "uncertain"}:
        return f"{head}, which is {ack.state} now: left as it is"
    failed = bounce.failures_for(addressed.to | addressed.copied)
    ack.state, ack.last_error = "bounced", failed.reason()
    ours = session.scalar(
        select(Message).where(
            Message.direction == "out", Message.message_id_header == ack.message_id_header
        )
    )
    if ours is not None:
        ours.state_reason = f"sent, but {failed.reason()}"
    return f"{head}: marked as returned on that message"


def _earlier_attempt(bounce: Bounce, item: OutboxItem) -> bool:
    """The bounce returns a copy dated before the one last sent (a retry redates it)."""
    sent = sent_date(item.raw) if item.raw else None
    returned = bounce.original_date
    if sent is None or returned is None or (sent.tzinfo is None) != (returned.tzinfo is None):
        return False
    return returned < sent


@dataclass(frozen=True)
class _ParsedFields:
    """What the parse stage stores on a message, cut to the columns' sizes, held as plain data
    until the message is written once."""

    message_id_header: str | None
    in_reply_to: str | None
    references: list[str]
    subject: str
    sender_address: str
    sender_key: str
    sender_name: str
    reply_to: list[list[str]]
    reply_cc: list[list[str]]
    sent_at: datetime | None
    text: str
    new_text: str
    html: str | None
    defects: list[str]
    sender_check: dict[str, object] | None
    attachments: tuple[ParsedAttachment, ...]

    @staticmethod
    def of(parsed: ParsedEmail, own_addresses: frozenset[str], authserv_id: str) -> _ParsedFields:
        sender = parsed.sender
        checked = None
        if authserv_id:
            domain = sender.address.rpartition("@")[2] if sender else ""
            checked = check_sender(parsed.headers, domain, authserv_id).as_json()
        return _ParsedFields(
            message_id_header=storable(parsed.message_id, 500),
            in_reply_to=storable(parsed.in_reply_to, 500),
            references=[storable(r, 500) for r in parsed.references],
            subject=storable(parsed.subject, 2000),
            sender_address=storable(sender.address if sender else "", 320),
            sender_key=storable(sender_key(sender.address) if sender else "", 320),
            sender_name=storable(sender.name if sender else "", 300),
            reply_to=[[storable(a.name, 300), storable(a.address, 320)] for a in parsed.reply_to],
            reply_cc=[
                [storable(a.name, 300), storable(a.address, 320)]
                for a in reply_all_cc(parsed, own_addresses)
            ],
            sent_at=parsed.date,
            text=storable(parsed.text),
            new_text=storable(parsed.new_text),
            html=storable(parsed.html),
            defects=[storable(d, 500) for d in parsed.defects],
            sender_check=checked,
            attachments=parsed.attachments,
        )

    def store(self, session: Session, message: Message, phone_region: str) -> None:
        """Every field onto the message's column of the same name; the attachments as rows."""
        for column in dataclasses.fields(self):
            if column.name != "attachments":
                setattr(message, column.name, getattr(self, column.name))
        index_message(session, message, phone_region)
        for attachment in self.attachments:
            session.add(
                Attachment(
                    message_id=message.id,
                    filename=storable(attachment.filename, 500),
                    content_type=storable(attachment.content_type, 200),
                    size=attachment.size,
                    content=attachment.content,
                )
            )


def _parse_email(rt: Runtime, message: Message) -> ParsedEmail | None:
    """The message parsed; None when it was quarantined instead."""
    limit = rt.settings.pipeline.max_message_bytes
    if message.raw_size > limit:
        _move(
            message,
            State.QUARANTINED,
            f"message is {message.raw_size:,} bytes, over the {limit:,} byte limit "
            "([pipeline] max_message_bytes); raw kept",
        )
        return None
    try:
        return parse_email(message.raw, limits=parse_limits(rt.settings.pipeline))
    except MessageParseError as exc:
        _move(message, State.QUARANTINED, f"cannot parse: {exc}")
        return None


def _unblocked(_: str) -> str | None:
    return None


def _ignore_reason(
    sender: Sender, reason: str | None, cap: BatchSenderCap, *, overridden: bool = False
) -> str | None:
    """Why not to draft for it (guard, loop, cap); a message that goes on counts for the cap.
    A person's override lifts every rule but the one nobody can: no address, no reply."""
    if reason is None and not sender.address:
        reason = "no sender address to reply to"
    if reason is None and not overridden:
        reason = cap.reason(sender)
    if reason is None:
        cap.counts(sender)
    return reason


def _route_parsed(
    session: Session,
    message: Message,
    channel: Channel,
    fields: _ParsedFields,
    known: dict[str, Customer],
    new_customers: set[int],
    customers: CustomerSettings,
) -> int | None:
    """Attach it to its customer (found or created for the batch) and its conversation, then
    write it: nothing is set on the message before the conversation look-up, whose query
    flushes the session (it must see the batch's earlier messages), so each row is written once.
    Returns the conversation when it is one the customer wrote in before.

    `new_customers`: ids created for this batch whose first message is still to come; a new
    customer has no conversation to look for, their later messages in the batch do."""
    customer, new_customer = resolve_or_create(
        session,
        "email",
        fields.sender_address,
        fields.sender_name,
        known=known.get(fields.sender_address),
        looked_up=True,
    )
    new_customer = new_customer or customer.id in new_customers
    new_customers.discard(customer.id)
    known[fields.sender_address] = customer  # the batch's next message from them finds it
    conversation, started = find_or_start_new(
        session,
        channel_id=channel.id,
        customer_id=customer.id,
        header_ids=[fields.in_reply_to or "", *reversed(fields.references)],
        subject_key=storable(normalise_subject(fields.subject), 500),
        thread_key=fields.message_id_header or "",
        now=message.received_at,
        customer_is_new=new_customer,
        flush=False,
    )
    fields.store(session, message, customers.default_region)
    message.customer_id = customer.id
    if started:  # inserted with the batch's other new conversations
        message.conversation = conversation
    else:
        message.conversation_id = conversation.id
    _move(message, State.PARSED)
    if started:
        return None
    # Its UPDATE flushes the session: the message is complete by then.
    mark_waiting_drafts_stale(session, conversation.id, message.id)
    return conversation.id


# -- classify ------------------------------------------------------------------------------------


def classification_text(message: Message) -> str:
    return joined_text(message.subject, message.new_text or message.text)


def classify_stage(rt: Runtime, ids: Sequence[int], claim: Claim | None = None) -> None:
    with rt.factory() as session:
        rows = _read_batch(session, ids, State.PARSED)
    if not rows:
        return
    texts = [classification_text(m) for m in rows]
    vectors = rt.message_vectors([m.id for m in rows], texts)
    results = classify_texts(
        rt.classifiers(rt.settings.classify.pipeline),
        rt.language_identifier,
        texts,
        vectors,
        rt.settings.classify.intent_threshold,
    )
    by_id = {m.id: r for m, r in zip(rows, results, strict=True)}
    with transaction(rt.factory) as session:
        for current in _load_batch(session, list(by_id), State.PARSED):
            result = by_id[current.id]
            intent = result.predictions["intent"]
            current.intent = intent.label
            current.intent_confidence = round(intent.confidence, 4)
            current.language = result.language.for_reply(
                rt.settings.classify.language_min_confidence
            )
            current.classification = result.as_json()
            if current.language is None and result.language.code:
                current.classification["language"]["unsure"] = True
            _move(current, State.CLASSIFIED)


# -- draft ---------------------------------------------------------------------------------------


def draft_stage(rt: Runtime, ids: Sequence[int], claim: Claim | None = None) -> None:
    with rt.factory() as session:
        rows = _read_batch(session, ids, State.CLASSIFIED)
        if not rows:
            return
        vectors = rt.message_vectors([m.id for m in rows], [classification_text(m) for m in rows])
        found = rt.entity_extractor.extract_many(
            [message_text(m) for m in rows], [m.language for m in rows]
        )
        index = rt.snippet_index(session)
        templates = template_refs(session)
        rules = current_rules(session, rt.settings)
    computed = {m.id: (v, e) for m, v, e in zip(rows, vectors, found, strict=True)}
    with transaction(rt.factory) as session:
        batch = _load_batch(session, list(computed), State.CLASSIFIED)
        drafted = current_drafts(session, [m.id for m in batch])
        to_draft = [m for m in batch if m.id not in drafted]
        customer_ids = {m.customer_id for m in to_draft if m.customer_id}
        # Held here so they stay in the identity map for make_draft's session.get (it keeps
        # only weak references), with their identities loaded; the channels likewise.
        channels = list(
            session.scalars(select(Channel).where(Channel.id.in_({m.channel_id for m in batch})))
        )
        customers = list(
            session.scalars(
                select(Customer)
                .where(Customer.id.in_(customer_ids))
                .options(selectinload(Customer.identities))
            )
        )
        records = read_records(
            session,
            sorted(customer_ids),
            rt.settings,
            utcnow(),
            contact_days=rules.actions.contact_days,
        )
        stale = written_again(session, to_draft)
        for current in batch:
            vector, entities = computed[current.id]
            if current.id not in drafted:
                draft = make_draft(
                    rt,
                    session,
                    current,
                    vector,
                    index=index,
                    templates=templates,
                    entities=entities,
                    rules=rules,
                    records=records,
                )
                draft.stale = current.id in stale
                session.add(draft)
            _move(current, State.DRAFTED)
        del customers, channels


# -- route ---------------------------------------------------------------------------------------


def route_stage(rt: Runtime, ids: Sequence[int], claim: Claim | None = None) -> None:
    """To a person, unless a supervisor turned auto-send on for this channel and intent."""
    with transaction(rt.factory) as session:
        batch = _load_batch(session, ids, State.DRAFTED)
        drafts = current_drafts(session, [m.id for m in batch])
        channels = _by_id(session, Channel, {m.channel_id for m in batch})
        customers = _by_id(session, Customer, {m.customer_id for m in batch if m.customer_id})
        waiting: list[tuple[Message, Channel | None, Customer | None]] = []
        for message in batch:
            message_id = message.id
            _move(message, State.IN_REVIEW)
            channel = channels.get(message.channel_id)
            draft = drafts.get(message_id)
            customer = customers.get(message.customer_id) if message.customer_id else None
            message.urgency = urgency_of(message.classification or {})
            message.sentiment = sentiment_of(message.classification or {})
            message.customer_tier = customer.tier if customer else ""
            message.due_at = due_at(
                message.received_at,
                urgency=message.urgency,
                tier=message.customer_tier,
                churn_high=churn_is_high(draft.grounding if draft else {}),
                settings=rt.settings.queue,
            )
            threshold = (channel.auto_send or {}).get(message.intent or "") if channel else None
            unverified = unverified_reason(message.sender_check)
            late = late_reason(message) if channel and channel.kind in EMAIL_KINDS else ""
            if threshold is not None and unverified:
                message.state_reason = f"not sent automatically: {unverified}"
            elif threshold is not None and late:
                message.state_reason = f"not sent automatically: {late}"
            elif (
                threshold is not None
                and draft is not None
                and not draft.error
                and draft.body.strip()
                and (message.intent_confidence or 0.0) >= float(threshold)
            ):
                session.flush()
                try:
                    with session.begin_nested():
                        approve(
                            session,
                            message_id,
                            None,
                            rt.settings.outbound,
                            auto_submitted=True,
                            timezone=rt.settings.queue.timezone,
                        )
                except ReviewError as exc:
                    # Approval writes the state in SQL and reads it back: the rolled-back
                    # savepoint leaves that read in memory, so read it again.
                    session.refresh(message)
                    message.state_reason = f"not sent automatically: {exc}"
            if message.state == State.IN_REVIEW:
                # A person's now, no longer this batch's: approved while the batch still runs,
                # it waits out its undo window unclaimed, so Undo can stop it.
                message.claimed_by, message.claimed_until = None, None
            waiting.append((message, channel, customer))
        queue_acknowledgements(session, rt.settings, waiting)


# -- send ----------------------------------------------------------------------------------------


def _reply_for(item: OutboxItem, kind: str, **details: Any) -> OutgoingReply:
    return OutgoingReply(
        outbox_id=item.id,
        channel_kind=kind,
        message_id_header=item.message_id_header,
        recipients=tuple(item.recipients or ()),
        raw=item.raw or b"",
        body=item.body,
        subject=item.subject,
        **details,
    )


def send_stage(rt: Runtime, ids: Sequence[int], claim: Claim | None = None) -> None:
    """One by one, the lease on the rest renewed before each and the one in hand's kept alive
    while it is delivered: slow servers can make a batch outlast a lease, and a message
    another worker has claimed since is left to it."""
    for done, message_id in enumerate(ids):
        if claim is not None:
            renew(rt.factory, claim.worker_id, ids[done:], claim.lease_seconds)
        _send_one(rt, message_id, claim)


def _take(session: Session, message: Message, claim: Claim | None) -> bool:
    """Approved (or sending, left by a stopped worker) to sending, a compare-and-set on the
    state seen, the claim and the back-off: a person's Undo, or a second worker whose claim
    followed a lapsed lease, may have taken it meanwhile, and one of the two must not send it;
    nor may a reply be taken before the back-off its last failure set ends."""
    held = [] if claim is None else [Message.claimed_by == claim.worker_id]
    taken = session.execute(
        update(Message)
        .where(Message.id == message.id, Message.state == message.state, _due(), *held)
        .values(state=State.SENDING)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def _due() -> ColumnElement[bool]:
    """Not waiting out a back-off (a failure for the moment's, `_settle`)."""
    return or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= utcnow())


def _let_go(session: Session, message_id: int, claim: Claim | None) -> None:
    """This worker's claim on a message it leaves untaken: claimable by any worker once due."""
    if claim is not None:
        session.execute(
            update(Message)
            .where(Message.id == message_id, Message.claimed_by == claim.worker_id)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def _send_one(rt: Runtime, message_id: int, claim: Claim | None = None) -> None:
    with transaction(rt.factory) as session:
        message = session.get(Message, message_id)
        if message is None or message.state not in (State.APPROVED, State.SENDING):
            return
        if message.next_attempt_at is not None and message.next_attempt_at > utcnow():
            # Claimed while another worker was still delivering it, whose delivery has since
            # failed for the moment and queued it again: its back-off holds for this one too.
            _let_go(session, message_id, claim)
            log.info(
                "message %s: waiting out its back-off (%s), not sent here",
                message_id,
                message.state_reason,
                extra={"message_id": message_id, "stage": "send"},
            )
            return
        if not _take(session, message, claim):
            # Its claim, if still this worker's, is let go: a back-off set meanwhile is waited
            # out, not this worker's whole lease.
            _let_go(session, message_id, claim)
            log.info(
                "message %s: taken meanwhile (another worker, or undone) or queued again, not"
                " sent here",
                message_id,
                extra={"message_id": message_id, "stage": "send"},
            )
            return
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
        channel = session.get(Channel, message.channel_id)
        if item is None or channel is None:
            _move(message, State.FAILED, "approved but no reply in the outbox")
            return
        details: dict[str, Any] = {}
        if channel.kind in SOCIAL_KINDS:
            hold_conversation(session, message, channel)
            details = reply_details(session, message, channel)
        taken = utcnow()
        reply = _reply_for(item, channel.kind, at=taken, **details)
        if message.state == State.SENDING:
            delivered = rt.sender.was_delivered(reply)
            if delivered:
                _mark_sent(session, message, item, channel.kind)
                return
            if delivered is None:
                _mark_cut_off(rt, session, message, item, reply)
                return
        item.state = "sending"
        item.attempts += 1
        item.taken_at = taken
        message.state = State.SENDING
        template = _template_going(rt, session, message, item, reply, taken)
        if channel.kind in EMAIL_KINDS and item.raw:
            # Dated by this attempt (a retry's, or the one after the undo window), the
            # Message-ID fixed at approval: what went out last is what is stored.
            item.raw = redated(item.raw, utcnow())
            reply = dataclasses.replace(reply, raw=item.raw)
    # One delivery may outlast the lease (a slow relay, a platform slow to answer): the claim
    # is kept alive until it returns, so no other worker marks it uncertain meanwhile.
    lease: AbstractContextManager[None] = (
        nullcontext() if claim is None else message_kept_alive(rt.factory, claim, message_id)
    )
    outcome: Outcome
    try:
        with lease:
            outcome = rt.sender.deliver(reply)
    except (TemporaryDeliveryError, UncertainDeliveryError, PermanentDeliveryError) as exc:
        outcome = exc
    take = _Take(message_id, reply, taken, template, claim)
    try:
        _settle(rt, take, outcome)
    except TakenOver as over:
        known = partial(_known_sent, rt, take, outcome)
        extra = {"message_id": message_id, "stage": "send"}
        after_taken_over(over, outcome, known, f"message {message_id}", extra)


@dataclass(frozen=True)
class _Take:
    """One take of a reply to send: its outcome is recorded only while the take and the claim
    are still this worker's (`_holding`)."""

    message_id: int
    reply: OutgoingReply
    taken: datetime
    template: TemplateGoing | None
    claim: Claim | None


@contextmanager
def _holding(rt: Runtime, take: _Take) -> Iterator[tuple[Session, Message, OutboxItem]]:
    """The message and its outbox row, changed in one transaction only while they are still
    in this take (sending, dated by it): else another worker has taken the send over since
    and recorded what it found, or taken it again (`taken_over.while_held`). Another
    worker's claim alone, before it has done anything with the reply, does not stop this
    write: its send then finds the outcome (the take is a compare-and-set on the state under
    the same lock), where stopping it would leave a reply that went to be marked uncertain."""

    def taken_by(session: Session) -> str | None:
        message, item = _locked(session, take)
        held = (
            message.state == State.SENDING
            and item.state == "sending"
            and item.taken_at == take.taken
        )
        return None if held else item.state

    with while_held(rt.factory, taken_by) as session:
        message = session.get(Message, take.message_id)
        item = session.get(OutboxItem, take.reply.outbox_id)
        assert message is not None and item is not None
        yield session, message, item


def _locked(session: Session, take: _Take) -> tuple[Message, OutboxItem]:
    """The take's message and outbox row, locked in that order until the transaction ends:
    a worker claiming the message meanwhile waits for this one's write, or this one reads
    its claim."""
    lock_rows(session, Message.updated_at, Message.id == take.message_id)
    lock_rows(session, OutboxItem.state, OutboxItem.id == take.reply.outbox_id)
    message = session.get(Message, take.message_id)
    item = session.get(OutboxItem, take.reply.outbox_id)
    assert message is not None and item is not None
    return message, item


def _settle(rt: Runtime, take: _Take, outcome: Outcome) -> None:
    """The delivery's outcome recorded, while the take is still this worker's."""
    outbound = rt.settings.outbound
    message_id, reply, template = take.message_id, take.reply, take.template
    try:
        if isinstance(outcome, Exception):
            raise outcome
        result = outcome
    except TemporaryDeliveryError as exc:
        SEND_FAILURES.labels("temporary").inc()
        with _holding(rt, take) as (session, message, item):
            if template is not None:
                withdraw(session, message, template)
            item.last_error = str(exc)
            if item.attempts >= outbound.max_attempts:
                item.state = "failed"
                _move(message, State.FAILED, f"gave up after {item.attempts} attempts: {exc}")
                return
            delay = retry_delay(exc, outbound.retry_base_seconds, item.attempts)
            log.warning(
                "message %s: sending failed, retrying in %.0fs: %s",
                message_id,
                delay,
                exc,
                extra={"message_id": message_id, "stage": "send"},
            )
            item.state = "queued"
            item.next_attempt_at = utcnow() + timedelta(seconds=delay)
            message.state = State.APPROVED
            # When, as pages say times: "retrying in 86400s" read the same a day later.
            zone = rt.settings.queue.timezone
            when = item.next_attempt_at.astimezone(ZoneInfo(zone))
            message.state_reason = f"retrying at {when:%Y-%m-%d %H:%M} {zone}: {exc}"
            message.next_attempt_at = item.next_attempt_at
        return
    except UncertainDeliveryError as exc:
        SEND_FAILURES.labels("uncertain").inc()
        log.warning(
            "message %s: delivery uncertain, not sent again: %s",
            message_id,
            exc,
            extra={"message_id": message_id, "stage": "send"},
        )
        with _holding(rt, take) as (session, message, item):
            _mark_uncertain(message, item, str(exc), exc.what)
            if exc.instead:
                _add_instead(session, message, item, exc.instead, MAYBE_INSTEAD_MARK)
        return
    except PermanentDeliveryError as exc:
        SEND_FAILURES.labels("permanent").inc()
        with _holding(rt, take) as (session, message, item):
            held = isinstance(exc, DeliveryHeld)
            behind = held_behind(session, message, reply) if held else ""
            if behind is None:
                _queued_again(message, item)
                return
            if template is not None:
                withdraw(session, message, template)
            item.state = "held" if held else "failed"
            item.held_behind = behind or None
            item.last_error = str(exc)
            _move(message, State.FAILED, str(exc) if held else f"delivery refused: {exc}")
        return
    with _holding(rt, take) as (session, message, item):
        _record_sent(session, message, item, take, result)


def _known_sent(rt: Runtime, take: _Take, result: Outcome) -> bool:
    """The worker that took it over could not tell whether it went (`uncertain`, the message
    failed for staff to check); this one's delivery (`result`, one that went) says it did:
    recorded as any delivery that went, not a question left for staff."""
    assert not isinstance(result, Exception)
    with transaction(rt.factory) as session:
        message, item = _locked(session, take)
        if item.state != "uncertain" or message.state != State.FAILED:
            return False
        _record_sent(session, message, item, take, result)
    return True


def _record_sent(
    session: Session,
    message: Message,
    item: OutboxItem,
    take: _Take,
    result: DeliveryResult | None,
) -> None:
    """What went out: the reply, or what went in its place (a WhatsApp template)."""
    if take.template is not None:  # what went out is recorded as certain below
        replaced(session, message, take.template)
    if result is not None and result.instead:
        _mark_sent_instead(session, message, item, result, take.reply.channel_kind)
        return
    if result is not None:
        item.external_id = result.external_id
    _mark_sent(session, message, item, take.reply.channel_kind)
    if result is not None and result.note:
        message.state_reason = result.note


def _queued_again(message: Message, item: OutboxItem) -> None:
    """Held behind a template that a send taken just before it in the conversation was
    sending, and that has since been withdrawn (it did not go out): due again now, as if it had
    not met it, its attempt given back (it never reached the platform)."""
    item.state, item.last_error, item.next_attempt_at = "queued", "", None
    item.attempts -= 1
    _move(message, State.APPROVED, QUEUED_AGAIN)


def _mark_uncertain(message: Message, item: OutboxItem, why: str, what: str = "") -> None:
    """It may have gone out and nobody can ask (a worker stopped mid-send, or the platform's
    answer was lost): never sent again by itself; staff check, then retry or leave it."""
    item.state = "uncertain"
    ours = what or ("message" if message.direction == "out" else "reply")  # out: staff wrote it
    item.last_error = (
        f"{why}; the server may have accepted the {ours}. "
        "Check the recipient's copy before retrying, which would send it again."
    )
    _move(message, State.FAILED, f"delivery uncertain: {item.last_error}")


def _mark_cut_off(
    rt: Runtime, session: Session, message: Message, item: OutboxItem, reply: OutgoingReply
) -> None:
    """A worker stopped mid-send and the platform cannot be asked. Outside WhatsApp's window
    what was being sent is the approved template, not the reply: staff are told so, and it
    counts as maybe sent (`template_sent`), so a Retry or another reply sends no second one.
    Its take recorded it so, dated by the take (`template_going`); a send taken by a worker of
    an earlier version did not, and is judged by the window now."""
    header = instead_header(item.message_id_header, MAYBE_INSTEAD_MARK)
    template, recorded = cut_off(session, message, header, reply, rt.settings.social, item.taken_at)
    if not template:
        _mark_uncertain(message, item, "the worker stopped during delivery")
        return
    what, instead = maybe_template(template)
    _mark_uncertain(
        message,
        item,
        f"the worker stopped during delivery of the approved template {template!r}, sent in "
        "the reply's place outside WhatsApp's reply window (the reply itself was not sent)",
        what,
    )
    if not recorded:
        _add_instead(session, message, item, instead, MAYBE_INSTEAD_MARK)


def _template_going(
    rt: Runtime,
    session: Session,
    message: Message,
    item: OutboxItem,
    reply: OutgoingReply,
    taken: datetime,
) -> TemplateGoing | None:
    """Outside WhatsApp's window the template goes in the reply's place: recorded as maybe
    sent in the take, dated `taken`, under the conversation's lock, so a send taken at the
    same moment in the same conversation holds its reply instead of sending a second one."""
    template = template_in_place(reply, rt.settings.social, taken)
    if not template:
        return None
    header = instead_header(item.message_id_header, MAYBE_INSTEAD_MARK)
    record = going(session, message, header, taken)
    _add_instead(session, message, item, maybe_template(template)[1], MAYBE_INSTEAD_MARK, taken)
    return record


def _add_instead(
    session: Session,
    message: Message,
    item: OutboxItem,
    instead: str,
    mark: str,
    at: datetime | None = None,
) -> None:
    """What went out in a reply's place (`mark` INSTEAD_MARK), or may have (MAYBE_INSTEAD_MARK:
    its answer was lost), shown in the conversation, dated `at` (else now); a WhatsApp template
    either way, counted for the one-template rule (`template_sent`). Its Message-ID is its own,
    so the reply keeps its own for when it goes out, and one per reply, so it is found again."""
    add_our_message(
        session,
        message,
        message_id_header=instead_header(item.message_id_header, mark),
        raw=instead.encode(),
        raw_size=len(instead.encode()),
        subject=item.subject,
        text=instead,
        sent_at=at or utcnow(),
    )


def _mark_sent_instead(
    session: Session, message: Message, item: OutboxItem, result: DeliveryResult, kind: str
) -> None:
    """Something else went out in the reply's place (a WhatsApp template outside the reply
    window): the conversation shows what the customer received, and the reply itself is held,
    under Needs attention, for a person to retry once the customer writes again. Neither the
    reply nor the question is recorded as sent or answered."""
    item.state, item.held_behind = "held", None
    item.last_error = result.note
    _move(message, State.FAILED, result.note)
    _add_instead(session, message, item, result.instead, INSTEAD_MARK)
    count_when_committed(session, REPLIES_SENT.labels(kind, "template"))


def _mark_sent(session: Session, message: Message, item: OutboxItem, kind: str) -> None:
    """A reply: the customer's message is answered, and what we sent is added to its
    conversation. A new message staff wrote (`responder.outbound`) is that outbound row itself:
    it only records when it left. Counted once committed (a channel of `kind`)."""
    now = utcnow()
    item.state = "sent"
    item.sent_at = now
    item.last_error = ""
    _move(message, State.SENT)
    what = "new_message" if message.direction == "out" else "reply"
    count_when_committed(session, REPLIES_SENT.labels(kind, what))
    if message.direction == "out":
        message.sent_at = now  # its raw bytes were stored with it, the outbox row's own
        return
    record_answered(session, message)
    add_our_message(
        session,
        message,
        message_id_header=item.message_id_header,
        raw=item.raw or item.body.encode(),
        raw_size=len(item.raw or b""),
        subject=item.subject,
        text=item.body,
        sent_at=now,
    )


STAGES: tuple[Stage, ...] = (
    Stage("parse", State.RECEIVED, parse_stage),
    Stage("classify", State.PARSED, classify_stage),
    Stage("draft", State.CLASSIFIED, draft_stage),
    Stage("route", State.DRAFTED, route_stage),
    Stage("send", State.APPROVED, send_stage),
    Stage("recover-send", State.SENDING, send_stage),
)
