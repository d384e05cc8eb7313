"""The automatic "we have your message" to email (and, if wanted, to direct messages) that
arrives while the team is closed.

Queued by the route stage in the same transaction that puts the message in front of a person
(so a message is acknowledged once or not at all), sent by each worker round apart from the
reply. Only mail that reached the review queue is acknowledged: the ignore rules have already
stopped auto-replies, bounces, lists, blocked senders and our own mail, so nothing answers a
machine. Exactly once like a reply: bytes and Message-ID fixed when queued (the Date set by
each attempt), a claim with a lease while sending, and after a crash the sender is asked
whether it went out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from responder.acknowledgement_text import acknowledgement_body, opens_words, text_locale
from responder.channels import EMAIL_KINDS
from responder.channels.delivery import (
    DeliveryHeld,
    OutgoingReply,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UncertainDeliveryError,
    retry_delay,
)
from responder.channels.social import SOCIAL_KINDS
from responder.channels.social.senders import maybe_template, template_in_place
from responder.config import Settings, business_calendar
from responder.conversations import add_our_message
from responder.db.models import (
    Acknowledgement,
    AuditEntry,
    Channel,
    Customer,
    Message,
    OutboxItem,
    utcnow,
)
from responder.db.row_locks import lock_rows
from responder.db.session import transaction
from responder.display import headline, preview_column
from responder.late_mail import late_reason
from responder.mail.compose import build_reply, make_message_id, redated, reply_subject
from responder.mail.message_ids import thread_references
from responder.mail.parse import Address
from responder.mail.sender_check import unverified_reason
from responder.ops.metrics import ACKNOWLEDGEMENTS_SENT, SEND_FAILURES, count_when_committed
from responder.pipeline.queue import kept_alive
from responder.pipeline.social import (
    INSTEAD_MARK,
    MAYBE_INSTEAD_MARK,
    instead_header,
    reply_details,
    unmarked,
)
from responder.pipeline.states import State
from responder.pipeline.taken_over import Outcome, TakenOver, after_taken_over, while_held
from responder.pipeline.template_going import (
    TemplateGoing,
    cut_off,
    going,
    held_behind,
    hold_conversation,
    replaced,
    withdraw,
)
from responder.review import AlreadyHandled, NotFound, audit, reply_recipients
from responder.runtime import Runtime

log = logging.getLogger(__name__)

#: Acknowledgements one worker round sends at most; the rest wait for the next round.
ROUND = 20


def queue_acknowledgements(
    session: Session,
    settings: Settings,
    waiting: Sequence[tuple[Message, Channel | None, Customer | None]],
    now: datetime | None = None,
) -> list[Acknowledgement]:
    """For the route stage's batch: the emails (and DMs, `acknowledge.social`) now waiting for
    a person that get one."""
    acknowledge = settings.acknowledge
    if not acknowledge.enabled:
        return []
    now = now or utcnow()
    opens: datetime | None = None
    if acknowledge.when == "closed":
        calendar = business_calendar(settings.queue)
        if calendar is None:
            return []
        is_open, opens = calendar.status(now)
        if is_open:
            return []
    kinds = EMAIL_KINDS | (SOCIAL_KINDS if acknowledge.social else frozenset())
    answerable = [
        (m, c, p)
        for m, c, p in waiting
        if c is not None and c.kind in kinds and m.state == State.IN_REVIEW
    ]
    recently = _acknowledged_since(
        session,
        {m.customer_id for m, _, _ in answerable if m.customer_id},
        now - timedelta(hours=acknowledge.once_per_hours),
    )
    # A message routed again (sent back through the pipeline by a person) keeps its one.
    already = set(
        session.scalars(
            select(Acknowledgement.message_id).where(
                Acknowledgement.message_id.in_([m.id for m, _, _ in answerable])
            )
        )
        if answerable
        else ()
    )
    queued = []
    for message, channel, customer in answerable:
        if message.id in already or unverified_reason(message.sender_check):
            continue  # a forged From would get it: backscatter
        if channel is not None and channel.kind in EMAIL_KINDS and (late := late_reason(message)):
            message.state_reason = message.state_reason or f"not acknowledged: {late}"
            continue  # "we have your message" days or years after it was written
        if message.customer_id is not None:
            if message.customer_id in recently:
                continue
            recently.add(message.customer_id)  # one per customer in a batch too
        assert channel is not None
        if not reply_recipients(message):
            continue  # nobody to tell (the reply will say so to the reviewer)
        try:
            queued.append(_queue_one(session, settings, message, channel, customer, opens, now))
        except ValueError as exc:  # the composer refused (an odd header): routing goes on
            log.warning(
                "message %s not acknowledged: %s", message.id, exc, extra={"message_id": message.id}
            )
    return queued


def _acknowledged_since(session: Session, customer_ids: set[int], since: datetime) -> set[int]:
    if not customer_ids:
        return set()
    return set(
        session.scalars(
            select(Acknowledgement.customer_id).where(
                Acknowledgement.customer_id.in_(customer_ids),
                Acknowledgement.created_at > since,
            )
        )
    )


def chosen_text(settings: Settings, language: str) -> tuple[str, str]:
    """The text for a customer writing in `language`, and the locale of its `opens`: that
    language's own text, else the default text, all in English."""
    acknowledge = settings.acknowledge
    if language in acknowledge.texts:
        return acknowledge.texts[language], text_locale(settings.drafting.locales, language)
    return acknowledge.text, ""


def _queue_one(
    session: Session,
    settings: Settings,
    message: Message,
    channel: Channel,
    customer: Customer | None,
    opens: datetime | None,
    now: datetime,
) -> Acknowledgement:
    outbound = settings.outbound
    name = (customer.name if customer and customer.name else "") or message.sender_name
    # The language a draft replies in: the message's, else the customer's on file.
    language = message.language or (customer.language if customer else "") or ""
    text, locale = chosen_text(settings, language)
    body = acknowledgement_body(
        text,
        name=name,
        subject=message.subject or "",
        opens=opens_words(opens, settings.queue.timezone, locale) if opens else "",
        signature=settings.drafting.signature,
    )
    subject = reply_subject(message.subject or "")
    header = make_message_id(outbound.from_address.rpartition("@")[2] or "localhost")
    recipients = reply_recipients(message)
    if channel.kind in SOCIAL_KINDS:  # the text alone, to the customer's id on the platform
        subject, body, raw = "", body.strip(), b""
    else:
        references = thread_references(
            message.references or [], message.in_reply_to, message.message_id_header
        )
        raw = build_reply(
            to=recipients,
            from_=Address(outbound.from_name, outbound.from_address),
            subject=subject,
            body=body,
            message_id=header,
            in_reply_to=message.message_id_header,
            references=references,
            date=now,
            auto_submitted=True,  # RFC 3834: an automatic answer, which others must not answer
            language=language if language in settings.acknowledge.texts else "en",
        )
    acknowledgement = Acknowledgement(
        message_id=message.id,
        channel_id=channel.id,
        customer_id=message.customer_id,
        message_id_header=header,
        recipients=[a.address for a in recipients],
        subject=subject,
        body=body,
        raw=raw,
        state="queued",
        created_at=now,
    )
    session.add(acknowledgement)
    return acknowledgement


def send_acknowledgements(rt: Runtime, now: datetime | None = None) -> int:
    """One round: recover the ones a stopped worker left mid-send, then send those due.
    Any number of workers may run it: each claims its own with a lease."""
    if not rt.settings.acknowledge.enabled:
        return 0
    now = now or utcnow()
    until = now + _lease(rt)  # the claims' end, as `_claim` sets it: their token
    for ack_id in _claim(rt, now, stalled=True):
        _recover(rt, ack_id, until)
    return sum(_send(rt, ack_id, until) for ack_id in _claim(rt, now, stalled=False))


def _lease(rt: Runtime) -> timedelta:
    """A claim on one lasts as long as a claim on a message (`[pipeline] lease_seconds`)."""
    return timedelta(seconds=rt.settings.pipeline.lease_seconds)


def _claim(rt: Runtime, now: datetime, *, stalled: bool) -> list[int]:
    """Queued ones that are due (counting the attempt now), or, `stalled`, ones left
    "sending" whose lease ran out, each until `now` plus a lease. One UPDATE that checks again
    what it claims, so two workers never claim the same one: on PostgreSQL the second waits
    for the first's row lock and then finds the row no longer matches."""
    if stalled:
        wanted = and_(Acknowledgement.state == "sending", Acknowledgement.claimed_until < now)
    else:
        wanted = and_(
            Acknowledgement.state == "queued",
            or_(Acknowledgement.next_attempt_at.is_(None), Acknowledgement.next_attempt_at <= now),
        )
    candidates = select(Acknowledgement.id).where(wanted).order_by(Acknowledgement.id).limit(ROUND)
    claimed: dict[str, Any] = {"state": "sending", "claimed_until": now + _lease(rt)}
    if not stalled:  # one more attempt; dated again by its take (`_reply`): none went yet
        claimed |= {"attempts": Acknowledgement.attempts + 1, "taken_at": None}
    with transaction(rt.factory) as session:
        return sorted(
            session.scalars(
                update(Acknowledgement)
                .where(Acknowledgement.id.in_(candidates.scalar_subquery()), wanted)
                .values(claimed)
                .returning(Acknowledgement.id)
            )
        )


#: Whether an acknowledgement read locked is still this worker's to write (`_changing`).
Holding = Callable[[Acknowledgement], bool]


def _in_take(taken: datetime) -> Holding:
    """Still in this worker's take: sending, dated by it. Another worker's claim alone (a
    lapsed lease claimed, before that worker has recovered it) does not end the take: its
    recovery then finds what this take recorded (`_recover`), where stopping the write would
    leave one that went to be marked uncertain."""
    return lambda ack: ack.state == "sending" and ack.taken_at == taken


def _under_claim(until: datetime) -> Holding:
    """Still under this worker's claim, which runs `until` (its token, as in `_held`)."""
    return lambda ack: ack.state == "sending" and ack.claimed_until == until


@contextmanager
def _changing(
    rt: Runtime, ack_id: int, holding: Holding | None = None
) -> Iterator[tuple[Session, Acknowledgement]]:
    """One change in one transaction; with `holding`, only while it says the acknowledgement,
    read locked, is still this worker's (`taken_over.while_held`: else `TakenOver`, nothing
    written)."""

    def taken_by(session: Session) -> str | None:
        if holding is None:
            return None
        ack = _locked(session, ack_id)
        return None if holding(ack) else ack.state

    with while_held(rt.factory, taken_by) as session:
        ack = session.get(Acknowledgement, ack_id)
        assert ack is not None
        yield session, ack


def _locked(session: Session, ack_id: int) -> Acknowledgement:
    """Locked until the transaction ends: a worker claiming it meanwhile waits for this one's
    write, or this one reads its claim."""
    lock_rows(session, Acknowledgement.state, Acknowledgement.id == ack_id)
    ack = session.get(Acknowledgement, ack_id)
    assert ack is not None
    return ack


def _reply(session: Session, ack: Acknowledgement, *, taking: bool = False) -> OutgoingReply:
    """What goes out; `taking` it to send, under its WhatsApp conversation's lock
    (`template_going`), read and judged now, the take dated (`taken_at`)."""
    channel = session.get(Channel, ack.channel_id)
    assert channel is not None
    details: dict[str, Any] = {}
    if channel.kind in SOCIAL_KINDS:  # our account on the platform, and the reply window
        message = session.get(Message, ack.message_id)
        assert message is not None
        if taking:
            hold_conversation(session, message, channel)
        details |= reply_details(session, message, channel)
    if taking:
        ack.taken_at = details["at"] = utcnow()
    return OutgoingReply(
        outbox_id=ack.id,
        channel_kind=channel.kind,
        message_id_header=ack.message_id_header,
        recipients=tuple(ack.recipients),
        raw=ack.raw,
        body=ack.body,
        subject=ack.subject,
        **details,
    )


def _recover(rt: Runtime, ack_id: int, until: datetime) -> None:
    """A worker stopped while sending it: sent, or not sent (try again), or nobody can tell
    (left alone: a second copy is worse than none). One its round claimed but never took (the
    worker stopped first, or its earlier sends outlasted the lease) did not go: queued again,
    its attempt given back. Only while still under this worker's claim (ending `until`): the
    worker whose lease lapsed may have been delivering it still, and recorded its outcome
    since this claim; what it recorded stands (not marked uncertain, nor sent again)."""
    try:
        with _changing(rt, ack_id, _under_claim(until)) as (session, ack):
            _recovered(rt, session, ack)
    except TakenOver as taken:
        log.info(
            "acknowledgement %s: left %s, no longer under this worker's claim (another"
            " worker recorded it or claimed it since)",
            ack_id,
            taken.state,
            extra={"acknowledgement": ack_id},
        )


def _recovered(rt: Runtime, session: Session, ack: Acknowledgement) -> None:
    """`_recover`'s judgement, under its claim."""
    ack_id = ack.id
    if ack.taken_at is None:
        ack.state, ack.attempts = "queued", ack.attempts - 1
        log.info("acknowledgement %s queued again: claimed, never taken to send", ack_id)
        return
    reply = _reply(session, ack)
    delivered = rt.sender.was_delivered(reply)
    if delivered:
        _mark_sent(session, ack)
    elif delivered is None:
        ack.state = "uncertain"
        ack.last_error = "the worker stopped during delivery; it may have gone out"
        message = session.get(Message, ack.message_id)
        assert message is not None
        header = instead_header(ack.message_id_header, MAYBE_INSTEAD_MARK)
        template, recorded = cut_off(
            session, message, header, reply, rt.settings.social, ack.taken_at
        )
        if template:  # outside WhatsApp's window that was the template, not the text
            ack.last_error = (
                f"the worker stopped during delivery of the approved template {template!r}, "
                "sent in its place outside WhatsApp's reply window; it may have gone out"
            )
        if template and not recorded:
            _add_ours(session, ack, maybe_template(template)[1], MAYBE_INSTEAD_MARK)
    else:
        ack.state = "queued"


def _held(session: Session, rt: Runtime, ack_id: int, until: datetime) -> datetime | None:
    """Its claim, which ran `until`, renewed for a lease from now while this worker holds it;
    None once another worker does. The claim's end is its token: another worker takes one
    over only once its lease has run out, and then sets it later than it was."""
    later = utcnow() + _lease(rt)
    renewed = session.scalar(
        update(Acknowledgement)
        .where(
            Acknowledgement.id == ack_id,
            Acknowledgement.state == "sending",
            Acknowledgement.claimed_until == until,
        )
        .values(claimed_until=later)
        .returning(Acknowledgement.id)
    )
    return later if renewed is not None else None


@dataclass
class _Claim:
    """This worker's claim on one, its end as last set (the token `_held` checks); called by
    `kept_alive`, renewed again while this worker holds it."""

    rt: Runtime
    ack_id: int
    until: datetime

    def __call__(self) -> None:
        with transaction(self.rt.factory) as session:
            later = _held(session, self.rt, self.ack_id, self.until)
        self.until = later or self.until


def _send(rt: Runtime, ack_id: int, until: datetime) -> int:
    """Sent if this worker still holds its claim: a round whose earlier sends outlasted the
    lease leaves one another worker has claimed since to that worker, so none goes twice."""
    with _changing(rt, ack_id) as (session, ack):
        held = _held(session, rt, ack_id, until)
        if held is None:
            log.info("acknowledgement %s left to the worker that claimed it since", ack_id)
            return 0
        if ack.raw:  # dated by this attempt (a retry's too), the same Message-ID
            ack.raw = redated(ack.raw, utcnow())
        header = ack.message_id_header
        reply = _reply(session, ack, taking=True)
        taken = ack.taken_at
        assert taken is not None
        template = _template_going(rt, session, ack, reply)
        message_id = ack.message_id
    # One delivery may outlast the lease, as a reply's may: kept alive until it returns.
    claim = _Claim(rt, ack_id, held)
    what, extra = f"acknowledgement {ack_id}", {"message_id": message_id, "acknowledgement": ack_id}
    lease = kept_alive(claim, rt.settings.pipeline.lease_seconds, what, extra)
    outcome: Outcome
    try:
        with lease:
            outcome = rt.sender.deliver(reply)
    except (TemporaryDeliveryError, UncertainDeliveryError, PermanentDeliveryError) as exc:
        outcome = exc
    try:
        return _settle(rt, ack_id, taken, outcome, reply, template, header)
    except TakenOver as over:
        known = partial(_known_sent, rt, ack_id, outcome, template, header)
        return int(after_taken_over(over, outcome, known, what, extra))


def _known_sent(
    rt: Runtime,
    ack_id: int,
    result: Outcome,
    template: TemplateGoing | None,
    header: str,
) -> bool:
    """The worker that took it over could not tell whether it went (`uncertain`); this one's
    delivery (`result`, one that went) says it did: sent, not a question left for staff."""
    assert not isinstance(result, Exception)
    with transaction(rt.factory) as session:
        ack = _locked(session, ack_id)
        if ack.state != "uncertain":
            return False
        _withdraw(session, ack, template, header, went=True)
        _mark_sent(session, ack, result.instead if result is not None else "")
    return True


def _settle(
    rt: Runtime,
    ack_id: int,
    taken: datetime,
    outcome: Outcome,
    reply: OutgoingReply,
    template: TemplateGoing | None,
    header: str,
) -> int:
    """The delivery's outcome recorded, while the take (dated `taken`) is still this
    worker's (`_in_take`)."""
    take = _in_take(taken)
    try:
        if isinstance(outcome, Exception):
            raise outcome
        result = outcome
    except TemporaryDeliveryError as exc:
        SEND_FAILURES.labels("temporary").inc()
        outbound = rt.settings.outbound
        with _changing(rt, ack_id, take) as (session, ack):
            _withdraw(session, ack, template, header)
            ack.last_error = str(exc)
            if ack.attempts >= outbound.max_attempts:
                ack.state = "failed"
            else:
                delay = retry_delay(exc, outbound.retry_base_seconds, ack.attempts)
                ack.state, ack.next_attempt_at = "queued", utcnow() + timedelta(seconds=delay)
        log.warning("acknowledgement %s not sent: %s", ack_id, exc)
        return 0
    except UncertainDeliveryError as exc:  # it may have gone out: never a second copy
        SEND_FAILURES.labels("uncertain").inc()
        with _changing(rt, ack_id, take) as (session, ack):
            ack.state, ack.last_error = "uncertain", f"{exc}; it may have gone out"
            if exc.instead:
                _add_ours(session, ack, exc.instead, MAYBE_INSTEAD_MARK)
        log.warning("acknowledgement %s may have gone out: %s", ack_id, exc)
        return 0
    except DeliveryHeld as exc:  # not for a person to retry: sent later it would come too late
        with _changing(rt, ack_id, take) as (session, ack):
            message = session.get(Message, ack.message_id)
            assert message is not None
            behind = held_behind(session, message, reply)
            if behind is None:
                # The template it was held behind was withdrawn (it did not go out): due again
                # now, as if it had not met it, its attempt given back.
                ack.state, ack.last_error, ack.next_attempt_at = "queued", "", None
                ack.attempts -= 1
                log.info("acknowledgement %s queued again: %s", ack_id, exc.cause)
                return 0
            _withdraw(session, ack, template, header)
            ack.state, ack.held_behind = "not_sent", behind or None
            ack.last_error = (
                f"{exc.cause}; sent once the customer has written again, it would come too late"
            )
        log.info("acknowledgement %s not sent: %s", ack_id, exc.cause)
        return 0
    except PermanentDeliveryError as exc:
        SEND_FAILURES.labels("permanent").inc()
        with _changing(rt, ack_id, take) as (session, ack):
            _withdraw(session, ack, template, header)
            ack.state, ack.last_error = "failed", str(exc)
        log.warning("acknowledgement %s refused: %s", ack_id, exc)
        return 0
    with _changing(rt, ack_id, take) as (session, ack):
        _withdraw(session, ack, template, header, went=True)  # recorded as certain below
        _mark_sent(session, ack, result.instead if result is not None else "")
    return 1


def _template_going(
    rt: Runtime, session: Session, ack: Acknowledgement, reply: OutgoingReply
) -> TemplateGoing | None:
    """Outside WhatsApp's window the template goes in its place: recorded as maybe sent in
    the take, dated by it, under the conversation's lock, so a reply sent at the same moment in
    the same conversation is held instead of sending a second one."""
    assert ack.taken_at is not None
    template = template_in_place(reply, rt.settings.social, ack.taken_at)
    if not template:
        return None
    message = session.get(Message, ack.message_id)
    assert message is not None
    header = instead_header(ack.message_id_header, MAYBE_INSTEAD_MARK)
    record = going(session, message, header, ack.taken_at)
    _add_ours(session, ack, maybe_template(template)[1], MAYBE_INSTEAD_MARK, record.at)
    return record


def _withdraw(
    session: Session,
    ack: Acknowledgement,
    template: TemplateGoing | None,
    header: str,
    *,
    went: bool = False,
) -> None:
    """The take's record of a template maybe going out settled, its Message-ID as before:
    withdrawn (`template_going.withdraw`), or replaced by what `went` out."""
    if template is None:
        return
    message = session.get(Message, ack.message_id)
    assert message is not None
    (replaced if went else withdraw)(session, message, template)
    ack.message_id_header = header


def _mark_sent(session: Session, ack: Acknowledgement, instead: str = "") -> None:
    """Sent: in the conversation as our message, so the customer's answer to it threads; as
    what the customer received when something went in its place (a WhatsApp template).
    Counted once committed."""
    ack.state, ack.sent_at, ack.last_error = "sent", utcnow(), ""
    channel = session.get(Channel, ack.channel_id)
    assert channel is not None
    count_when_committed(session, ACKNOWLEDGEMENTS_SENT.labels(channel.kind))
    message = _add_ours(session, ack, instead, INSTEAD_MARK if instead else "")
    log.info(
        "message %s acknowledged",
        message.id,
        extra={"message_id": message.id, "acknowledgement": ack.id},
    )


def _add_ours(
    session: Session,
    ack: Acknowledgement,
    instead: str = "",
    mark: str = "",
    at: datetime | None = None,
) -> Message:
    """What went out as our message in its conversation, dated `at` (else when it was sent, or
    now). A WhatsApp template that went (`mark` INSTEAD_MARK) or may have gone
    (MAYBE_INSTEAD_MARK) in its place is marked in the acknowledgement's Message-ID and its
    row's, as a reply's is: `template_sent` counts it, so no reply sends a second template
    before the customer writes back."""
    message = session.get(Message, ack.message_id)
    assert message is not None
    header = ack.message_id_header
    ack.message_id_header = instead_header(header, mark) if mark else unmarked(header)
    add_our_message(
        session,
        message,
        message_id_header=ack.message_id_header,
        raw=ack.raw,
        raw_size=len(ack.raw),
        subject=ack.subject,
        text=instead or ack.body,
        sent_at=at or ack.sent_at or utcnow(),
    )
    return message


#: Acknowledgements a person should look at: refused, out of attempts, or maybe sent twice.
UNSENT = ("failed", "uncertain")


def unsent_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Acknowledgement)
            .where(Acknowledgement.state.in_(UNSENT))
        )
        or 0
    )


def unsent_acknowledgements(
    session: Session, settings: Settings, limit: int = 100, now: datetime | None = None
) -> list[dict[str, Any]]:
    """For Needs attention: newest first, with the message they acknowledge (its state now),
    why they did not go out, and why one may not be sent again (`stale`, "" when it may)."""
    now = now or utcnow()
    rows = session.execute(
        select(Acknowledgement, Message.subject, Message.state, OutboxItem.id, preview_column())
        .join(Message, Message.id == Acknowledgement.message_id)
        .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
        .where(Acknowledgement.state.in_(UNSENT))
        .order_by(Acknowledgement.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": ack.id,
            "message_id": ack.message_id,
            "subject": subject,
            "title": headline(subject, preview),
            "message_state": message_state,
            "to": ", ".join(ack.recipients),
            "state": ack.state,
            "attempts": ack.attempts,
            "error": ack.last_error,
            "created_at": ack.created_at.isoformat(),
            "stale": stale_reason(settings, ack, message_state, reply is not None, now),
        }
        for ack, subject, message_state, reply, preview in rows
    ]


#: The acknowledged message's states once a person has answered or closed it: sent then, the
#: "we have your message" would reach the customer after that.
ANSWERED: dict[str, str] = {
    State.APPROVED: "the reply is on its way to the customer",
    State.SENDING: "the reply is on its way to the customer",
    State.SENT: "the customer has had the reply",
    State.REJECTED: "the message was closed without a reply",
    State.UNSENT: "the reply was left unsent (the customer was answered another way)",
    State.IGNORED: "the message was set aside as ignored",
}


def stale_reason(
    settings: Settings, ack: Acknowledgement, message_state: str, has_reply: bool, now: datetime
) -> str:
    """Why sending it again now would mislead the customer ("" when it would not): the message
    has been answered or closed (a failed one with a reply written counts: a person answered),
    or, for one sent while closed, the team has opened since, which is when it says the
    team is back. That opening is worked out from today's opening hours, as the text was."""
    if message_state in ANSWERED:
        return ANSWERED[message_state]
    if message_state == State.FAILED and has_reply:
        return "a person has answered the message (the reply is under Needs attention)"
    if settings.acknowledge.when != "closed":
        return ""
    calendar = business_calendar(settings.queue)
    if calendar is None:
        return ""
    was_open, opened = calendar.status(ack.created_at)
    if was_open or opened is None or opened > now:
        return ""
    since = opens_words(opened, settings.queue.timezone)
    return f"the team has been open since {since}, and it says the team is closed"


def settle(
    session: Session,
    settings: Settings,
    ack_id: int,
    actor: str,
    *,
    send_again: bool,
    now: datetime | None = None,
) -> Acknowledgement:
    """A person's call on one that did not go out: send it again (the same bytes; for an
    uncertain one, after checking the customer did not get it), unless that would mislead the
    customer now (`stale_reason`), or let it be."""
    ack = session.get(Acknowledgement, ack_id)
    if ack is None:
        raise NotFound(f"acknowledgement {ack_id} not found")
    if ack.state not in UNSENT:
        raise AlreadyHandled(f"this acknowledgement is {ack.state}, not failed or uncertain")
    if send_again:
        message = session.get(Message, ack.message_id)
        assert message is not None
        has_reply = session.scalar(select(OutboxItem.id).where(OutboxItem.message_id == message.id))
        stale = stale_reason(settings, ack, message.state, has_reply is not None, now or utcnow())
        if stale:
            raise AlreadyHandled(
                f"not sent again: {stale}, so it would come too late: leave it unsent"
            )
    # The audit log keeps why it did not go out: the page then says what a person decided.
    was = {"error": ack.last_error} if ack.last_error else {}
    if send_again:
        ack.state, ack.attempts, ack.next_attempt_at = "queued", 0, None
        audit(session, actor, "acknowledgement.send_again", "message", ack.message_id, **was)
    else:
        ack.state = "dismissed"
        audit(session, actor, "acknowledgement.dismiss", "message", ack.message_id, **was)
    return ack


def acknowledgement_state(session: Session, ack: Acknowledgement) -> dict[str, Any]:
    """For the review page and the message's API: a dismissed one names who left it unsent and
    when (`dismissed_by`, `dismissed_at`, from the audit log), for its `last_error` is then
    history, not why it waits."""
    dismissal = None
    if ack.state == "dismissed":
        dismissal = session.execute(
            select(AuditEntry.actor, AuditEntry.at)
            .where(
                AuditEntry.object_type == "message",
                AuditEntry.object_id == str(ack.message_id),
                AuditEntry.action == "acknowledgement.dismiss",
            )
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).first()
    return {
        "state": ack.state,
        "sent_at": ack.sent_at.isoformat() if ack.sent_at else None,
        "last_error": ack.last_error,
        "dismissed_by": dismissal.actor if dismissal else None,
        "dismissed_at": dismissal.at.isoformat() if dismissal else None,
    }
