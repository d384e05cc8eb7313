"""Supervisors add a reply template: an intent's template in another language or tone, or a
new language's layout. It starts from the existing one and must render like any edit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from responder.config import Settings
from responder.content import live_templates, template_key
from responder.db.models import Template
from responder.drafting.rule_versions import current_rules
from responder.review import audit
from responder.supervisor.content_edit import (
    EXTENDS_LAYOUT,
    ContentError,
    Preview,
    preview_template_text,
    validate_template,
)
from responder.supervisor.examples import labels


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
            if lang == language or template_key("layout", language) not in live:
                return found.body
            return EXTENDS_LAYOUT.sub(  # the translation is written into its own layout
                lambda m: m.group(0).replace(f"layout.{m.group(1)}.j2", f"layout.{language}.j2"),
                found.body,
                count=1,
            )
    return f'{{% extends "layout.{language}.j2" %}}\n{{% block body %}}\n\n{{% endblock %}}\n'


def preview_new_template(
    session: Session,
    settings: Settings,
    intent: str,
    language: str,
    tone: str,
    body: str,
    message_id: int | None,
    customer_id: int | None = None,
) -> Preview:
    """The text being written as a template of the intent, language and tone would render,
    before it exists: the editor's preview, for the new-template form."""
    if not intent or not language:
        return Preview("", "choose the intent and language first")
    unsaved = Template(name=template_name(intent), language=language, tone=tone)
    return preview_template_text(session, settings, unsaved, body, message_id, customer_id)


def new_template_problem(
    session: Session, settings: Settings, intent: str, language: str, tone: str
) -> str | None:
    """Why no draft could use a new template of this intent, language and tone, if none could
    (`responder import-content` asks it of a file naming a template the database lacks)."""
    if intent != LAYOUT and intent not in labels(session, "intent"):
        return f"unknown intent {intent!r}"
    if language not in settings.classify.languages:
        return f"unknown language {language!r}"
    tones = template_tones(session, settings)
    if tone and tone not in tones:
        return f"no tone rule picks {tone!r} (the rules' tones are {', '.join(tones) or 'none'})"
    if intent == LAYOUT and tone:
        return "a layout has no tone variants (it reads `tone` itself)"
    return None


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
    if problem := new_template_problem(session, settings, intent, language, tone):
        raise ContentError(f"not created: {problem}")
    name = template_name(intent)
    key = template_key(name, language, tone)
    existing = live_templates(session, switched_off=True).get(key)
    if existing is not None:
        how = ", retired: restore it in its editor" if not existing.active else "; edit it instead"
        raise ContentError(f"not created: {key} exists already{how}")
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
