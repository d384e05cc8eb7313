"""Supervisors edit templates and snippets: preview, validate, save as a new version, roll back.

A version that fails to render (syntax, a missing variable, a sandbox violation) is refused,
so the live version is always one that renders. Every save and roll-back is audit-logged.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.config import Settings
from responder.content import live_templates, template_key
from responder.customers.context import CustomerContext, build_context
from responder.customers.view import load_context
from responder.db.models import Customer, Draft, Message, Snippet, Template, utcnow
from responder.drafting.compose import compose_draft
from responder.drafting.render import TemplateFailure, render_string
from responder.drafting.rule_versions import current_rules
from responder.knowledge.retrieve import IndexedSnippet, ScoredSnippet
from responder.review import ReviewError, audit
from responder.supervisor.examples import labels

SAMPLE_SNIPPET = IndexedSnippet(
    id=0,
    key="sample",
    version=1,
    title="A sample answer",
    body="This is where the best matching answer snippet goes.",
    intents=(),
    language="en",
    filters={},
)
SAMPLE_CUSTOMERS = (
    CustomerContext(
        known=True,
        customer_id=None,
        name="Aoife Murphy",
        first_name="Aoife",
        plan="Unlimited Plus",
        monthly_spend=45.0,
        contract_end="2027-06-30",
        tier="Best",
        addons=("EU Roam Pass",),
        lines=2,
    ),
    build_context(None, "someone@example.test"),
)


class ContentError(ReviewError):
    """A refused edit; the message says what is wrong, in the supervisor's terms."""


@dataclass(frozen=True)
class Preview:
    text: str
    error: str


@dataclass(frozen=True)
class PreviewSource:
    """What a preview renders against: a real message, optionally as another customer."""

    subject: str
    new_text: str
    intent: str | None
    customer: CustomerContext
    snippets: tuple[ScoredSnippet, ...]


def _intent_of(template: Template) -> str | None:
    return template.name.removeprefix("intents/") if template.name.startswith("intents/") else None


def preview_source(
    session: Session,
    settings: Settings,
    message_id: int | None,
    customer_id: int | None = None,
) -> PreviewSource:
    """The message's text, its customer (or the chosen one), and the snippets its draft used."""
    message = session.get(Message, message_id) if message_id else None
    if message_id and message is None:
        raise ContentError(f"message {message_id} not found")
    customer_row = session.get(Customer, customer_id) if customer_id else None
    if customer_row is None and message is not None and message.customer_id:
        customer_row = session.get(Customer, message.customer_id)
    customer = (
        load_context(session, customer_row, message, settings, utcnow(), message.sender_name)
        if message is not None
        else build_context(customer_row)
        if customer_row is not None
        else SAMPLE_CUSTOMERS[0]
    )
    if message is None:
        return PreviewSource("Roaming charges on my bill", "", None, customer, ())
    draft = session.scalar(
        select(Draft).where(Draft.message_id == message.id).order_by(Draft.version).limit(1)
    )
    used = (draft.grounding or {}).get("snippets", []) if draft else []
    scored = []
    for entry in used:
        row = session.get(Snippet, entry.get("id")) if entry.get("id") else None
        if row is not None:
            scored.append(ScoredSnippet(_indexed(row), float(entry.get("score", 0.0)), 0.0))
    return PreviewSource(
        message.subject, message.new_text or message.text, message.intent, customer, tuple(scored)
    )


def _indexed(row: Snippet) -> IndexedSnippet:
    return IndexedSnippet(
        id=row.id,
        key=row.key,
        version=row.version,
        title=row.title,
        body=row.body,
        intents=tuple(row.intents or ()),
        language=row.language,
        filters=dict(row.filters or {}),
    )


def render_template_with(
    templates: Mapping[str, str],
    template: Template,
    body: str,
    source: PreviewSource,
    settings: Settings,
) -> Preview:
    """Render as drafting would, with this template's body in place of its live version."""
    edited = dict(templates)
    intent = _intent_of(template) or source.intent
    if not intent:
        return Preview("", "choose a message with an intent to preview this layout")
    # A toned variant is previewed in place of the plain intent template of its language.
    edited[template_key(template.name, template.language)] = body
    edited[template_key(template.name, template.language, template.tone)] = body
    result = compose_draft(
        templates=edited,
        template_ids={},
        intent=intent,
        language=template.language,
        customer=source.customer,
        subject=source.subject,
        new_text=source.new_text,
        snippets=source.snippets,
        drafting=settings.drafting,
    )
    return Preview(result.body, result.error)


def template_preview(
    session: Session,
    settings: Settings,
    template_id: int,
    body: str,
    message_id: int | None,
    customer_id: int | None = None,
) -> Preview:
    template = _template(session, template_id)
    bodies = {k: t.body for k, t in live_templates(session).items()}
    try:
        source = preview_source(session, settings, message_id, customer_id)
    except ContentError as exc:
        return Preview("", str(exc))
    return render_template_with(bodies, template, body, source, settings)


def validate_template(
    session: Session, settings: Settings, template: Template, body: str
) -> str | None:
    """The first problem rendering against sample customers, with and without a snippet."""
    bodies = {k: t.body for k, t in live_templates(session).items()}
    sample_snippets = ((), (ScoredSnippet(SAMPLE_SNIPPET, 1.0, 1.0),))
    intent = _intent_of(template) or "other"
    probe = template_key(f"intents/{intent}", template.language)
    if template.name == "layout" and probe not in bodies:
        # A new language's layout has no intent template yet: render it through a stand-in.
        bodies[probe] = (
            f'{{% extends "{template_key("layout", template.language)}" %}}'
            "{% block body %}Sample reply.{% endblock %}"
        )
    for customer in SAMPLE_CUSTOMERS:
        for snippets in sample_snippets:
            source = PreviewSource("Sample subject", "Sample message.", intent, customer, snippets)
            preview = render_template_with(bodies, template, body, source, settings)
            if preview.error:
                return preview.error
    return None


def _template(session: Session, template_id: int) -> Template:
    template = session.get(Template, template_id)
    if template is None:
        raise ContentError(f"template {template_id} not found")
    return template


def template_versions(session: Session, template: Template) -> list[Template]:
    return list(
        session.scalars(
            select(Template)
            .where(
                Template.name == template.name,
                Template.language == template.language,
                Template.tone == template.tone,
            )
            .order_by(Template.version.desc())
        )
    )


def save_template(
    session: Session, settings: Settings, template_id: int, body: str, author: str
) -> Template:
    """A new live version, only if it renders; an unchanged body saves nothing."""
    template = _template(session, template_id)
    body = body.replace("\r\n", "\n")
    live = template_versions(session, template)[0]
    if body == live.body:
        return live
    problem = validate_template(session, settings, template, body)
    if problem:
        raise ContentError(f"not saved: {problem}")
    return _new_template_version(session, live, body, author, "template.save")


def _new_template_version(
    session: Session, live: Template, body: str, author: str, action: str, **detail: Any
) -> Template:
    version = Template(
        name=live.name,
        language=live.language,
        tone=live.tone,
        version=live.version + 1,
        body=body,
        author=author,
    )
    session.add(version)
    session.flush()
    audit(
        session,
        author,
        action,
        "template",
        template_key(live.name, live.language, live.tone),
        version=version.version,
        **detail,
    )
    return version


def rollback_template(
    session: Session, settings: Settings, template_id: int, author: str
) -> Template:
    """Make an old version live again, as a new version (history is never rewritten)."""
    old = _template(session, template_id)
    live = template_versions(session, old)[0]
    if old.id == live.id:
        raise ContentError(f"version {old.version} is already the live version")
    problem = validate_template(session, settings, old, old.body)
    if problem:
        raise ContentError(f"version {old.version} no longer renders: {problem}")
    return _new_template_version(
        session, live, old.body, author, "template.rollback", restored=old.version
    )


def template_tones(session: Session, settings: Settings) -> list[str]:
    """The tones the live tone rules can pick, so a new variant is one a draft can use."""
    tone = current_rules(session, settings).tone
    return sorted({rule.tone for rule in tone.rules} | {tone.default} - {""})


#: What the new-template form calls the layout (greeting and sign-off) in place of an intent.
LAYOUT = "(layout)"


def template_name(intent: str) -> str:
    return "layout" if intent == LAYOUT else f"intents/{intent}"


def starting_body(session: Session, settings: Settings, intent: str, language: str) -> str:
    """A new template starts from the intent's plain template in its language, else in the
    default language (for a translation), else from the layout alone."""
    live = live_templates(session)
    name = template_name(intent)
    for lang in (language, settings.drafting.default_language):
        found = live.get(template_key(name, lang))
        if found is not None:
            return found.body
    return f'{{% extends "layout.{language}.j2" %}}\n{{% block body %}}\n\n{{% endblock %}}\n'


def create_template(
    session: Session,
    settings: Settings,
    intent: str,
    language: str,
    tone: str,
    body: str,
    author: str,
) -> Template:
    """A new intent template (another language, or a tone variant), version 1, only if it
    renders like any edit; drafts in that language or tone use it from then on."""
    if intent != LAYOUT and intent not in labels(session, "intent"):
        raise ContentError(f"not created: unknown intent {intent!r}")
    if language not in settings.classify.languages:
        raise ContentError(f"not created: unknown language {language!r}")
    tones = template_tones(session, settings)
    if tone and tone not in tones:
        raise ContentError(
            f"not created: no tone rule picks {tone!r} (the rules' tones are "
            f"{', '.join(tones) or 'none'})"
        )
    if intent == LAYOUT and tone:
        raise ContentError("not created: a layout has no tone variants (it reads `tone` itself)")
    name = template_name(intent)
    key = template_key(name, language, tone)
    if key in live_templates(session):
        raise ContentError(f"not created: {key} exists already; edit it instead")
    body = body.replace("\r\n", "\n")
    template = Template(name=name, language=language, tone=tone, version=1, body=body)
    problem = (
        validate_template(session, settings, template, body)
        if body.strip()
        else "the template is empty"
    )
    if problem:
        raise ContentError(f"not created: {problem}")
    template.author = author
    session.add(template)
    session.flush()
    audit(session, author, "template.create", "template", key, version=1)
    return template


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) pairs; the page escapes the text like any other."""
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""
    )
    return [
        (kinds.get(line[:1], "same") if not line.startswith(("+++", "---")) else "file", line)
        for line in lines
    ]


# -- snippets ------------------------------------------------------------------------------------


def snippet_versions(session: Session, key: str) -> list[Snippet]:
    return list(
        session.scalars(select(Snippet).where(Snippet.key == key).order_by(Snippet.version.desc()))
    )


def _snippet(session: Session, snippet_id: int) -> Snippet:
    snippet = session.get(Snippet, snippet_id)
    if snippet is None:
        raise ContentError(f"snippet {snippet_id} not found")
    return snippet


def _snippet_context(source: PreviewSource, settings: Settings) -> dict[str, Any]:
    drafting = settings.drafting
    return {
        "customer": source.customer.for_template(),
        "message": {"subject": source.subject, "new_text": source.new_text},
        "company": {
            "name": drafting.company_name,
            "signature": drafting.signature,
            "support_url": drafting.support_url,
        },
        "entities": {
            "invoice_numbers": [],
            "amounts": [],
            "phone_numbers": [],
            "competitors": [],
            "plans": [],
        },
    }


def render_snippet(body: str, key: str, source: PreviewSource, settings: Settings) -> Preview:
    try:
        text = render_string(body, _snippet_context(source, settings), f"snippet {key}")
    except TemplateFailure as exc:
        return Preview("", str(exc))
    return Preview(text, "")


def snippet_preview(
    session: Session,
    settings: Settings,
    snippet_id: int,
    body: str,
    message_id: int | None,
    customer_id: int | None = None,
) -> Preview:
    snippet = _snippet(session, snippet_id)
    try:
        source = preview_source(session, settings, message_id, customer_id)
    except ContentError as exc:
        return Preview("", str(exc))
    return render_snippet(body, snippet.key, source, settings)


def validate_snippet(key: str, body: str, settings: Settings) -> str | None:
    if not body.strip():
        return "the snippet is empty"
    for customer in SAMPLE_CUSTOMERS:
        source = PreviewSource("Sample subject", "Sample message.", None, customer, ())
        preview = render_snippet(body, key, source, settings)
        if preview.error:
            return preview.error
    return None


@dataclass(frozen=True)
class SnippetFields:
    """What a snippet says besides its body: its title, where it is offered, and whether."""

    title: str
    intents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str = "en"
    active: bool = True
    # Filters: offered only to customers on these plans or tiers, and only between the dates.
    plans: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    valid_from: str = ""
    valid_until: str = ""

    @classmethod
    def of(cls, snippet: Snippet) -> SnippetFields:
        filters = dict(snippet.filters or {})
        return cls(
            title=snippet.title,
            intents=tuple(snippet.intents or ()),
            tags=tuple(snippet.tags or ()),
            language=snippet.language,
            active=snippet.active,
            plans=tuple(filters.get("plans") or ()),
            tiers=tuple(filters.get("tiers") or ()),
            valid_from=str(filters.get("valid_from") or ""),
            valid_until=str(filters.get("valid_until") or ""),
        )

    def filters(self) -> dict[str, object]:
        """As the snippet files' header gives them: only the filters that are set."""
        found: dict[str, object] = {
            k: list(v) for k, v in (("plans", self.plans), ("tiers", self.tiers)) if v
        }
        found.update(
            {
                k: v
                for k, v in (("valid_from", self.valid_from), ("valid_until", self.valid_until))
                if v
            }
        )
        return found


def comma_list(text: str) -> tuple[str, ...]:
    """`roaming, billing_dispute` as the form sends it: trimmed, blanks and repeats dropped."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def _unknown(kind: str, given: tuple[str, ...], known: Any) -> str | None:
    missing = [value for value in given if value not in known]
    if missing:
        return f"unknown {kind} {', '.join(missing)} (the {kind}s are {', '.join(known)})"
    return None


def _dates(fields: SnippetFields) -> str | None:
    try:
        start = date.fromisoformat(fields.valid_from) if fields.valid_from else None
        end = date.fromisoformat(fields.valid_until) if fields.valid_until else None
    except ValueError as exc:
        return f"a date is not YYYY-MM-DD ({exc})"
    if start and end and end < start:
        return f"valid until {end} is before valid from {start}"
    return None


def check_snippet_fields(session: Session, settings: Settings, fields: SnippetFields) -> str | None:
    if not fields.title.strip():
        return "the title is empty"
    if fields.language not in settings.classify.languages:
        return (
            f"unknown language {fields.language!r} "
            f"(use one of {', '.join(settings.classify.languages)})"
        )
    return (
        _unknown("intent", fields.intents, list(labels(session, "intent")))
        or _unknown("plan", fields.plans, settings.drafting.plan_names)
        or _unknown("tier", fields.tiers, settings.value.tier_names)
        or _dates(fields)
    )


def save_snippet(
    session: Session,
    settings: Settings,
    snippet_id: int,
    body: str,
    author: str,
    *,
    fields: SnippetFields | None = None,
    action: str = "snippet.save",
    **detail: Any,
) -> Snippet:
    """A new live version when the body or a field changed, only if it renders and names
    intents and a language that exist; switching a snippet off keeps it out of new drafts."""
    snippet = _snippet(session, snippet_id)
    live = snippet_versions(session, snippet.key)[0]
    body = body.replace("\r\n", "\n").strip()
    fields = fields or SnippetFields.of(live)
    fields = dataclasses.replace(fields, title=fields.title.strip() or live.title)
    if body == live.body.strip() and fields == SnippetFields.of(live):
        return live
    problem = (
        check_snippet_fields(session, settings, fields)
        or validate_snippet(live.key, body, settings)
        or (_named_by_actions(session, settings, live.key) if not fields.active else None)
    )
    if problem:
        raise ContentError(f"not saved: {problem}")
    version = _snippet_version(live.key, live.version + 1, fields, body, author)
    session.add(version)
    session.flush()
    if fields.active != live.active:
        detail["switched"] = "on" if fields.active else "off"
    audit(session, author, action, "snippet", live.key, version=version.version, **detail)
    return version


def _named_by_actions(session: Session, settings: Settings, key: str) -> str | None:
    """An action rule offering a switched-off snippet would offer nothing when chosen."""
    rules = sorted(
        {r.name for r in current_rules(session, settings).actions.rules if r.snippet == key}
    )
    if rules:
        return (
            f"the action rule {', '.join(rules)} offers this snippet: change the rule "
            "(Rules) before switching the snippet off"
        )
    return None


def _snippet_version(
    key: str, number: int, fields: SnippetFields, body: str, author: str
) -> Snippet:
    return Snippet(
        key=key,
        version=number,
        title=fields.title,
        intents=list(fields.intents),
        tags=list(fields.tags),
        language=fields.language,
        body=body,
        filters=fields.filters(),
        active=fields.active,
        author=author,
    )


SNIPPET_KEY = re.compile(r"[a-z0-9][a-z0-9-]{1,99}")


def create_snippet(
    session: Session, settings: Settings, key: str, fields: SnippetFields, body: str, author: str
) -> Snippet:
    """A new approved answer, version 1, held to the same checks as an edit."""
    key = key.strip()
    if not SNIPPET_KEY.fullmatch(key):
        raise ContentError(
            f"not created: the id {key!r} must be 2-100 lower-case letters, digits and hyphens"
        )
    if snippet_versions(session, key):
        raise ContentError(f"not created: a snippet {key!r} exists already")
    body = body.replace("\r\n", "\n").strip()
    problem = check_snippet_fields(session, settings, fields) or validate_snippet(
        key, body, settings
    )
    if problem:
        raise ContentError(f"not created: {problem}")
    snippet = _snippet_version(key, 1, fields, body, author)
    session.add(snippet)
    session.flush()
    audit(session, author, "snippet.create", "snippet", key, version=1)
    return snippet


def rollback_snippet(session: Session, settings: Settings, snippet_id: int, author: str) -> Snippet:
    """The old version's words and fields come back; whether it is switched on stays as is."""
    old = _snippet(session, snippet_id)
    live = snippet_versions(session, old.key)[0]
    if old.id == live.id:
        raise ContentError(f"version {old.version} is already the live version")
    return save_snippet(
        session,
        settings,
        live.id,
        old.body,
        author,
        fields=dataclasses.replace(SnippetFields.of(old), active=live.active),
        action="snippet.rollback",
        restored=old.version,
    )


def preview_choices(session: Session, limit: int = 50) -> dict[str, list[tuple[int, str]]]:
    """Recent inbound messages and customers a supervisor can preview against."""
    messages = session.execute(
        select(Message.id, Message.subject, Message.sender_address, Message.intent)
        .where(Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    customers = session.execute(
        select(Customer.id, Customer.name, Customer.plan).order_by(Customer.name).limit(500)
    ).all()
    return {
        "messages": [
            (m.id, f"#{m.id} {m.subject or '(no subject)'} · {m.sender_address} · {m.intent or ''}")
            for m in messages
        ],
        "customers": [(c.id, f"{c.name} · {c.plan}") for c in customers],
    }


def live_snippets_all(session: Session) -> list[Snippet]:
    """The highest version per key, switched off ones included (the editor lists them all)."""
    latest: dict[str, Snippet] = {}
    for snippet in session.scalars(select(Snippet).order_by(Snippet.version)):
        latest[snippet.key] = snippet
    return list(latest.values())
