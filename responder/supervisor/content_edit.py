"""Supervisors edit templates: preview, validate, save as a new version, roll back; and the
rendering that snippet edits (`snippet_edit`) and new templates (`template_create`) share.

A version that fails to render (syntax, a missing variable, a sandbox violation) is refused,
so the live version is always one that renders. Every save and roll-back is audit-logged.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.channels import reply_channel
from responder.config import Settings
from responder.content import live_templates, template_key
from responder.customers.context import CustomerContext, build_context
from responder.customers.view import load_context
from responder.db.models import Channel, Customer, Draft, Message, Snippet, Template, utcnow
from responder.display import headline, preview_column
from responder.drafting.compose import compose_draft
from responder.drafting.render import TemplateFailure, render_string
from responder.knowledge.retrieve import IndexedSnippet, ScoredSnippet
from responder.review import ReviewError, audit

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


class StaleContent(ContentError):
    """The edit was made on a version whose words or fields a colleague's save has changed
    since: saving it would silently undo theirs. `read` is the version it was made on."""

    status_code = 409

    def __init__(self, message: str, read: int, live: int) -> None:
        super().__init__(message)
        self.read = read
        self.live = live


Version = TypeVar("Version", Template, Snippet)


def checked_base(
    versions: Sequence[Version],
    based_on: int | None,
    over: int | None,
    same: Callable[[Version, Version], bool],
    *,
    refused: str = "not saved",
    made_on: str = "your text was made on",
) -> dict[str, str]:
    """Refuses (`StaleContent`) an edit made on version `based_on` when the live version
    (`versions[0]`) no longer says what that one did; `same` compares what an edit would
    carry over (a retire or restore alone changes nothing typed, so it is no conflict).
    `over` is the live version a refused save's page showed, saved over on purpose: checked
    in its place, and the audit detail it returns says so. Neither given: no check."""
    read = over if over is not None else based_on
    if read is None:
        return {}
    live = versions[0]
    base = next((v for v in versions if v.version == read), None)
    if base is None or not same(base, live):
        raise StaleContent(
            f"{refused}: {live.author} saved version {live.version} after version {read}, "
            f"which {made_on}",
            read,
            live.version,
        )
    if over is not None and based_on is not None and over > based_on:
        return {"saved_over": f"version {over} ({base.author}'s), made on version {based_on}"}
    return {}


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
    channel: str = "email"  # as templates see it: `email`, or the platform of a DM


#: A version must render for an email and for a DM (a layout may sign off differently).
SAMPLE_CHANNELS = ("email", "whatsapp")


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
    channel = session.get(Channel, message.channel_id)
    return PreviewSource(
        message.subject,
        message.new_text or message.text,
        message.intent,
        customer,
        tuple(scored),
        reply_channel(channel.kind if channel else None),
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
    """Render as drafting would, with this template's body in place of its live version. A
    tone variant is rendered under its own name, as a draft given its tone chooses it, so an
    error names the variant's file (and line), not the plain template's."""
    edited = dict(templates)
    intent = _intent_of(template) or source.intent
    if not intent:
        return Preview("", "choose a message with an intent to preview this layout")
    tone = template.tone if _intent_of(template) else ""  # a layout has no tone variants
    edited[template_key(template.name, template.language, tone)] = body
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
        tone=tone,
        channel=source.channel,
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
    return preview_template_text(session, settings, template, body, message_id, customer_id)


def preview_template_text(
    session: Session,
    settings: Settings,
    template: Template,
    body: str,
    message_id: int | None,
    customer_id: int | None = None,
) -> Preview:
    """A template's text as a draft would read it, saved or not (a new template has no row
    yet: `template` then only names the intent, language and tone it is written for)."""
    if not body.strip():
        return Preview("", "the template is empty")
    bodies = {k: t.body for k, t in live_templates(session).items()}
    try:
        source = preview_source(session, settings, message_id, customer_id)
    except ContentError as exc:
        return Preview("", str(exc))
    return render_template_with(bodies, template, body, source, settings)


#: `{% extends "layout.de.j2" %}`: the layout a template is written into, and its language.
EXTENDS_LAYOUT = re.compile(r"""\{%-?\s*extends\s+["']layout\.([A-Za-z_-]+)\.j2["']""")


def validate_template(
    session: Session, settings: Settings, template: Template, body: str
) -> str | None:
    """The first problem rendering against sample customers, with and without a snippet; an
    intent template that extends another language's layout where its own has one (its greeting
    and sign-off would be in the other language) is one."""
    bodies = {k: t.body for k, t in live_templates(session).items()}
    extended = EXTENDS_LAYOUT.search(body)
    own_layout = template_key("layout", template.language)
    if (
        template.name != "layout"
        and extended
        and extended.group(1) != template.language
        and own_layout in bodies
    ):
        return (
            f"this {template.language} template extends layout.{extended.group(1)}.j2: "
            f'use {{% extends "{own_layout}" %}}, the {template.language} layout'
        )
    sample_snippets = ((), (ScoredSnippet(SAMPLE_SNIPPET, 1.0, 1.0),))
    intent = _intent_of(template) or "other"
    probe = template_key(f"intents/{intent}", template.language)
    if template.name == "layout" and probe not in bodies:
        # A new language's layout has no intent template yet: render it through a stand-in.
        bodies[probe] = (
            f'{{% extends "{template_key("layout", template.language)}" %}}'
            "{% block body %}Sample reply.{% endblock %}"
        )
    for customer, snippets, channel in itertools.product(
        SAMPLE_CUSTOMERS, sample_snippets, SAMPLE_CHANNELS
    ):
        source = PreviewSource(
            "Sample subject", "Sample message.", intent, customer, snippets, channel
        )
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
    session: Session,
    settings: Settings,
    template_id: int,
    body: str,
    author: str,
    *,
    active: bool | None = None,
    based_on: int | None = None,
    over: int | None = None,
) -> Template:
    """A new live version, only if it renders; an unchanged body saves nothing. `active`
    False switches the template off: no draft uses it (refused where drafts depend on it; one
    retired already, which its confirm page allowed, may still be edited). `based_on`, the
    version the editor was opened on: a colleague's change of the text since refuses the save
    (`StaleContent`) rather than undo it; `over`, see `checked_base`."""
    template = _template(session, template_id)
    body = body.replace("\r\n", "\n")
    versions = template_versions(session, template)
    live = versions[0]
    active = live.active if active is None else active
    if body == live.body and active == live.active:
        return live
    detail: dict[str, Any] = checked_base(versions, based_on, over, _same_template)
    problem = (
        validate_template(session, settings, template, body)
        if body.strip()
        else "the template is empty"
    ) or (None if active or not live.active else _needed(session, settings, live))
    if problem:
        raise ContentError(f"not saved: {problem}")
    if active != live.active:
        detail["switched"] = "on" if active else "off"
    return _new_template_version(session, live, body, author, "template.save", active, **detail)


def _same_template(one: Template, other: Template) -> bool:
    return one.body == other.body


def _needed(session: Session, settings: Settings, template: Template) -> str | None:
    """Why drafts cannot do without this template, if they cannot."""
    if template.name == "layout":
        extending = sorted(
            key
            for key, t in live_templates(session).items()
            if t.name != "layout" and t.language == template.language
        )
        if extending:
            return (
                f"the {template.language} templates extend this layout "
                f"({len(extending)}, e.g. {extending[0]}): switch them off first"
            )
    elif template.language == settings.drafting.default_language and not template.tone:
        return (
            "drafts in every language fall back to the default language's plain template: "
            "edit it instead, or retire it (Retire…), which says first what drafts then lose"
        )
    return None


def _new_template_version(
    session: Session,
    live: Template,
    body: str,
    author: str,
    action: str,
    active: bool = True,
    **detail: Any,
) -> Template:
    version = Template(
        name=live.name,
        language=live.language,
        tone=live.tone,
        version=live.version + 1,
        body=body,
        active=active,
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


#: How `checked_base` words a refused roll-back.
ROLLBACK_WORDS = {
    "refused": "not rolled back",
    "made_on": "the page showed: look at their change, then roll back again if still meant",
}


def rollback_template(
    session: Session,
    settings: Settings,
    template_id: int,
    author: str,
    *,
    based_on: int | None = None,
) -> Template:
    """Make an old version live again, as a new version (history is never rewritten).
    `based_on`: the live version the page showed; a colleague's save since refuses it."""
    old = _template(session, template_id)
    versions = template_versions(session, old)
    live = versions[0]
    if old.id == live.id:
        raise ContentError(f"version {old.version} is already the live version")
    checked_base(versions, based_on, None, _same_template, **ROLLBACK_WORDS)
    problem = validate_template(session, settings, old, old.body)
    if problem:
        raise ContentError(f"version {old.version} no longer renders: {problem}")
    return _new_template_version(  # the words come back; switched on or off stays as it is
        session, live, old.body, author, "template.rollback", live.active, restored=old.version
    )


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


def preview_choices(
    session: Session, limit: int = 50, also: int | None = None
) -> dict[str, list[tuple[int, str]]]:
    """Recent inbound messages and customers a supervisor can preview against; `also` (the one
    the editor picked) is offered even when it is older than the recent ones."""
    columns = select(
        Message.id, Message.subject, Message.sender_address, Message.intent, preview_column()
    ).where(Message.direction == "in")
    messages = session.execute(columns.order_by(Message.id.desc()).limit(limit)).all()
    if also is not None and all(m.id != also for m in messages):
        messages += session.execute(columns.where(Message.id == also)).all()
    customers = session.execute(
        select(Customer.id, Customer.name, Customer.plan).order_by(Customer.name).limit(500)
    ).all()
    return {
        "messages": [
            (
                m.id,
                f"#{m.id} {headline(m.subject, m.preview)} · {m.sender_address} · {m.intent or ''}",
            )
            for m in messages
        ],
        "customers": [(c.id, f"{c.name} · {c.plan}") for c in customers],
    }


# -- rendering snippets ---------------------------------------------------------------------------


def _snippet_context(source: PreviewSource, settings: Settings) -> dict[str, Any]:
    drafting = settings.drafting
    return {
        "customer": source.customer.for_template(),
        "message": {
            "subject": source.subject,
            "new_text": source.new_text,
            "channel": source.channel,
        },
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


def render_snippet(
    body: str, key: str, source: PreviewSource, settings: Settings, language: str = "en"
) -> Preview:
    """As drafting renders a snippet in `language`: that language's locale (`drafting.locales`)
    and the team's currency, so an inserted answer's amounts and dates read as a draft's do."""
    drafting = settings.drafting
    locale = drafting.locales.get(language) or drafting.locales.get("en", "en_IE")
    try:
        text = render_string(
            body, _snippet_context(source, settings), f"snippet {key}", locale, drafting.currency
        )
    except TemplateFailure as exc:
        return Preview("", str(exc))
    return Preview(text, "")


def validate_snippet(key: str, body: str, settings: Settings, language: str) -> str | None:
    """Rendered as drafts in `language` render it (its locale's numbers and dates), so a body
    that fails only there is refused, and one that fails only in English is not."""
    if not body.strip():
        return "the snippet is empty"
    for customer, channel in itertools.product(SAMPLE_CUSTOMERS, SAMPLE_CHANNELS):
        source = PreviewSource("Sample subject", "Sample message.", None, customer, (), channel)
        preview = render_snippet(body, key, source, settings, language)
        if preview.error:
            return preview.error
    return None
