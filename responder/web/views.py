"""Read models for the queue and review page, shared by the HTML pages and the JSON API."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, Select, and_, bindparam, func, or_, select, true
from sqlalchemy.orm import Session

from responder.acknowledge import acknowledgement_state, unsent_count
from responder.attachments import attachments_of
from responder.channels import EMAIL_KINDS
from responder.channels.imap_state import gone, unfetched
from responder.channels.social import PLATFORM
from responder.channels.social.deliveries import failed_count
from responder.channels.social.outside import is_outside
from responder.classify.language import language_name
from responder.classify.titles import LabelTitles
from responder.config import CustomerSettings
from responder.conversations import written_after
from responder.customers import redraft_queue
from responder.customers.context import CustomerContext, build_context, find_customer_by_email
from responder.customers.view import customer_panel
from responder.db.keyset import decode_cursor, encode_cursor
from responder.db.like import escape_like
from responder.db.models import (
    Acknowledgement,
    AuditEntry,
    Channel,
    ClassifierExample,
    Customer,
    Draft,
    Message,
    OutboxItem,
    ReplyFile,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.display import dm_sender, headline, preview_column, sender_label
from responder.drafting.customer_known import edited_by_person, written_for_another_customer
from responder.drafting.incident_changed import fix_overdue, incident_news
from responder.mail.header_glance import glance
from responder.notes import notes_for
from responder.pipeline.states import AWAITING_REVIEW, RETRYABLE_STATES, State
from responder.reopen import reopen_offer
from responder.reply_files import listed, sent_files_of
from responder.review import HISTORY_WORDS, cc_copied, cc_left_off, current_draft
from responder.supervisor.template_names import title_of_key
from responder.unsent import can_edit_again

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueFilter:
    channel_id: int | None = None
    intent: str | None = None
    tier: str | None = None
    assignee_id: int | None = None
    sentiment: str | None = None
    #: Drafts nobody is assigned pass too: alone, only those (`assignee=none`); with
    #: `assignee_id`, that person's and those (`assignee=mine_or_none`, a helpdesk's "mine").
    unassigned: bool = False

    @property
    def assignee_rule(self) -> str | None:
        """How the assignee narrows: "id", "none", "id_or_none", or None for everyone."""
        if self.unassigned:
            return "none" if self.assignee_id is None else "id_or_none"
        return None if self.assignee_id is None else "id"

    def lets_assignee(self, assignee_id: int | None) -> bool:
        """Whether a draft with this assignee (None: nobody) passes the assignee filter."""
        if self.assignee_rule is None:
            return True
        return assignee_id == self.assignee_id or (self.unassigned and assignee_id is None)

    def values(self) -> dict[str, Any]:
        """The active filters' bound values, named as `_queue_statement` binds them."""
        found: dict[str, Any] = {}
        if self.channel_id is not None:
            found["channel_id"] = self.channel_id
        if self.intent:
            found["intent"] = self.intent
        if self.tier:
            found["tier"] = self.tier
        if self.assignee_id is not None:
            found["assignee_id"] = self.assignee_id
        if self.sentiment:
            found["sentiment"] = self.sentiment
        return found


# Only what the queue shows: a page never loads raw email, bodies or JSON columns.
QUEUE_COLUMNS = (
    Message.id,
    Message.version,
    Message.subject,
    Message.sender_name,
    Message.sender_address,
    Message.customer_tier,
    Message.urgency,
    Message.sentiment,
    Message.intent,
    Message.intent_confidence,
    Message.received_at,
    Message.due_at,
    Message.assignee_id,
    Message.channel_id,
    Message.viewer_id,
    Message.viewed_at,
    Message.snoozed_until,
    # one short string out of the JSON (the page never loads a JSON column whole)
    Message.sender_check["verdict"].as_string().label("sender_verdict"),
    Customer.name.label("customer_name"),
    preview_column(),
)
# The latest draft version's three shown facts, joined in the same query (not its body).
DRAFT_COLUMNS = (
    (func.length(func.trim(Draft.body, " \t\r\n")) > 0).label("draft_has_text"),
    Draft.stale.label("draft_stale"),
    Draft.error.label("draft_error"),
)


@functools.cache
def _queue_statement(
    lateral: bool,
    channel: bool,
    intent: bool,
    tier: bool,
    assignee: str | None,
    sentiment: bool,
    after: str | None,
) -> Select[Any]:
    """The page's query for one combination of filters, built once and reused with new values.

    Building a SELECT of this size costs about a millisecond of Python per page, as much as
    running it; the values go in as bound parameters, so the SQL text (and PostgreSQL's
    prepared statement) stays the same for every page of one size.

    `lateral` (PostgreSQL): the latest draft comes from a LATERAL join, one index probe a row
    instead of a subquery and a join on its result. PostgreSQL then settles on one generic
    plan for every filter and cursor (it re-planned each filtered page before) and spends a
    quarter less CPU a page. SQLite has no LATERAL and keeps the correlated subquery.
    """
    query = select(*QUEUE_COLUMNS).select_from(Message)
    query = query.outerjoin(Customer, Customer.id == Message.customer_id)
    if lateral:
        latest = _latest_draft(*DRAFT_COLUMNS).lateral("latest_draft")
        query = query.add_columns(*latest.c).outerjoin(latest, true())
    else:
        latest_id = _latest_draft(Draft.id).correlate(Message).scalar_subquery()
        query = query.add_columns(*DRAFT_COLUMNS).outerjoin(Draft, Draft.id == latest_id)
    # The state is written into the SQL like the page size: with it bound, PostgreSQL's generic
    # plan misjudges how many rows are waiting and it re-plans every filtered page.
    conditions: list[Any] = [Message.state == bindparam("state", literal_execute=True)]
    if channel:
        conditions.append(Message.channel_id == bindparam("channel_id"))
    if intent:
        conditions.append(Message.intent == bindparam("intent"))
    if tier:
        conditions.append(Message.customer_tier == bindparam("tier"))
    assigned = Message.assignee_id == bindparam("assignee_id")
    if assignee == "id":
        conditions.append(assigned)
    elif assignee == "none":
        conditions.append(Message.assignee_id.is_(None))
    elif assignee == "id_or_none":
        conditions.append(or_(assigned, Message.assignee_id.is_(None)))
    if sentiment:
        # No index of its own: a third or more of the waiting drafts match, so the walk of the
        # queue's (state, due_at, id) order reads a few rows per row shown.
        conditions.append(Message.sentiment == bindparam("sentiment"))
    if after == "id":
        conditions.append(Message.id > bindparam("after_id"))
    elif after == "due":
        # Keyset: rows after (due_at, id) in the queue's order (the route stage sets due_at).
        conditions.append(
            or_(
                Message.due_at > bindparam("after_due"),
                and_(Message.due_at == bindparam("after_due"), Message.id > bindparam("after_id")),
            )
        )
    return (
        query.where(*conditions)
        .order_by(Message.due_at, Message.id)
        # The page size is written into the SQL, not bound: with LIMIT as a parameter
        # PostgreSQL's generic plan looks costly, so it re-plans every execution of the prepared
        # statement (about 1 ms of its CPU a page, as much as running it).
        .limit(bindparam("limit", type_=Integer, literal_execute=True))
    )


def _latest_draft(*columns: Any) -> Select[Any]:
    """The message's newest draft version, as the columns given."""
    return (
        select(*columns)
        .where(Draft.message_id == Message.id)
        .order_by(Draft.version.desc())
        .limit(1)
    )


class ShownChannel(NamedTuple):
    name: str
    kind: str  # a direct message's platform names its sender (`sender_label`)


def queue_items(
    session: Session,
    limit: int = 50,
    after_id: int | None = None,
    *,
    filters: QueueFilter | None = None,
    cursor: str | None = None,
    channels: Mapping[int, ShownChannel] | None = None,
) -> list[dict[str, Any]]:
    """Drafts waiting for review, soonest due first, one page by keyset (no OFFSET scans).

    Plain rows of the displayed columns, not ORM objects: building and tracking a full Message
    per row was most of a queue page's time. The latest draft comes in the same query (one
    round trip a page, not two). `channels`: the names and kinds the caller already holds (the
    counts cache's); any channel missing from it is looked up.
    """
    filters = filters or QueueFilter()
    position: tuple[datetime | None, int] | None = None
    if after_id is not None:
        anchor = session.execute(
            select(Message.due_at, Message.id).where(Message.id == after_id)
        ).first()
        if anchor is not None:
            position = (anchor.due_at, anchor.id)
    if cursor and (decoded := decode_cursor(cursor)):
        position = decoded
    params: dict[str, Any] = {"state": State.IN_REVIEW, "limit": limit, **filters.values()}
    after = None
    if position is not None:
        after = "id" if position[0] is None else "due"
        params["after_id"] = position[1]
        if position[0] is not None:
            params["after_due"] = position[0]
    query = _queue_statement(
        session.get_bind().dialect.name == "postgresql",
        filters.channel_id is not None,
        bool(filters.intent),
        bool(filters.tier),
        filters.assignee_rule,
        bool(filters.sentiment),
        after,
    )
    # The ORM's session.execute would wrap these plain columns in its loading machinery, and a
    # Row's attribute access costs about half a microsecond: together a third of the page's
    # Python. So the loop below unpacks each row by position, in the order of QUEUE_COLUMNS
    # and DRAFT_COLUMNS.
    rows = session.connection().execute(query, params).all()
    now = utcnow()
    claimed = {row.id for row in rows if _claim_active(row.viewer_id, row.viewed_at, now)}
    shown, viewers = _shown_names(
        session,
        {row.channel_id for row in rows},
        {row.viewer_id for row in rows if row.id in claimed},
        channels,
    )
    items = []
    for (
        message_id,
        version,
        subject,
        sender_name,
        sender_address,
        tier,
        urgency,
        sentiment,
        intent,
        intent_confidence,
        received_at,
        due_at,
        assignee_id,
        channel_id,
        viewer_id,
        _viewed_at,
        snoozed_until,
        sender_verdict,
        customer_name,
        preview,
        draft_has_text,
        draft_stale,
        draft_error,
    ) in rows:
        due = due_at.isoformat() if due_at else None
        channel = shown.get(channel_id) or NO_CHANNEL
        items.append(
            {
                "id": message_id,
                "version": version,
                "subject": subject,
                "title": headline(subject, preview),
                "sender": sender_label(channel.kind, sender_name, sender_address) or sender_address,
                "sender_address": sender_address,
                "customer": customer_name or "",
                "tier": tier,
                "urgency": urgency,
                "sentiment": sentiment,
                "channel": channel.name,
                "intent": intent,
                "intent_confidence": intent_confidence,
                "received_at": received_at.isoformat(),
                "due_at": due,
                "overdue": bool(due_at and due_at < now),
                "assignee_id": assignee_id,
                "viewer": viewers.get(viewer_id) if message_id in claimed else None,
                "has_draft": bool(draft_has_text),
                "stale": bool(draft_stale),
                "draft_error": draft_error or "",
                "back_from_snooze": snoozed_until is not None,
                "sender_verdict": sender_verdict or "",
                "cursor": encode_cursor(due, message_id),
            }
        )
    return items


NO_CHANNEL = ShownChannel("", "")


def _shown_names(
    session: Session,
    channel_ids: set[int],
    viewer_ids: set[int],
    known_channels: Mapping[int, ShownChannel] | None,
) -> tuple[dict[int, ShownChannel], dict[int, str]]:
    """Channels and viewer names for a page, apart from the page's query: joining both tables
    there tripled PostgreSQL's planning time (0.25 to 0.76 ms), which it spends on every
    filtered or cursor page, since their parameters keep it from reusing a generic plan."""
    channels = dict(known_channels or {})
    missing = channel_ids - channels.keys()
    if missing:
        found = session.execute(
            select(Channel.id, Channel.name, Channel.kind).where(Channel.id.in_(missing))
        )
        channels.update((i, ShownChannel(name, kind)) for i, name, kind in found)
    viewers: dict[int, str] = {}
    if viewer_ids:
        found = session.execute(
            select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(viewer_ids))
        )
        viewers.update(found.all())
    return channels, viewers


CLAIM_MINUTES = 10


def _claim_active(viewer_id: int | None, viewed_at: datetime | None, now: datetime) -> bool:
    """Someone opened the message within the last CLAIM_MINUTES: others see their name."""
    return bool(viewer_id and viewed_at and viewed_at > now - timedelta(minutes=CLAIM_MINUTES))


QueueBreakdown = list[tuple[str, str, int, int | None, str, int]]


def queue_breakdown(session: Session) -> QueueBreakdown:
    """One pass over the waiting drafts, grouped by every filter dimension at once."""
    rows = session.execute(
        select(
            Message.intent,
            Message.customer_tier,
            Message.channel_id,
            Message.assignee_id,
            Message.sentiment,
            func.count(),  # count(*): PostgreSQL then reads only the covering index
        )
        .where(Message.state == State.IN_REVIEW)
        .group_by(
            Message.intent,
            Message.customer_tier,
            Message.channel_id,
            Message.assignee_id,
            Message.sentiment,
        )
    ).all()
    return [
        (intent or "", tier or "", channel, assignee, sentiment or "", n)
        for intent, tier, channel, assignee, sentiment, n in rows
    ]


def summarise_counts(
    breakdown: QueueBreakdown, filters: QueueFilter, channel_names: dict[int, str]
) -> dict[str, Any]:
    """Counts per filter value, each dimension counted under the other active filters.
    `assignee` is keyed as its filter's values are: a staff account's id, "none" for nobody."""

    def keep(row: tuple[str, str, int, int | None, str, int], skip: str) -> bool:
        intent, tier, channel, assignee, sentiment, _ = row
        return (
            (skip == "intent" or not filters.intent or intent == filters.intent)
            and (skip == "tier" or not filters.tier or tier == filters.tier)
            and (skip == "channel" or filters.channel_id is None or channel == filters.channel_id)
            and (skip == "assignee" or filters.lets_assignee(assignee))
            and (skip == "sentiment" or not filters.sentiment or sentiment == filters.sentiment)
        )

    counts: dict[str, Any] = {
        "total": sum(r[5] for r in breakdown if keep(r, "")),
        "intent": {},
        "tier": {},
        "channel": {},
        "sentiment": {},
        "assignee": {},
    }
    for row in breakdown:
        for dimension, value in (
            ("intent", row[0]),
            ("tier", row[1]),
            ("channel", channel_names.get(row[2], str(row[2]))),
            ("sentiment", row[4]),
            ("assignee", "none" if row[3] is None else str(row[3])),
        ):
            if keep(row, dimension):
                counts[dimension][value] = counts[dimension].get(value, 0) + row[5]
    return counts


class CachedCounts(NamedTuple):
    breakdown: QueueBreakdown
    channel_names: dict[int, str]
    channels: dict[int, ShownChannel]  # the queue's rows: names and kinds
    problems: int  # messages that need a person: quarantined or failed
    staff: dict[int, str]  # active accounts by id: the queue's assignees and bulk assign


class CountsCache:
    """Queue counts recomputed at most every few seconds per process, by one thread at a time.

    Counting 100,000 waiting drafts on every page view would dominate the page's time; a
    count a few seconds old is fine for filter badges. A stale count is served while a thread
    recounts on its own connection: the queue page runs on the event loop, and a recount there
    (tens of milliseconds on PostgreSQL at 100,000 messages) held up every page that process
    was serving.
    """

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl = ttl_seconds
        self._lock = threading.Lock()
        self._value: CachedCounts | None = None
        self._at = 0.0
        self._thread: threading.Thread | None = None

    def get(self, session: Session) -> CachedCounts:
        if self._value is not None and time.monotonic() - self._at < self.ttl:
            return self._value
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._store(_count(session))
            return self._value  # type: ignore[return-value]
        if not self._lock.acquire(blocking=False):
            return self._value  # another thread is recounting
        shown = self._value
        self._thread = threading.Thread(
            target=self._recount, args=(session.get_bind(),), name="queue-counts", daemon=True
        )
        try:
            self._thread.start()
        except RuntimeError:  # no thread to be had: let a later page try again
            self._lock.release()
            raise
        return shown

    def _recount(self, bind: Any) -> None:
        try:
            with Session(bind) as session:
                self._store(_count(session))
        except Exception:
            log.exception("recounting the queue failed; the last counts stay shown")
            self._at = time.monotonic()  # try again after a full ttl, not on every page
        finally:
            self._lock.release()

    def _store(self, value: CachedCounts) -> None:
        self._value = value
        self._at = time.monotonic()

    def wait(self, timeout: float | None = None) -> None:
        """Until a background recount in progress has finished (for tests and shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)


def _count(session: Session) -> CachedCounts:
    channels = {
        i: ShownChannel(name, kind)
        for i, name, kind in session.execute(select(Channel.id, Channel.name, Channel.kind))
    }
    staff = dict(
        session.execute(
            select(StaffUser.id, StaffUser.username)
            .where(StaffUser.active.is_(True))
            .order_by(StaffUser.username)
        ).all()
    )
    names = {i: channel.name for i, channel in channels.items()}
    return CachedCounts(queue_breakdown(session), names, channels, problem_count(session), staff)


def channel_choices(session: Session, cache: CountsCache) -> list[tuple[int, str]]:
    """The channel filter's options, from the same few-seconds cache as the counts."""
    names = cache.get(session).channel_names
    return sorted(names.items(), key=lambda pair: (pair[1], pair[0]))


def queue_counts(
    session: Session, filters: QueueFilter | None = None, cache: CountsCache | None = None
) -> dict[str, Any]:
    counts = cache.get(session) if cache else _count(session)
    return summarise_counts(counts.breakdown, filters or QueueFilter(), counts.channel_names)


def problem_count(session: Session) -> int:
    """Quarantined and failed messages, acknowledgements that did not go out, and webhook
    deliveries given up unsplit: few, and each read from an index."""
    messages = session.scalar(
        select(func.count()).select_from(Message).where(Message.state.in_(RETRYABLE_STATES))
    )
    return int(messages or 0) + unsent_count(session) + failed_count(session)


def problem_items(
    session: Session,
    *,
    before_id: int | None = None,
    limit: int = 50,
    states: Sequence[str] = RETRYABLE_STATES,
    contains: str = "",
) -> list[dict[str, Any]]:
    """The messages that wait for a person to act: mail that could not be parsed or was over
    a limit (quarantined) and replies, or new messages staff wrote, that could not be delivered
    (failed), newest first, each with its reason; the message page (for a new message, its
    customer's page) retries it. With `states=(State.IGNORED,)`, the mail
    an ignore rule stopped, with the rule; `contains` keeps those whose reason, sender address
    or subject hold the words (each page reads on until it is full)."""
    query = (
        select(
            Message.id,
            Message.state,
            Message.state_reason,
            Message.subject,
            Message.sender_name,
            Message.sender_address,
            Message.received_at,
            Message.raw_size,
            Message.direction,
            OutboxItem.state.label("delivery"),
            OutboxItem.attempts,
            OutboxItem.recipients,
            Channel.name.label("channel"),
            Channel.kind,
            preview_column(),
        )
        .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
        .outerjoin(Channel, Channel.id == Message.channel_id)
        .where(Message.state.in_(states))
        .order_by(Message.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Message.id < before_id)
    if words := contains.replace("\x00", "").strip()[:200]:
        pattern = f"%{escape_like(words)}%"
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (Message.state_reason, Message.sender_address, Message.subject)
                )
            )
        )
    return [
        {
            "id": row.id,
            "state": row.state,
            "reason": row.state_reason,
            "subject": row.subject,
            "title": headline(row.subject, row.preview),
            # a new message staff wrote: ours, to the customer
            "sender": f"Us, to {', '.join(row.recipients or ())}"
            if row.direction == "out"
            else sender_label(row.kind, row.sender_name, row.sender_address),
            "sender_address": row.sender_address,
            "direction": row.direction,
            "received_at": row.received_at.isoformat(),
            "channel": row.channel or "",
            "size": row.raw_size,
            "delivery": row.delivery,
            "attempts": row.attempts,
        }
        for row in session.execute(query)
    ]


def snippets_used(grounding: dict[str, Any]) -> list[dict[str, Any]]:
    """The grounding's snippet records marked used, the action's snippet after the template's
    (once); retrieved snippets left out of the text are among the candidates."""
    records = [*(grounding.get("snippets") or []), grounding.get("action_snippet") or {}]
    used = [r for r in records if r.get("used")]
    return [r for i, r in enumerate(used) if r.get("key") not in {u.get("key") for u in used[:i]}]


def _template_named(template: dict[str, Any] | None, titles: LabelTitles) -> dict[str, Any] | None:
    """The grounding's template record with its title ("Service outage — English"): what
    agents read; the file name is for supervisors, beside a link to the editor."""
    if not template or not template.get("key"):
        return template
    return {**template, "title": title_of_key(str(template["key"]), titles)}


def review_aids(grounding: dict[str, Any], titles: LabelTitles | None = None) -> dict[str, Any]:
    """What the review page shows beside a draft, lifted out of its grounding record: the
    template (key, version, tone), the other candidate snippets with scores, the suggested
    actions (POST /api/messages/{id}/action picks one), flags, the confidence parts and the
    network incident the draft described (None: none fitted, or drafted before incidents).
    `snippets_used` are the snippets whose text is in the draft, the picked action's included."""
    return {
        "template": _template_named(grounding.get("template"), titles or LabelTitles()),
        "snippets_used": snippets_used(grounding),
        "template_error": grounding.get("template_error"),
        "candidates": grounding.get("candidates") or [],
        "actions": grounding.get("actions") or [],
        "chosen_action": grounding.get("chosen_action"),
        "flags": grounding.get("flags") or [],
        "confidence_parts": grounding.get("confidence") or {},
        "entities": {k: v for k, v in (grounding.get("entities") or {}).items() if v},
        "incident": grounding.get("incident"),
    }


def message_detail(
    session: Session,
    message_id: int,
    customers: CustomerSettings | None = None,
    titles: LabelTitles | None = None,
    *,
    supervising: bool = True,
) -> dict[str, Any] | None:
    """`customers`: the settings link suggestions read (the account number pattern, the
    phone region); the defaults without. `titles`: the labels in words, as the history and the
    template's title say them (codes in words without). `supervising`: whether the asker may
    lift a block (a refused reopen points a supervisor at the page, tells an agent to ask)."""
    titles = titles or LabelTitles()
    message = session.get(Message, message_id)
    if message is None or message.direction != "in":
        return None
    customer = session.get(Customer, message.customer_id) if message.customer_id else None
    if customer is None and message.sender_address and message.state == State.IGNORED:
        # Ignored mail stops before the customer is looked up; whoever decides on "Draft a
        # reply anyway" should still see that this is, say, a top-tier customer's mail.
        customer = find_customer_by_email(session, message.sender_address)
    context = build_context(customer, message.sender_name)
    draft: Draft | None = current_draft(session, message.id)
    outbox = session.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
    acknowledgement = session.scalar(
        select(Acknowledgement).where(Acknowledgement.message_id == message.id)
    )
    conversation = []
    if message.conversation_id:
        conversation = [
            {
                "id": m.id,
                "direction": m.direction,
                "subject": m.subject,
                "text": m.new_text or m.text,
                "at": (m.sent_at or m.received_at).isoformat(),
                "state": m.state,
                # What became of ours since it went out ("sent, but returned by ...").
                "note": m.state_reason if m.direction == "out" else "",
                "later": written_after(m, message),
                # Written in the platform's own app, not here (`channels.social.outside`).
                "outside": is_outside(m),
            }
            for m in session.scalars(
                select(Message)
                .where(Message.conversation_id == message.conversation_id, Message.id != message.id)
                .order_by(Message.received_at)
            )
        ]
    offered = {
        a.get("name"): a.get("label")
        for a in ((draft.grounding or {}) if draft else {}).get("actions") or []
    }
    actions = []
    intent_change: dict[str, Any] | None = None
    for action, user in session.execute(
        select(ReviewAction, StaffUser)
        .outerjoin(StaffUser, StaffUser.id == ReviewAction.user_id)
        .where(ReviewAction.message_id == message.id)
        .order_by(ReviewAction.id)
    ):
        actions.append(
            {
                "action": action.action,
                "words": HISTORY_WORDS.get(action.action, action.action),
                "by": user.username if user else (action.detail or {}).get("by", "auto-send"),
                "at": action.created_at.isoformat(),
                "reason": _history_reason(action, offered, titles),
                "edit_distance": action.edit_distance,
                "until": (action.detail or {}).get("until") if action.action == "snooze" else None,
            }
        )
        if action.action == "reclassify" and (action.detail or {}).get("classifier") == "intent":
            intent_change = {**(action.detail or {}), "by": user.username if user else ""}
    files = attachments_of(session, [message.id, *(c["id"] for c in conversation)])
    for out_id, sent in sent_files_of(
        session, [c["id"] for c in conversation if c["direction"] == "out"]
    ):
        files.setdefault(out_id, []).append(sent)
    for earlier in conversation:
        earlier["attachments"] = files.get(earlier["id"], [])
    attachments = files.get(message.id, [])
    viewer = session.get(StaffUser, message.viewer_id) if message.viewer_id else None
    assignee = session.get(StaffUser, message.assignee_id) if message.assignee_id else None
    channel = session.get(Channel, message.channel_id)
    reply_files = list(
        session.scalars(
            select(ReplyFile).where(ReplyFile.message_id == message.id).order_by(ReplyFile.id)
        )
    )
    platform = PLATFORM.get(channel.kind, "") if channel else ""
    return {
        "id": message.id,
        "version": message.version,
        "viewer": viewer.username
        if viewer and _claim_active(message.viewer_id, message.viewed_at, utcnow())
        else None,
        "viewed_at": message.viewed_at.isoformat() if message.viewed_at else None,
        "assignee": assignee.username if assignee else None,
        "due_at": message.due_at.isoformat() if message.due_at else None,
        "overdue": bool(message.due_at and message.due_at < utcnow()),
        "urgency": message.urgency,
        "state": message.state,
        "state_reason": message.state_reason,
        # IMAP mail the server would not return: Retry asks the server again, by UID
        "unfetched": unfetched(message),
        # and one that never can be any more: ignored, nothing to draft from
        "gone": gone(message),
        "subject": message.subject,
        "title": headline(message.subject, message.new_text or message.text),
        "sender": message.sender_name,
        "sender_address": message.sender_address,
        "sender_profile": message.sender_profile,
        "received_at": message.received_at.isoformat(),
        # The Date the sender's mail gives, shown beside the arrival when they are apart (mail
        # taken in late, a clock far off): a forged Date moves nothing else.
        "written_at": message.sent_at.isoformat()
        if message.sent_at and abs(message.sent_at - message.received_at) > WRITTEN_APART
        else None,
        "text": message.text,
        "new_text": message.new_text,
        "html": message.html,
        "attachments": attachments,
        "email": bool(channel and channel.kind in EMAIL_KINDS),
        # "WhatsApp", "Messenger", "Instagram", "X" for a direct message; "" for mail
        "platform": platform,
        "sender_label": dm_sender(
            platform,
            message.sender_name or (context.name if context.known else ""),
            message.sender_address,
        )
        if platform
        else message.sender_name or message.sender_address,
        "reply_to": [
            {"name": n, "address": a}
            for n, a in (message.reply_to or [[message.sender_name, message.sender_address]])
            if a
        ],
        # Whom the reply copies, and whom a person left off (listed unticked, to tick again).
        "reply_cc": [{"name": n, "address": a} for n, a in cc_copied(message)],
        "reply_cc_off": [{"name": n, "address": a} for n, a in cc_left_off(message)],
        "sender_check": message.sender_check,
        # A forged From with its own Reply-To is how account details reach a fraudster.
        "reply_elsewhere": [a for _, a in message.reply_to or [] if a != message.sender_address],
        # Mail not read yet (quarantined before its parse): what its headers say, unchecked.
        "unread_headers": glance(message.raw)
        if channel
        and channel.kind in EMAIL_KINDS
        and not (message.sender_address or message.sender_name or message.subject)
        else None,
        "raw_size": message.raw_size,
        "reply_not_on_file": replies_not_on_file(message.reply_to or [], context)
        if channel and channel.kind in EMAIL_KINDS
        else [],
        "reply_files": listed([f for f in reply_files if f.outbox_id is None]),
        "classification": message.classification,
        "classification_rows": classification_rows(message.classification or {}),
        "intent": message.intent,
        "intent_confidence": message.intent_confidence,
        "customer": {
            "known": context.known,
            "name": context.name,
            "plan": context.plan,
            "monthly_spend": context.monthly_spend,
            "contract_end": context.contract_end,
            # ISO dates compare as text; a past end means the customer is out of contract.
            "contract_ended": bool(context.contract_end)
            and context.contract_end < utcnow().date().isoformat(),
            "tier": context.tier,
            "addons": list(context.addons),
            "identities": [list(i) for i in context.identities],
            **customer_panel(session, customer, draft.grounding if draft else None, customers),
        },
        "draft": None
        if draft is None
        else {
            "id": draft.id,
            "version": draft.version,
            "body": draft.body,
            "error": draft.error,
            "stale": draft.stale,
            # Written for another customer than the message has now (before a link).
            "customer_changed": written_for_another_customer(draft, message),
            # The workers could not write it again after an import: why, and whether they try
            # again (None: none failed).
            "import_trouble": redraft_queue.trouble(session, message.id),
            # An outage draft whose network incident changed since (None: none did).
            "incident_news": incident_news(session, message, draft),
            # The expected fix of the incident it used passed ("40 minutes ago"; None: not).
            "fix_overdue": fix_overdue((draft.grounding or {}).get("incident")),
            "edited": edited_by_person(draft),
            # The intent went back to the model's as a supervisor rejected a correction.
            "intent_back": intent_back(intent_change, draft),
            "confidence": draft.confidence,
            "grounding": draft.grounding,
            **review_aids(draft.grounding or {}, titles),
        },
        "outbox": None
        if outbox is None
        else {
            "state": outbox.state,
            "message_id": outbox.message_id_header,
            "recipients": outbox.recipients,
            "attempts": outbox.attempts,
            "last_error": outbox.last_error,
            "delivery_status": outbox.delivery_status,
            "body": outbox.body,
            "files": listed([f for f in reply_files if f.outbox_id == outbox.id]),
            # Certainly not delivered: it may go back to review, to mend and send anew.
            "editable": can_edit_again(message.state, outbox.state),
        },
        "acknowledgement": None
        if acknowledgement is None
        else acknowledgement_state(session, acknowledgement),
        "conversation": conversation,
        # Two drafts in one conversation can both be approved: each page points at the other.
        "newer_from_customer": [
            c["id"] for c in conversation if c["direction"] == "in" and c["later"]
        ],
        # Answered meanwhile in the platform's own app: this draft would be a second answer.
        "answered_outside": [c for c in conversation if c["outside"] and c["later"]],
        "earlier_waiting": [
            c["id"]
            for c in conversation
            if c["direction"] == "in" and not c["later"] and c["state"] in AWAITING_REVIEW
        ],
        "actions": actions,
        "snoozed_until": message.snoozed_until.isoformat() if message.snoozed_until else None,
        # Who put it aside last, and why (the history lists every snooze).
        "snooze": next((a for a in reversed(actions) if a["action"] == "snooze"), None),
        "notes": notes_for(session, message),
        "reopen": reopen_offer(session, message, supervising=supervising),
    }


def replies_not_on_file(reply_to: list[list[str]], context: CustomerContext) -> list[str]:
    """Reply-To addresses a customer on file does not have: the reply carries their account
    details, and a From line is easy to forge (a notice even without the sender check). Mail
    only: a direct message's reply goes back to the account the platform vouched for."""
    if not context.known or context.provisional:
        return []
    on_file = {value.lower() for kind, value in context.identities if kind == "email"}
    return [address for _, address in reply_to if address.lower() not in on_file]


WRITTEN_APART = timedelta(minutes=10)


def intent_back(change: Mapping[str, Any] | None, draft: Draft) -> dict[str, Any] | None:
    """What the review page says when the last change of the message's intent was a
    supervisor rejecting an agent's correction: the intent back, by whom, and whether the draft
    is still the one written for the rejected intent (a draft a person saved is not written
    again by itself)."""
    if not change or not change.get("rejected"):
        return None
    return {
        "to": change.get("to"),
        "from": change.get("from"),
        "by": change.get("by"),
        "draft_for_rejected": (draft.grounding or {}).get("intent") == change.get("from"),
    }


def _history_reason(
    action: ReviewAction, offered: Mapping[Any, Any], titles: LabelTitles
) -> str | None:
    """The reason a history line gives; an action chosen is named by its button's label, a
    label in words (the codes stay in the action's detail and the audit log)."""
    if action.action == "pick_action":
        name = (action.detail or {}).get("action")
        if not name:
            return None
        label = str(offered.get(name) or name)
        return (
            f"{label}, added to the edited draft"
            if (action.detail or {}).get("added_to_edited")
            else label
        )
    detail = action.detail or {}
    classifier = str(detail.get("classifier") or "")

    def said(label: object) -> str:
        return titles(label, classifier)

    if action.action == "reclassify" and detail.get("accepted"):
        return f"{classifier} {said(detail.get('to'))}, on accepting a correction"
    if action.action == "reclassify" and detail.get("rejected"):
        return (
            f"{classifier} back to {said(detail.get('to'))}, on rejecting the "
            f"correction to {said(detail.get('from'))}"
        )
    return action.reason


# What an agent can correct on the review page, in the order shown; language is shown only.
CORRECTABLE = ("intent", "sentiment", "urgency")
RUNNERS_UP_SHOWN = 2
RUNNER_UP_FLOOR = 0.05


def classification_rows(classification: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per classifier for the review page: the answer, how sure, the runners-up worth
    a look, and who corrected it; the language last, by name."""
    rows = []
    for name in (*CORRECTABLE, "language"):
        found = classification.get(name)
        if not isinstance(found, dict):
            continue
        label = str(found.get("label") or "unknown")
        others = [
            {"label": str(other), "confidence": float(confidence)}
            for other, confidence in (found.get("candidates") or [])[1:]
            if float(confidence) >= RUNNER_UP_FLOOR
        ][:RUNNERS_UP_SHOWN]
        rows.append(
            {
                "name": name,
                "label": label,
                "shown": language_name(label) if name == "language" else label,
                "confidence": found.get("confidence"),
                "others": others,
                "corrected_by": found.get("corrected_by"),
                "correctable": name in CORRECTABLE,
                "unsure": bool(found.get("unsure")),
            }
        )
    return rows


@dataclass(frozen=True)
class AuditFilter:
    """Who (exact user name), what (an action or its prefix: `staff.` or `draft.reject`), and on
    what (`message 12`, `staff 3` or `staff bob`, or a type alone: `template`)."""

    actor: str = ""
    action: str = ""
    on: str = ""

    @classmethod
    def clean(cls, actor: str | None, action: str | None, on: str | None) -> AuditFilter:
        def tidy(value: str | None) -> str:
            return (value or "").replace("\x00", "").strip()[:100]

        return cls(tidy(actor), tidy(action), tidy(on))

    def __bool__(self) -> bool:
        return bool(self.actor or self.action or self.on)


_OBJECT_PAGES = {"message": "/messages/", "customer": "/customers/"}


def _object_link(object_type: str, object_id: str) -> str | None:
    page = _OBJECT_PAGES.get(object_type)
    if object_type == "staff" and object_id.isdigit():  # no page of its own: what was done to it
        return f"/audit?on=staff+{object_id}"
    return page + object_id if page and object_id.isdigit() else None


def _staff_names(session: Session, entries: Sequence[AuditEntry]) -> dict[str, str]:
    """Staff accounts are logged by id (a name can be changed); people read them by name."""
    ids = {int(e.object_id) for e in entries if e.object_type == "staff" and e.object_id.isdigit()}
    if not ids:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids)))
    return {str(user_id): username for user_id, username in rows}


def _staff_named(session: Session, name: str) -> StaffUser | None:
    """Staff names are unique whatever their capitals: "Alice" is alice."""
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.username) == name.lower()))


def _staff_id(session: Session, name: str) -> str:
    """`staff bob` in the On filter means bob's account, which the log names by id."""
    if name.isdigit():
        return name
    found = _staff_named(session, name)
    return str(found.id) if found is not None else name


def audit_entries(
    session: Session,
    before: int | None = None,
    limit: int = 200,
    filters: AuditFilter = AuditFilter(),
) -> list[dict[str, Any]]:
    """Each entry's `object` as logged (`staff 4`) and `shown` as people read it (`staff bob`)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if filters.actor:
        named = _staff_named(session, filters.actor)
        query = query.where(AuditEntry.actor == (named.username if named else filters.actor))
    if filters.action:
        # A prefix match, which the action itself also satisfies (`draft.reject`, `staff.`).
        prefix = f"{escape_like(filters.action)}%"
        query = query.where(AuditEntry.action.like(prefix, escape="\\"))
    if filters.on:
        object_type, _, object_id = filters.on.partition(" ")
        object_id = object_id.strip()
        query = query.where(AuditEntry.object_type == object_type)
        if object_id and object_type == "staff":
            object_id = _staff_id(session, object_id)
        if object_id:
            query = query.where(AuditEntry.object_id == object_id)
    entries = list(session.scalars(query))
    names = _staff_names(session, entries)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "object": f"{e.object_type} {e.object_id}".strip(),
            "shown": (
                f"staff {names[e.object_id]}"
                if e.object_type == "staff" and e.object_id in names
                else f"{e.object_type} {e.object_id}".strip()
            ),
            "link": _object_link(e.object_type, e.object_id),
            "detail": e.detail,
        }
        for e in entries
    ]


def labels_of(session: Session, classifiers: Sequence[str]) -> dict[str, list[str]]:
    """The labels each classifier knows, from its examples, in one query (no model loaded)."""
    found: dict[str, list[str]] = {name: [] for name in classifiers}
    rows = session.execute(
        select(ClassifierExample.classifier, ClassifierExample.label)
        .where(ClassifierExample.classifier.in_(classifiers), ClassifierExample.status == "active")
        .distinct()
        .order_by(ClassifierExample.classifier, ClassifierExample.label)
    )
    for classifier, label in rows:
        found[classifier].append(label)
    return found
