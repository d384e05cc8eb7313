"""Drafting at the edge: gather the facts from the database, call the plain drafting core,
store the Draft. Used by the pipeline's draft stage and by an agent picking an action.

Contract with the customer view and the classifiers (read defensively, all optional):
- `Message.classification["sentiment"]`: `{"label": "negative"}` or a string; missing = neutral.
- churn risk: `Message.classification["churn"]` or an attribute `churn` / `churn_level` on the
  CustomerContext, as `{"level": "high"}` or a string; missing = "" (no churn rule fires).
- value tier, plan and add-ons: `CustomerContext.tier`, `.plan`, `.addons`.
- reply language: `Message.language` when a detector set it, else the customer's language.
- recent contacts: inbound messages (every channel) plus imported interactions of the customer
  in the last `actions.contact_days` days; open cases: `cases` rows with status "open".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.business_hours import team_day
from responder.channels import reply_channel
from responder.content import live_templates
from responder.customers.context import CustomerContext
from responder.customers.view import CustomerRecords, load_context, read_records
from responder.db.models import (
    Channel,
    Customer,
    Draft,
    DraftSnippet,
    Message,
    ReviewAction,
    StaffUser,
    utcnow,
)
from responder.drafting.compose import (
    DraftResult,
    TemplateRef,
    compose_draft,
    used_snippet_ids,
    used_snippet_keys,
)
from responder.drafting.confidence import draft_confidence
from responder.drafting.incident_facts import incident_facts
from responder.drafting.paragraph import add_paragraph, holds
from responder.drafting.rule_versions import CurrentRules, current_rules
from responder.drafting.rules import DraftFacts, choose_tone, label_of, offered_actions
from responder.drafting.used import marked_used
from responder.knowledge.retrieve import (
    ScoredSnippet,
    intent_weights,
    rank_snippets,
    restrictions,
)
from responder.pipeline.states import AWAITING_REVIEW, State
from responder.review import (
    AlreadyHandled,
    ReviewError,
    audit,
    changed_since_opened,
    current_draft,
    inbound_message,
)
from responder.runtime import Runtime, SnippetIndex


def template_refs(session: Session) -> dict[str, TemplateRef]:
    return {k: TemplateRef(t.body, t.id, t.version) for k, t in live_templates(session).items()}


def _churn(classification: Mapping[str, Any], context: CustomerContext) -> str:
    churn = getattr(context, "churn", None)
    for value in (
        getattr(context, "churn_risk", None),
        getattr(churn, "level", churn),
        classification.get("churn"),
    ):
        level = label_of(value)
        if level:
            return level
    return ""


def gather_facts(
    rt: Runtime,
    message: Message,
    context: CustomerContext,
    contact_days: int | None,
    records: CustomerRecords | None,
) -> DraftFacts:
    """`records` holds the message's customer; None when the message has no customer."""
    classification = message.classification or {}
    contacts = 1
    if records is not None and message.customer_id is not None:
        days = rt.settings.actions.contact_days if contact_days is None else contact_days
        contacts = records.contacts_since(message.customer_id, utcnow() - timedelta(days=days))
    return DraftFacts(
        intent=message.intent or "",
        tier=context.tier,
        churn=_churn(classification, context),
        sentiment=label_of(classification.get("sentiment"), "neutral"),
        plan=context.plan,
        addons=tuple(context.addons),
        contacts=max(contacts, 1),
        open_cases=len(context.open_cases),
    )


def _action_snippet(index: SnippetIndex, vector: np.ndarray, key: str) -> ScoredSnippet | None:
    for position, snippet in enumerate(index.snippets):
        if snippet.key == key:
            similarity = round(float(index.vectors[position] @ vector), 4)
            return ScoredSnippet(snippet, similarity, similarity)
    return None


def _channel_kind(session: Session, channel_id: int) -> str | None:
    channel = session.get(Channel, channel_id)  # the draft stage holds its batch's channels
    return channel.kind if channel else None


@dataclass(frozen=True)
class Composed:
    """A draft's text and the record of what produced it, before it is stored."""

    result: DraftResult
    grounding: dict[str, Any]
    confidence: dict[str, Any]


def make_draft(
    rt: Runtime,
    session: Session,
    message: Message,
    vector: np.ndarray,
    *,
    index: SnippetIndex,
    templates: Mapping[str, TemplateRef],
    entities: Mapping[str, list[str]],
    version: int = 1,
    chosen_action: str | None = None,
    created_by_id: int | None = None,
    rules: CurrentRules | None = None,
    records: CustomerRecords | None = None,
) -> Draft:
    """A draft as `compose_for` renders it, as version `version`."""
    composed = compose_for(
        rt,
        session,
        message,
        vector,
        index=index,
        templates=templates,
        entities=entities,
        chosen_action=chosen_action,
        rules=rules,
        records=records,
    )
    result, grounding = composed.result, composed.grounding
    return Draft(
        message_id=message.id,
        version=version,
        body=result.body,
        template_id=result.template_id,
        grounding=grounding,
        confidence=composed.confidence["combined"],
        error=result.error,
        created_by_id=created_by_id,
        snippets_used=[DraftSnippet(snippet_id=i) for i in sorted(used_snippet_ids(grounding))],
    )


def compose_for(
    rt: Runtime,
    session: Session,
    message: Message,
    vector: np.ndarray,
    *,
    index: SnippetIndex,
    templates: Mapping[str, TemplateRef],
    entities: Mapping[str, list[str]],
    chosen_action: str | None = None,
    rules: CurrentRules | None = None,
    records: CustomerRecords | None = None,
) -> Composed:
    """Render a draft's text for this message and record everything that produced it.

    `records` is what read_records read for the batch's customers (else this customer's are
    read now, once for the context and the action facts).

    The tone and action rules are the supervisors' live version (else config.toml's)."""
    drafting = rt.settings.drafting
    rules = rules or current_rules(session, rt.settings)
    customer = session.get(Customer, message.customer_id) if message.customer_id else None
    now = utcnow()
    if customer is None:
        records = None
    elif records is None or customer.id not in records.subscriptions:
        records = read_records(
            session, [customer.id], rt.settings, now, contact_days=rules.actions.contact_days
        )
    context = load_context(
        session, customer, message, rt.settings, now, message.sender_name, records
    )
    facts = gather_facts(rt, message, context, rules.actions.contact_days, records)
    tone = choose_tone(
        rules.tone.rules, rules.tone.default, tier=facts.tier, sentiment=facts.sentiment
    )
    offers = offered_actions(rules.actions.rules, facts)
    today = team_day(now, rt.settings.queue.timezone)
    candidates = rank_snippets(
        vector,
        index.snippets,
        index.vectors,
        intent=message.intent,
        intent_weights=intent_weights(message.classification),
        plan=context.plan,
        tier=context.tier,
        today=today,
        top_k=max(drafting.snippets_top_k, drafting.candidates_shown),
        min_score=drafting.snippet_min_score,
    )
    ranked = candidates[: drafting.snippets_top_k]
    chosen = next((o for o in offers if o.name == chosen_action), None)
    picked = _action_snippet(index, vector, chosen.snippet) if chosen else None
    # The action's snippet obeys the snippet's own plans, tiers and dates, as retrieved ones do:
    # a rule may fire for a customer its answer is not for.
    not_for = (
        restrictions(picked.snippet.filters, context.plan, context.tier, today) if picked else []
    )
    incidents = incident_facts(session, message, rt.settings.queue.timezone)
    result = compose_draft(
        templates=templates,
        intent=message.intent,
        language=message.language or context.language or drafting.default_language,
        customer=context,
        subject=message.subject,
        new_text=message.new_text,
        snippets=ranked,
        drafting=drafting,
        entities=entities,
        tone=tone,
        actions=[o.as_dict() for o in offers],
        chosen_action=chosen.as_dict() if chosen else None,
        action_snippet=picked,
        action_not_for=not_for,
        channel=reply_channel(_channel_kind(session, message.channel_id)),
        incidents=incidents.incidents,
        incident=incidents.incident,
    )
    top = max((s.similarity for s in ranked), default=None)
    confidence = draft_confidence(
        message.intent_confidence, top, drafting.snippet_min_score, failed=bool(result.error)
    )
    action_rules = rules.actions.rules
    grounding = {
        **result.grounding,
        "customer": context.grounding() if hasattr(context, "grounding") else {},
        "classifier": {"intent": message.intent, "confidence": message.intent_confidence},
        "facts": facts.as_dict(),
        "rules_fired": [
            {"rule": n, "name": o.name, "snippet": action_rules[n].snippet}
            for o in offers
            for n in o.rules
        ],
        "rules_version": rules.versions,
        "actions": [o.as_dict() for o in offers],
        "chosen_action": chosen.as_dict() if chosen else None,
        "candidates": [
            {
                "key": s.snippet.key,
                "title": s.snippet.title,
                "score": s.score,
                "similarity": s.similarity,
                "version": s.snippet.version,
            }
            for s in candidates
        ],
        "confidence": confidence,
        "incident": incidents.grounding,
    }
    if result.error:
        failed = grounding.get("template_error") or {}
        template = grounding.get("template") or {}
        audit(
            session,
            "system",
            "template.failed",
            "template",
            template.get("id") or template.get("key") or "",
            message=message.id,
            key=template.get("key"),
            version=template.get("version"),
            failing=failed.get("failing"),
            problem=failed.get("problem") or result.error,
        )
    return Composed(result, grounding, confidence)


# A correction of these changes the draft: the intent picks the template, snippets and action
# rules; the sentiment picks the tone.
REDRAFTED_ON = ("intent", "sentiment")


@dataclass(frozen=True)
class Redraft:
    draft_version: int | None  # the new version, None when the draft stayed as it was
    kept_saved: bool = False  # a person's saved draft was left alone
    because: str = ""  # what the new version was written for, as a notice says it
    intent: str | None = None  # with `because` FOR_INTENT: the intent's code (pages: in words)


def redraft_after_correction(
    rt: Runtime, session: Session, message_id: int, classifier: str, user: StaffUser
) -> Redraft:
    """The draft follows an agent's correction: a new version from the corrected intent's
    template (or the corrected sentiment's tone), so nobody sends a reply written for the
    wrong question. A draft a person saved is theirs and stays."""
    message = session.get(Message, message_id)
    if classifier not in REDRAFTED_ON or message is None or message.state not in AWAITING_REVIEW:
        return Redraft(None)
    previous = current_draft(session, message_id)
    if previous is not None and edited_by_person(previous):
        return Redraft(None, kept_saved=True)
    why = ("redraft", {"after_correcting": classifier})
    return Redraft(
        redraft_keeping_action(rt, session, message, previous, user=user, why=why).version
    )


def embed_before_writing(rt: Runtime, *message_ids: int) -> None:
    """Embeds the messages outside any transaction (the runtime keeps the vectors), so a
    re-render in a write transaction does not hold the database while a model loads or runs."""
    from responder.pipeline.stages import classification_text

    if not message_ids:
        return
    with rt.read_factory() as session:
        messages = session.scalars(select(Message).where(Message.id.in_(message_ids))).all()
        if messages:
            rt.message_vectors([m.id for m in messages], [classification_text(m) for m in messages])


def redraft_keeping_action(
    rt: Runtime,
    session: Session,
    message: Message,
    previous: Draft | None,
    *,
    user: StaffUser | None,
    why: tuple[str, dict[str, Any]],
) -> Draft:
    """`render_again` with the action the agent had picked for the draft it replaces."""
    chosen = ((previous.grounding or {}).get("chosen_action") or {}) if previous else {}
    return render_again(
        rt, session, message, previous, chosen_action=chosen.get("name"), user=user, why=why
    )


def render_again(
    rt: Runtime,
    session: Session,
    message: Message,
    previous: Draft | None,
    *,
    chosen_action: str | None,
    user: StaffUser | None,
    why: tuple[str, dict[str, Any]],
) -> Draft:
    """A new draft version from the message as it stands now, recorded as `record_version`
    says."""
    from responder.pipeline.stages import classification_text

    vector = rt.message_vectors([message.id], [classification_text(message)])[0]
    entities = (previous.grounding or {}).get("entities") if previous else None
    if entities is None:
        entities = rt.entity_extractor.extract(message_text(message), message.language)
    draft = make_draft(
        rt,
        session,
        message,
        vector,
        index=rt.snippet_index(session),
        templates=template_refs(session),
        entities=entities,
        version=(previous.version + 1) if previous else 1,
        chosen_action=chosen_action,
        created_by_id=user.id if user else None,
    )
    record_version(session, message, draft, user=user, why=why)
    return draft


def record_version(
    session: Session,
    message: Message,
    draft: Draft,
    *,
    user: StaffUser | None,
    why: tuple[str, dict[str, Any]],
) -> None:
    """Stores a new draft version as the review action `why` names (with its detail), audited;
    the message's version moves, so a colleague's open page is told the draft changed.
    Without a `user` (a CLI import), the detail's `by` names who, as the history shows it."""
    session.add(draft)
    message.version += 1
    session.flush()
    action, detail = why
    detail = {**detail, "draft_version": draft.version}
    user_id = user.id if user else None
    actor = user.username if user else str(detail.get("by") or "system")
    session.add(
        ReviewAction(
            message_id=message.id, draft_id=draft.id, user_id=user_id, action=action, detail=detail
        )
    )
    audit(session, actor, f"draft.{action}", "message", message.id, **detail)


def message_text(message: Message) -> str:
    """The text entities are read from: the subject and what the customer newly wrote."""
    return f"{message.subject}\n{message.new_text or message.text}"


class AlreadyInDraft(ReviewError):
    """Picking it would write the same text again as a new version nobody could tell apart."""

    status_code = 409


def edited_by_person(draft: Draft) -> bool:
    """Saved by a person, or their edit of an approval they undid: their words, not ours."""
    grounding = draft.grounding or {}
    return "saved_by" in grounding or "edited_from_version" in grounding


def _refuse_if_already_in(grounding: Mapping[str, Any], action: Mapping[str, Any]) -> None:
    """Only a draft as it was written is trusted to say what it holds (a person's saved text
    is read instead: `_add_to_edited`)."""
    label = action.get("label") or action["name"]
    chosen, snippet = grounding.get("chosen_action") or {}, grounding.get("action_snippet") or {}
    if chosen.get("name") == action["name"] and snippet.get("not_for"):
        why = ", ".join(snippet["not_for"])
        raise AlreadyInDraft(
            f"{label} was picked already: its answer is not for this customer ({why})"
        )
    if action.get("snippet") not in used_snippet_keys(grounding):
        return
    raise AlreadyInDraft(f"{label} is already in the draft")


def _add_to_edited(
    rt: Runtime,
    session: Session,
    message: Message,
    previous: Draft,
    action: Mapping[str, Any],
    user: StaffUser,
) -> Draft:
    """The person's saved text with the action's paragraph where a draft written now would
    have it: their words stay, and Approve sends them with the action. Its grounding records
    the action, and as used only the snippets whose text the resulting draft holds
    (`used.marked_used`), an action picked before this one included."""
    from responder.pipeline.stages import classification_text

    label = action.get("label") or action["name"]
    grounding = previous.grounding or {}
    entities = grounding.get("entities")
    if entities is None:
        entities = rt.entity_extractor.extract(message_text(message), message.language)
    composed = compose_for(
        rt,
        session,
        message,
        rt.message_vectors([message.id], [classification_text(message)])[0],
        index=rt.snippet_index(session),
        templates=template_refs(session),
        entities=entities,
        chosen_action=action["name"],
    )
    result, snippet = composed.result, composed.grounding.get("action_snippet") or {}
    if result.error:
        raise ReviewError(f"{label} could not be added: {result.error}")
    if snippet.get("not_for"):
        why = ", ".join(snippet["not_for"])
        raise ReviewError(
            f"{label} could not be added: its answer is not for this customer ({why})"
        )
    if not result.action_text or not snippet.get("used"):
        raise ReviewError(f"{label} has no paragraph in this draft's language to add")
    if holds(previous.body, result.action_text):
        raise AlreadyInDraft(f"{label} is already in the draft")
    drafting = rt.settings.drafting
    body = add_paragraph(
        previous.body,
        result.body,
        result.action_text,
        sign_offs=(drafting.signature, f"– {drafting.company_name}"),
    )
    grounding = {
        **grounding,
        "snippets": marked_used(_kept_records(grounding, snippet), body, result.snippet_texts),
        "chosen_action": composed.grounding.get("chosen_action"),
        "action_snippet": marked_used([snippet], body)[0],
    }
    return Draft(
        message_id=message.id,
        version=previous.version + 1,
        body=body,
        template_id=previous.template_id,
        grounding=grounding,
        confidence=previous.confidence,
        created_by_id=user.id,
        snippets_used=[DraftSnippet(snippet_id=i) for i in sorted(used_snippet_ids(grounding))],
    )


def _kept_records(grounding: Mapping[str, Any], picked: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The earlier version's snippet records and, when another action was picked for it
    before, that action's snippet too: its paragraph may still be in the text, and a record
    is kept for every snippet the text can hold."""
    records = list(grounding.get("snippets") or [])
    earlier = grounding.get("action_snippet") or {}
    known = {r.get("key") for r in records} | {picked.get("key")}
    if earlier.get("key") and earlier["key"] not in known:
        records.append(earlier)
    return records


@dataclass(frozen=True)
class Picked:
    draft: Draft
    label: str  # the action as its button says it
    added_to_edited: bool = False  # its paragraph went into the text a person saved


def pick_action(
    rt: Runtime,
    session: Session,
    message_id: int,
    action: str,
    user: StaffUser,
    *,
    expected_version: int | None = None,
) -> Picked:
    """A new draft version with the chosen action's snippet: written again from the template,
    or, when a person saved the draft, their text with the snippet's paragraph added. Refused
    when the draft holds that snippet already."""
    message = inbound_message(session, message_id)
    if message.state != State.IN_REVIEW:
        raise AlreadyHandled(f"message {message_id} is {message.state}, not in review")
    if expected_version is not None and message.version != expected_version:
        raise changed_since_opened(session, message)
    previous = current_draft(session, message_id)
    grounding = (previous.grounding or {}) if previous else {}
    offered = {a["name"]: a for a in grounding.get("actions") or []}
    if action not in offered:
        raise ReviewError(f"action {action!r} is not offered for this message")
    label = str(offered[action].get("label") or action)
    if previous is not None and edited_by_person(previous):
        draft = _add_to_edited(rt, session, message, previous, offered[action], user)
        why = ("pick_action", {"action": action, "added_to_edited": previous.version})
        record_version(session, message, draft, user=user, why=why)
        return Picked(draft, label, added_to_edited=True)
    _refuse_if_already_in(grounding, offered[action])
    draft = render_again(
        rt,
        session,
        message,
        previous,
        chosen_action=action,
        user=user,
        why=("pick_action", {"action": action}),
    )
    return Picked(draft, label)
