"""Reads the single customer view from the database: the I/O edge around the plain functions.

Profile, tier and score parts, subscriptions, cases, the timeline across channels (messages on
every channel plus imported interactions) and churn risk with its reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.channels import EMAIL_KINDS
from responder.channels.social.outside import is_outside
from responder.config import CustomerSettings, Settings
from responder.customers.churn import ChurnSignals, assess_churn
from responder.customers.context import CustomerContext, build_context
from responder.customers.dismissals import dismissed_for
from responder.customers.links import active_link, suggest_links
from responder.customers.summary import LIVE
from responder.db.models import (
    Acknowledgement,
    Channel,
    Customer,
    CustomerLink,
    Interaction,
    Message,
    OutboxItem,
    ReviewAction,
    StaffUser,
    Subscription,
    SupportCase,
)

PREVIEW = 500


def channel_label(kind: str) -> str:
    return "email" if kind in EMAIL_KINDS else kind


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _message_entry(message: Message, kind: str, channel_name: str) -> tuple[datetime, dict]:
    at = message.received_at if message.direction == "in" else message.sent_at
    at = at or message.received_at
    return at, {
        "type": "message",
        "id": message.id,
        "channel": channel_label(kind),
        "channel_name": channel_name,
        "direction": message.direction,
        "at": _iso(at),
        "subject": message.subject,
        "text": (message.new_text or message.text)[:PREVIEW],
        "state": message.state,
        # why our message is not out yet (a new one staff wrote waits in the outbox as a reply)
        "reason": message.state_reason if message.direction == "out" else "",
        "intent": message.intent,
        # a new message staff wrote: its author's name (`_authors`), and their user name; a
        # reply we sent: who approved it ("auto-send" for `by` when none did); an automatic
        # "we have your message": no name, "acknowledgement" for `by`
        "agent": "",
        "by": OUTSIDE if is_outside(message) else "",
    }


def _interaction_entry(item: Interaction) -> tuple[datetime, dict]:
    return item.at, {
        "type": "interaction",
        "id": item.id,
        "channel": item.channel,
        "channel_name": item.channel,
        "direction": item.direction,
        "at": _iso(item.at),
        "subject": "",
        "text": item.summary[:PREVIEW],
        "state": "",
        "reason": "",
        "intent": None,
        "agent": item.agent,
        "by": "",
    }


#: `by` for a reply no person approved: the review history's word for it.
AUTO_SENT = "auto-send"
#: `by` for the automatic "we have your message" (`responder.acknowledge`).
ACKNOWLEDGED = "acknowledgement"
#: `by` for a reply a colleague wrote in the platform's own app (`channels.social.outside`).
OUTSIDE = "outside"
#: What the pages say for our messages no person wrote or approved, by their `by`.
UNNAMED_AUTHORS = {
    AUTO_SENT: "sent automatically",
    ACKNOWLEDGED: "automatic acknowledgement",
    OUTSIDE: "written outside Responder",
}


def from_words(entry: dict[str, Any]) -> str:
    """Whose a timeline entry is, as the customer page and the review page's Recent contacts
    both say it: "us · Alice Byrne", "us · sent automatically", "customer"."""
    side = "us" if entry["direction"] == "out" else "customer"
    author = entry["agent"] or UNNAMED_AUTHORS.get(entry["by"], "")
    return f"{side} · {author}" if author else side


def _authors(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Who wrote each new message among our `entries` (its `write` review action, see
    `responder.outbound`), by the name colleagues know them by, who approved each reply we
    sent (`_approvers`), and which are acknowledgements; three queries."""
    ours = {e["id"]: e for e in entries if e["direction"] == "out"}
    if not ours:
        return
    for message_id, username, display_name in session.execute(
        select(ReviewAction.message_id, StaffUser.username, StaffUser.display_name)
        .join(StaffUser, StaffUser.id == ReviewAction.user_id)
        .where(ReviewAction.message_id.in_(list(ours)), ReviewAction.action == "write")
    ):
        ours[message_id]["agent"] = display_name or username
        ours[message_id]["by"] = username
    _approvers(session, ours)
    _acknowledgements(session, ours)


def _acknowledgements(session: Session, ours: dict[int, dict[str, Any]]) -> None:
    """An acknowledgement sent is our message with its Message-ID (`add_our_message`), and no
    person's review action: the Message-ID finds it."""
    unnamed = [message_id for message_id, entry in ours.items() if not entry["by"]]
    if not unnamed:
        return
    for message_id in session.scalars(
        select(Message.id)
        .join(Acknowledgement, Acknowledgement.message_id_header == Message.message_id_header)
        .where(Message.id.in_(unnamed))
    ):
        ours[message_id]["by"] = ACKNOWLEDGED


def _approvers(session: Session, ours: dict[int, dict[str, Any]]) -> None:
    """A reply we sent is its own outbound row, while its approval is a review action on the
    customer's message it answers: the reply's Message-ID leads to its outbox row, and that row
    to the approval that queued it (an approval undone and made again queued another). No
    person: auto-send sent it."""
    matched: set[int] = set()  # the approval that queued the reply's outbox row: it stays
    for message_id, outbox_id, detail, user_id, username, display_name in session.execute(
        select(
            Message.id,
            OutboxItem.id,
            ReviewAction.detail,
            ReviewAction.user_id,
            StaffUser.username,
            StaffUser.display_name,
        )
        .join(OutboxItem, OutboxItem.message_id_header == Message.message_id_header)
        .join(ReviewAction, ReviewAction.message_id == OutboxItem.message_id)
        .outerjoin(StaffUser, StaffUser.id == ReviewAction.user_id)
        .where(
            Message.id.in_(list(ours)),
            OutboxItem.message_id != Message.id,  # a new message staff wrote: its own row
            ReviewAction.action.in_(("approve", "edit")),
        )
        .order_by(ReviewAction.id)
    ):
        if message_id in matched:
            continue
        entry = ours[message_id]
        if user_id is None:
            entry["agent"], entry["by"] = "", AUTO_SENT
        else:
            entry["agent"], entry["by"] = display_name or username or "", username or ""
        if (detail or {}).get("outbox_id") == outbox_id:
            matched.add(message_id)


def _newest_first(owner: Any, at: Any, row_id: Any) -> Any:
    """Each row's place among its customer's rows, newest first: `rank <= n` keeps every
    customer's n newest in one query."""
    return (
        func.row_number()
        .over(partition_by=owner, order_by=(at.desc(), row_id.desc()))
        .label("rank")
    )


def timelines(
    session: Session, customer_ids: Sequence[int], limit: int = 200
) -> dict[int, list[dict[str, Any]]]:
    """Newest first, per customer: every message on every channel and every imported
    interaction; one query for each kind, however many customers."""
    entries: dict[int, list[tuple[datetime, dict[str, Any]]]] = {i: [] for i in customer_ids}
    if not customer_ids:
        return {}
    rank = _newest_first(Message.customer_id, Message.received_at, Message.id)
    newest = select(Message.id, rank).where(Message.customer_id.in_(list(customer_ids))).subquery()
    for message, kind, channel_name in session.execute(
        select(Message, Channel.kind, Channel.name)
        .join(newest, newest.c.id == Message.id)
        .join(Channel, Channel.id == Message.channel_id)
        .where(newest.c.rank <= limit)
    ):
        entries[message.customer_id].append(_message_entry(message, kind, channel_name))
    rank = _newest_first(Interaction.customer_id, Interaction.at, Interaction.id)
    newest = (
        select(Interaction.id, rank)
        .where(Interaction.customer_id.in_(list(customer_ids)))
        .subquery()
    )
    for item in session.scalars(
        select(Interaction)
        .join(newest, newest.c.id == Interaction.id)
        .where(newest.c.rank <= limit)
    ):
        entries[item.customer_id].append(_interaction_entry(item))
    result = {}
    for customer_id, found in entries.items():
        found.sort(key=lambda e: (e[0], e[1]["type"] == "message", e[1]["id"]), reverse=True)
        result[customer_id] = [entry for _, entry in found[:limit]]
    _authors(session, [e for kept in result.values() for e in kept if e["type"] == "message"])
    return result


def timeline(session: Session, customer_id: int, limit: int = 200) -> list[dict[str, Any]]:
    return timelines(session, [customer_id], limit)[customer_id]


def recent_per_channel(entries: list[dict[str, Any]], per_channel: int) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    kept = []
    for entry in entries:
        seen = counts.get(entry["channel"], 0)
        if seen < per_channel:
            counts[entry["channel"]] = seen + 1
            kept.append(entry)
    return kept


def _subscription(s: Subscription) -> dict[str, Any]:
    return {
        "external_id": s.external_id,
        "plan": s.plan,
        "monthly_spend": s.monthly_spend,
        "lines": s.lines,
        "addons": list(s.addons or ()),
        "contract_start": s.contract_start,
        "contract_end": s.contract_end,
        "status": s.status,
    }


def _case(c: SupportCase) -> dict[str, Any]:
    return {
        "external_id": c.external_id,
        "category": c.category,
        "status": c.status,
        "subject": c.subject,
        "opened_at": _iso(c.opened_at),
        "closed_at": _iso(c.closed_at),
    }


def subscriptions_by_customer(
    session: Session, customer_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in customer_ids}
    for s in session.scalars(
        select(Subscription)
        .where(Subscription.customer_id.in_(list(customer_ids)))
        .order_by(Subscription.status, Subscription.monthly_spend.desc(), Subscription.id)
    ):
        found[s.customer_id].append(_subscription(s))
    return found


def cases_by_customer(
    session: Session, customer_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in customer_ids}
    for c in session.scalars(
        select(SupportCase)
        .where(SupportCase.customer_id.in_(list(customer_ids)))
        .order_by(SupportCase.status.desc(), SupportCase.opened_at.desc(), SupportCase.id)
    ):
        found[c.customer_id].append(_case(c))
    return found


def subscriptions_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    return subscriptions_by_customer(session, [customer_id])[customer_id]


def cases_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    return cases_by_customer(session, [customer_id])[customer_id]


@dataclass(frozen=True)
class CustomerRecords:
    """What drafting reads about a batch's customers, in a fixed number of queries however
    many messages the batch holds (a worker drafts 32 at a time)."""

    subscriptions: dict[int, list[dict[str, Any]]]
    cases: dict[int, list[dict[str, Any]]]
    timelines: dict[int, list[dict[str, Any]]]
    contact_times: dict[int, list[datetime]]  # inbound messages and calls since `since`
    since: datetime
    sentiments: dict[int, tuple[str, ...]]  # latest inbound message first

    def contacts_since(self, customer_id: int, since: datetime) -> int:
        if since < self.since:
            raise ValueError("contacts were read from a later time")
        return sum(1 for at in self.contact_times.get(customer_id, ()) if at >= since)


def read_records(
    session: Session,
    customer_ids: Sequence[int],
    settings: Settings,
    now: datetime,
    *,
    contact_days: int | None = None,
    timeline_limit: int = 100,
) -> CustomerRecords:
    ids = sorted(set(customer_ids))
    days = max(settings.churn.repeat_contact_days, contact_days or settings.actions.contact_days)
    since = now - timedelta(days=days)
    contact_times: dict[int, list[datetime]] = {i: [] for i in ids}
    sentiments: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        # Contacts: inbound messages on every channel and inbound calls (imported interactions).
        for owner, at, direction in (
            (Message.customer_id, Message.received_at, Message.direction),
            (Interaction.customer_id, Interaction.at, Interaction.direction),
        ):
            for customer_id, moment in session.execute(
                select(owner, at).where(owner.in_(ids), direction == "in", at >= since)
            ):
                contact_times[customer_id].append(moment)
        run = max(settings.churn.negative_sentiment_run, 1)
        rank = _newest_first(Message.customer_id, Message.received_at, Message.id)
        latest = (
            select(Message.customer_id, Message.classification, rank)
            .where(Message.customer_id.in_(ids), Message.direction == "in")
            .subquery()
        )
        for customer_id, classification, _ in session.execute(
            select(latest).where(latest.c.rank <= run).order_by(latest.c.rank)
        ):
            sentiment = (classification or {}).get("sentiment")
            label = sentiment.get("label") if isinstance(sentiment, dict) else sentiment
            sentiments[customer_id].append(str(label or ""))
    return CustomerRecords(
        subscriptions=subscriptions_by_customer(session, ids),
        cases=cases_by_customer(session, ids),
        timelines=timelines(session, ids, limit=timeline_limit),
        contact_times=contact_times,
        since=since,
        sentiments={i: tuple(found) for i, found in sentiments.items()},
    )


def churn_signals(
    customer: Customer,
    message: Message | None,
    records: CustomerRecords,
    settings: Settings,
    now: datetime,
) -> ChurnSignals:
    subscriptions = records.subscriptions[customer.id]
    cases = records.cases[customer.id]
    since = now - timedelta(days=settings.churn.repeat_contact_days)
    live = [s["contract_end"] for s in subscriptions if s["status"] in LIVE]
    return ChurnSignals(
        intent=message.intent if message else None,
        text=f"{message.subject}\n{message.new_text or message.text}" if message else "",
        contacts_in_window=records.contacts_since(customer.id, since),
        sentiments=records.sentiments[customer.id],
        contract_ends=tuple(live if subscriptions else [customer.contract_end]),
        open_case_categories=tuple(c["category"] for c in cases if c["status"] == "open"),
    )


def load_context(
    session: Session,
    customer: Customer | None,
    message: Message | None,
    settings: Settings,
    now: datetime,
    fallback_name: str = "",
    records: CustomerRecords | None = None,
) -> CustomerContext:
    """Everything drafting needs about who writes, churn assessed against this message.

    `records` is the batch's read_records (which must include this customer); without it the
    customer's records are read now."""
    if customer is None:
        return build_context(None, fallback_name)
    if records is None or customer.id not in records.subscriptions:
        records = read_records(session, [customer.id], settings, now)
    subscriptions = records.subscriptions[customer.id]
    cases = records.cases[customer.id]
    signals = churn_signals(customer, message, records, settings, now)
    churn = assess_churn(signals, settings.churn, now.date())
    recent = recent_per_channel(
        records.timelines[customer.id], settings.customers.timeline_per_channel
    )
    return build_context(
        customer,
        fallback_name,
        churn=churn,
        subscriptions=tuple(subscriptions),
        open_cases=tuple(c for c in cases if c["status"] == "open"),
        recent=tuple(recent),
    )


def _latest_inbound(session: Session, customer_id: int) -> Message | None:
    return session.scalar(
        select(Message)
        .where(Message.customer_id == customer_id, Message.direction == "in")
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(1)
    )


def churn_from_grounding(grounding: dict[str, Any] | None) -> dict[str, Any] | None:
    record = (grounding or {}).get("customer") or {}
    churn = record.get("churn")
    return churn if isinstance(churn, dict) else None


def customer_profile(
    session: Session, customer_id: int, settings: Settings, now: datetime
) -> dict[str, Any] | None:
    """The customer page and GET /api/customers/{id}: the whole view as JSON-ready data."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    latest = _latest_inbound(session, customer_id)
    records = read_records(session, [customer_id], settings, now, timeline_limit=200)
    context = load_context(session, customer, latest, settings, now, records=records)
    entries = records.timelines[customer_id]
    link = active_link(session, customer_id)
    linked_in = session.scalars(
        select(CustomerLink).where(
            CustomerLink.target_id == customer_id, CustomerLink.unlinked_at.is_(None)
        )
    ).all()
    return {
        "id": customer.id,
        "external_id": customer.external_id or "",
        "name": customer.name,
        "provisional": customer.provisional,
        "language": customer.language,
        "segment": customer.segment,
        "plan": customer.plan,
        "monthly_spend": customer.monthly_spend,
        "lines": customer.lines,
        "addons": list(customer.addons or ()),
        "contract_start": customer.contract_start,
        "contract_end": customer.contract_end,
        "followers": customer.followers,
        "tier": customer.tier,
        "value_score": customer.value_score,
        "value_parts": dict(customer.value_parts or {}),
        "churn": context.churn.as_dict(),
        "identities": [{"kind": k, "value": v} for k, v in context.identities],
        "subscriptions": list(context.subscriptions),
        "cases": records.cases[customer_id],
        "open_cases": list(context.open_cases),
        "timeline": entries,
        "channels": sorted({e["channel"] for e in entries}),
        "linked_to": link.target_id if link else None,
        "linked_from": [entry.source_id for entry in linked_in],
        "suggestions": [
            s.as_dict() for s in suggest_links(session, customer_id, settings.customers)
        ],
        "dismissed": dismissed_for(session, customer_id) if customer.provisional else [],
    }


def customer_panel(
    session: Session,
    customer: Customer | None,
    grounding: dict[str, Any] | None,
    settings: CustomerSettings | None = None,
) -> dict[str, Any]:
    """What the review page's customer panel adds to the profile: churn as the draft saw it,
    and for a provisional customer the known customers it is likely to be."""
    if customer is None:
        return {"id": None, "churn": churn_from_grounding(grounding), "timeline": []}
    suggestions = (
        [s.as_dict() for s in suggest_links(session, customer.id, settings or CustomerSettings())]
        if customer.provisional
        else []
    )
    cases = cases_of(session, customer.id)
    return {
        "id": customer.id,
        "external_id": customer.external_id or "",
        "provisional": customer.provisional,
        "segment": customer.segment,
        "lines": customer.lines,
        "value_score": customer.value_score,
        "value_parts": dict(customer.value_parts or {}),
        "churn": churn_from_grounding(grounding),
        "subscriptions": subscriptions_of(session, customer.id),
        "open_cases": [c for c in cases if c["status"] == "open"],
        "timeline": timeline(session, customer.id, limit=10),
        "linked_to": getattr(active_link(session, customer.id), "target_id", None),
        "url": f"/customers/{customer.id}",
        "suggestions": suggestions,
        "dismissed": dismissed_for(session, customer.id) if customer.provisional else [],
    }
