"""A draft follows its message's customer: written for a sender nobody knew yet (a provisional
customer, "Hello," and no details), it is written again once an agent links the sender to the
known customer, or once a CRM import links it (after the import, by whoever has the models:
the web process or `responder import`; `redraft_after_import`). A draft a person has saved or
edited is theirs: it stays, and the review page says what it was written for and offers to
redraft it; after an import, so does one a person is typing in at that moment. The same
redraft serves an outage draft whose network incident changed since
(`responder.drafting.incident_changed`), and a saved draft written for an intent a supervisor
took back by rejecting the agent's correction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.customers.importer import ImportSummary
from responder.customers.links import link_customers
from responder.db.models import Customer, CustomerLink, Draft, Message, StaffUser
from responder.db.outage import first_line
from responder.db.row_locks import lock_rows
from responder.db.session import transaction
from responder.drafting.incident_changed import incident_news
from responder.drafting.service import (
    Redraft,
    edited_by_person,
    embed_before_writing,
    redraft_keeping_action,
)
from responder.pipeline.states import AWAITING_REVIEW
from responder.presence import being_edited
from responder.review import changed_since_opened, current_draft
from responder.runtime import Runtime

log = logging.getLogger(__name__)


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
    user: StaffUser | None,
    *,
    keep_edits: bool,
    expected_version: int | None = None,
    noted: Mapping[str, Any] | None = None,
) -> Redraft:
    """A new draft version for the message's customer as it is now. `keep_edits`: leave a
    draft a person edited as it is (after a link); False when a person asked for the redraft.
    `noted` goes into the review action's detail (an import's file, who ran it)."""
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
    detail: dict[str, Any] = {"for_customer": message.customer_id, **(noted or {})}
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


@dataclass
class ImportRedrafts:
    """What became of the waiting drafts of the senders an import linked (message ids)."""

    redrafted: dict[int, int] = field(default_factory=dict)  # message id: new draft version
    kept_edited: list[int] = field(default_factory=list)  # a person saved or edited it
    being_edited: list[int] = field(default_factory=list)  # a person is typing in it now
    failed: list[int] = field(default_factory=list)  # could not be written: logged

    def words(self, source: str) -> str:
        """One line for the import's report; "" when no draft waited."""
        said: list[str] = []
        if count := len(self.redrafted):
            drafts, were = _waiting_drafts(count)
            said.append(f"{drafts} of the senders it linked {were} written again for them")
        kept = [
            (len(self.kept_edited), "{drafts} a person had edited {were} kept as written"),
            (len(self.being_edited), "{drafts} a person is typing in now {were} left alone"),
            (len(self.failed), "{drafts} could not be written again (the log says why)"),
        ]
        for count, words in kept:
            if count:
                drafts, were = _waiting_drafts(count)
                pages = "its page offers" if count == 1 else "their pages offer"
                said.append(f"{words.format(drafts=drafts, were=were)}: {pages} a redraft")
        return f"{source}: {'; '.join(said)}." if said else ""


def _waiting_drafts(count: int) -> tuple[str, str]:
    return ("1 waiting draft", "was") if count == 1 else (f"{count} waiting drafts", "were")


def _moved_and_waiting(session: Session, link_ids: Sequence[int]) -> list[int]:
    """The messages these links moved that still wait for review with their known customer,
    with a draft (none: nothing to write again, and no model to load for it)."""
    moved: dict[int, int] = {}
    for link in session.scalars(
        select(CustomerLink).where(
            CustomerLink.id.in_(sorted(set(link_ids))), CustomerLink.unlinked_at.is_(None)
        )
    ):
        moved.update(dict.fromkeys((link.moved or {}).get("messages", ()), link.target_id))
    if not moved:
        return []
    rows = session.execute(
        select(Message.id, Message.customer_id)
        .where(
            Message.id.in_(sorted(moved)),
            Message.direction == "in",
            Message.state.in_(AWAITING_REVIEW),
            Message.id.in_(select(Draft.message_id)),
        )
        .order_by(Message.id)
    )
    return [message_id for message_id, customer_id in rows if moved[message_id] == customer_id]


def redraft_linked(
    rt: Runtime, link_ids: Sequence[int], user: StaffUser | None, **noted: Any
) -> ImportRedrafts:
    """After an import's links: each waiting draft written again for the known customer, as
    an agent's link does (`link_and_redraft`), one transaction each, the messages embedded
    first outside any. A draft a person saved or edited stays, its page saying it was written
    before the customer was known and offering Redraft; so does one a person is typing in now
    (their save would be refused under a new version). One that cannot be written is logged
    and left to its page's Redraft: the import is done either way. `noted` goes into each
    review action's detail; without a `user` its `by` names who."""
    done = ImportRedrafts()
    with rt.read_factory() as session:
        waiting = _moved_and_waiting(session, link_ids)
    if not waiting:
        return done
    embed_before_writing(rt, *waiting)
    for message_id in waiting:
        try:
            with transaction(rt.factory) as session:
                # An agent's Redraft or link of this message waits, or is waited for.
                lock_rows(session, Message.updated_at, Message.id == message_id)
                if being_edited(session, [message_id]):
                    done.being_edited.append(message_id)
                    continue
                redraft = redraft_for_customer(
                    rt, session, message_id, user, keep_edits=True, noted=noted
                )
        except Exception:
            log.exception(
                "message %s: the draft could not be written again after a link", message_id
            )
            done.failed.append(message_id)
            continue
        if redraft.draft_version is not None:
            done.redrafted[message_id] = redraft.draft_version
        elif redraft.kept_saved:
            done.kept_edited.append(message_id)
    return done


def redraft_after_import(rt: Runtime, summary: ImportSummary, user: StaffUser | None) -> None:
    """The drafts of the senders an import linked, written again once its rows, tiers and
    audit entry are in (so a draft knows the customer's plan, tier and history); what became
    of them is the summary's `redrafts` line. Not after a preview: it linked nothing."""
    if summary.dry_run or not summary.link_ids:
        return
    by = {} if user is not None else {"by": summary.actor}
    try:
        done = redraft_linked(rt, summary.link_ids, user, imported_from=summary.path, **by)
    except Exception as exc:  # the import is in: say so, and what is left to do by hand
        log.exception(
            "import of %s: the linked senders' drafts were not written again", summary.path
        )
        summary.redrafts = (
            f"{summary.path}: the waiting drafts of the senders it linked were not written "
            f"again ({first_line(exc)}): each one's page offers a redraft"
        )
        return
    summary.redrafts = done.words(summary.path)
