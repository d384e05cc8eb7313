"""Reads the single customer view from the database: the I/O edge around the plain functions.

Profile, tier and score parts, subscriptions, cases, the timeline across channels (messages on
every channel plus imported interactions) and churn risk with its reasons.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from responder.config import CustomerSettings, Settings
from responder.customers.churn import ChurnSignals, assess_churn
from responder.customers.context import CustomerContext, build_context
from responder.customers.links import active_link, suggest_links
from responder.customers.summary import LIVE
from responder.db.models import (
    Channel,
    Customer,
    CustomerLink,
    Interaction,
    Message,
    Subscription,
    SupportCase,
)

EMAIL_KINDS = frozenset({"maildir", "imap"})
PREVIEW = 500


def channel_label(kind: str) -> str:
    return "email" if kind in EMAIL_KINDS else kind


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def timeline(session: Session, customer_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """Newest first: every message on every channel and every imported interaction."""
    entries: list[tuple[datetime, dict[str, Any]]] = []
    for message, kind, channel_name in session.execute(
        select(Message, Channel.kind, Channel.name)
        .join(Channel, Channel.id == Message.channel_id)
        .where(Message.customer_id == customer_id)
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(limit)
    ).tuples():
        at = message.received_at if message.direction == "in" else message.sent_at
        at = at or message.received_at
        entries.append(
            (
                at,
                {
                    "type": "message",
                    "id": message.id,
                    "channel": channel_label(kind),
                    "channel_name": channel_name,
                    "direction": message.direction,
                    "at": _iso(at),
                    "subject": message.subject,
                    "text": (message.new_text or message.text)[:PREVIEW],
                    "state": message.state,
                    "intent": message.intent,
                    "agent": "",
                },
            )
        )
    for item in session.scalars(
        select(Interaction)
        .where(Interaction.customer_id == customer_id)
        .order_by(Interaction.at.desc())
        .limit(limit)
    ):
        entries.append(
            (
                item.at,
                {
                    "type": "interaction",
                    "id": item.id,
                    "channel": item.channel,
                    "channel_name": item.channel,
                    "direction": item.direction,
                    "at": _iso(item.at),
                    "subject": "",
                    "text": item.summary[:PREVIEW],
                    "state": "",
                    "intent": None,
                    "agent": item.agent,
                },
            )
        )
    entries.sort(key=lambda e: e[0], reverse=True)
    return [entry for _, entry in entries[:limit]]


def recent_per_channel(entries: list[dict[str, Any]], per_channel: int) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    kept = []
    for entry in entries:
        seen = counts.get(entry["channel"], 0)
        if seen < per_channel:
            counts[entry["channel"]] = seen + 1
            kept.append(entry)
    return kept


def subscriptions_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": s.external_id,
            "plan": s.plan,
            "monthly_spend": s.monthly_spend,
            "lines": s.lines,
            "addons": list(s.addons or ()),
            "contract_start": s.contract_start,
            "contract_end": s.contract_end,
            "status": s.status,
        }
        for s in session.scalars(
            select(Subscription)
            .where(Subscription.customer_id == customer_id)
            .order_by(Subscription.status, Subscription.monthly_spend.desc())
        )
    ]


def cases_of(session: Session, customer_id: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": c.external_id,
            "category": c.category,
            "status": c.status,
            "subject": c.subject,
            "opened_at": _iso(c.opened_at),
            "closed_at": _iso(c.closed_at),
        }
        for c in session.scalars(
            select(SupportCase)
            .where(SupportCase.customer_id == customer_id)
            .order_by(SupportCase.status.desc(), SupportCase.opened_at.desc())
        )
    ]


def churn_signals(
    session: Session,
    customer: Customer,
    message: Message | None,
    subscriptions: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    settings: Settings,
    now: datetime,
) -> ChurnSignals:
    since = now - timedelta(days=settings.churn.repeat_contact_days)
    messages = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.customer_id == customer.id,
            Message.direction == "in",
            Message.received_at >= since,
        )
    )
    calls = session.scalar(
        select(func.count())
        .select_from(Interaction)
        .where(
            Interaction.customer_id == customer.id,
            Interaction.direction == "in",
            Interaction.at >= since,
        )
    )
    sentiments = []
    for classification in session.scalars(
        select(Message.classification)
        .where(Message.customer_id == customer.id, Message.direction == "in")
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(max(settings.churn.negative_sentiment_run, 1))
    ):
        sentiment = (classification or {}).get("sentiment")
        label = sentiment.get("label") if isinstance(sentiment, dict) else sentiment
        sentiments.append(str(label or ""))
    live = [s["contract_end"] for s in subscriptions if s["status"] in LIVE]
    return ChurnSignals(
        intent=message.intent if message else None,
        text=f"{message.subject}\n{message.new_text or message.text}" if message else "",
        contacts_in_window=(messages or 0) + (calls or 0),
        sentiments=tuple(sentiments),
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
) -> CustomerContext:
    """Everything drafting needs about who writes, churn assessed against this message."""
    if customer is None:
        return build_context(None, fallback_name)
    subscriptions = subscriptions_of(session, customer.id)
    cases = cases_of(session, customer.id)
    signals = churn_signals(session, customer, message, subscriptions, cases, settings, now)
    churn = assess_churn(signals, settings.churn, now.date())
    recent = recent_per_channel(
        timeline(session, customer.id, limit=100), settings.customers.timeline_per_channel
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
    context = load_context(session, customer, latest, settings, now)
    entries = timeline(session, customer_id)
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
        "cases": cases_of(session, customer_id),
        "open_cases": list(context.open_cases),
        "timeline": entries,
        "channels": sorted({e["channel"] for e in entries}),
        "linked_to": link.target_id if link else None,
        "linked_from": [entry.source_id for entry in linked_in],
        "suggestions": [
            s.as_dict() for s in suggest_links(session, customer_id, settings.customers)
        ],
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
    }
