"""A draft follows its message's customer: written for a sender nobody knew yet (a provisional
customer, "Hello," and no details), it is written again once an agent links the sender to the
known customer. A draft a person has saved or edited is theirs: it stays, and the review page
says what it was written for and offers to redraft it. The same redraft serves an outage draft
whose network incident changed since (`responder.drafting.incident_changed`), and a saved draft
written for an intent a supervisor took back by rejecting the agent's correction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.customers.links import link_customers
from responder.db.models import Customer, Draft, Message, StaffUser
from responder.db.session import transaction
from responder.drafting.incident_changed import incident_news
from responder.drafting.service import (
    Redraft,
    edited_by_person,
    embed_before_writing,
    redraft_keeping_action,
)
from responder.pipeline.states import AWAITING_REVIEW
from responder.review import changed_since_opened, current_draft
from responder.runtime import Runtime


def written_for_another_customer(draft: Draft | None, message: Message) -> bool:
    """The customer recorded with the draft is not the message's any more (a link or unlink
    since). Drafts from before the customer was recorded in the grounding are left alone."""
    written_for = (draft.grounding or {}).get("customer") if draft is not None else None
    if not isinstance(written_for, dict) or "id" not in written_for:
        return False
    return written_for["id"] != message.customer_id


#: A redraft's `because` when the draft followed the message's intent back: the notice names the
#: intent after it, in words.
FOR_INTENT = "for the intent"


def written_for_another_intent(draft: Draft | None, message: Message) -> bool:
    """The intent the draft was written for is not the message's any more (a supervisor
    rejected a correction since, and a person's saved draft stayed)."""
    grounding = (draft.grounding or {}) if draft is not None else {}
    return "intent" in grounding and grounding["intent"] != message.intent


def redraft_for_customer(
    rt: Runtime,
    session: Session,
    message_id: int,
    user: StaffUser,
    *,
    keep_edits: bool,
    expected_version: int | None = None,
) -> Redraft:
    """A new draft version for the message's customer as it is now. `keep_edits`: leave a
    draft a person edited as it is (after a link); False when a person asked for the redraft."""
    message = session.get(Message, message_id)
    if message is None or message.state not in AWAITING_REVIEW:
        return Redraft(None)
    if expected_version is not None and message.version != expected_version:
        raise changed_since_opened(session, message)
    previous = current_draft(session, message_id)
    if previous is None:
        return Redraft(None)
    for_customer = written_for_another_customer(previous, message)
    news = incident_news(session, message, previous)
    for_intent = written_for_another_intent(previous, message)
    if not for_customer and news is None and not for_intent:
        return Redraft(None)
    if keep_edits and edited_by_person(previous):
        return Redraft(None, kept_saved=True)
    detail: dict[str, Any] = {"for_customer": message.customer_id}
    if news is not None:
        detail["incident"] = (news["now"] or news["used"])["id"]
    if for_intent:
        detail["for_intent"] = message.intent
    why = ("redraft", detail)
    draft = redraft_keeping_action(rt, session, message, previous, user=user, why=why)
    if for_customer:
        return Redraft(draft.version, because="for the customer")
    if news is not None:
        return Redraft(draft.version, because="with the network incidents as they are now")
    return Redraft(draft.version, because=FOR_INTENT, intent=message.intent)


@dataclass
class LinkOutcome:
    link_id: int
    source_id: int
    target_id: int
    target_name: str
    moved: dict[str, int]
    redrafted: dict[int, int] = field(default_factory=dict)  # message id: new draft version
    kept_edited: list[int] = field(default_factory=list)  # message ids


def _waiting(session: Session, customer_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Message.id).where(
                Message.customer_id == customer_id,
                Message.direction == "in",
                Message.state.in_(AWAITING_REVIEW),
            )
        )
    )


def link_and_redraft(rt: Runtime, source_id: int, target_id: int, user: StaffUser) -> LinkOutcome:
    """The link and the drafts written again for the known customer, in one transaction: a
    draft that cannot be written leaves the link undone too, so nothing is half done."""
    with rt.read_factory() as session:
        waiting = _waiting(session, source_id)
    embed_before_writing(rt, *waiting)
    with transaction(rt.factory) as session:
        link = link_customers(session, source_id, target_id, user.username)
        target = session.get(Customer, target_id)
        outcome = LinkOutcome(
            link_id=link.id,
            source_id=link.source_id,
            target_id=link.target_id,
            target_name=target.name if target else "",
            moved={k: len(v) for k, v in (link.moved or {}).items()},
        )
        for message_id in link.moved.get("messages", ()):
            redraft = redraft_for_customer(rt, session, message_id, user, keep_edits=True)
            if redraft.draft_version is not None:
                outcome.redrafted[message_id] = redraft.draft_version
            elif redraft.kept_saved:
                outcome.kept_edited.append(message_id)
    return outcome
