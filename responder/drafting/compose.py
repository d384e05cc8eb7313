"""A draft from an approved template, approved snippets and the customer's own data.

Plain function over plain data: it returns the text and a grounding record of what produced
it, or an error that sends the message to a person without a draft.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from responder.classify.nearest import UNKNOWN
from responder.config import DraftingSettings
from responder.content import template_key
from responder.customers.context import CustomerContext
from responder.drafting.render import TemplateFailure, make_environment, render, render_string
from responder.knowledge.retrieve import ScoredSnippet

EMPTY_ENTITIES: dict[str, list[str]] = {
    "invoice_numbers": [],
    "amounts": [],
    "phone_numbers": [],
    "competitors": [],
    "plans": [],
}


@dataclass(frozen=True)
class DraftResult:
    body: str
    template_id: int | None
    grounding: dict[str, Any]
    error: str = ""
    flags: tuple[str, ...] = field(default=())


def choose_template(
    templates: Mapping[str, str], intent: str, language: str, default_language: str
) -> tuple[str | None, bool]:
    """The template for this intent in the customer's language, else the default language."""
    for lang, fallback in ((language, False), (default_language, language != default_language)):
        key = template_key(f"intents/{intent}", lang)
        if key in templates:
            return key, fallback
    return None, False


def compose_draft(
    *,
    templates: Mapping[str, str],
    template_ids: Mapping[str, int],
    intent: str | None,
    language: str,
    customer: CustomerContext,
    subject: str,
    new_text: str,
    snippets: Sequence[ScoredSnippet],
    drafting: DraftingSettings,
    entities: Mapping[str, list[str]] | None = None,
) -> DraftResult:
    grounding: dict[str, Any] = {
        "intent": intent,
        "snippets": [
            {
                "key": s.snippet.key,
                "version": s.snippet.version,
                "id": s.snippet.id,
                "score": s.score,
            }
            for s in snippets
        ],
        "customer_id": customer.customer_id,
        "entities": dict(entities or EMPTY_ENTITIES),
    }
    if not intent or intent == UNKNOWN:
        return DraftResult("", None, grounding, "the intent is uncertain: no template was guessed")
    key, fell_back = choose_template(templates, intent, language, drafting.default_language)
    if key is None:
        return DraftResult("", None, grounding, f"no template for intent {intent!r}")
    grounding["template"] = {"key": key, "id": template_ids.get(key)}
    context: dict[str, Any] = {
        "customer": customer.for_template(),
        "message": {"subject": subject, "new_text": new_text},
        "company": {
            "name": drafting.company_name,
            "signature": drafting.signature,
            "support_url": drafting.support_url,
        },
        "entities": dict(entities or EMPTY_ENTITIES),
    }
    try:
        rendered = [
            {
                "id": s.snippet.key,
                "title": s.snippet.title,
                "body": render_string(s.snippet.body, context, f"snippet {s.snippet.key}").strip(),
            }
            for s in snippets
        ]
        context["snippets"] = rendered
        context["snippet"] = rendered[0] if rendered else None
        body = render(make_environment(templates), key, context)
    except TemplateFailure as exc:
        grounding["template_error"] = {"template": exc.template, "problem": exc.problem}
        return DraftResult("", template_ids.get(key), grounding, str(exc))
    flags = ("template in the default language: none for the customer's",) if fell_back else ()
    grounding["flags"] = list(flags)
    return DraftResult(body, template_ids.get(key), grounding, "", flags)
