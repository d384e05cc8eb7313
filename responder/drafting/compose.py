"""A draft from an approved template, approved snippets and the customer's own data.

Plain function over plain data: it returns the text and a grounding record of what produced
it, or an error that sends the message to a person without a draft (the failing template's
key and version are recorded so a supervisor can see which one broke).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from responder.classify.language import language_name
from responder.classify.predict import UNKNOWN
from responder.config import DraftingSettings
from responder.content import template_key
from responder.customers.context import CustomerContext
from responder.drafting.entities import EMPTY_ENTITIES
from responder.drafting.render import TemplateFailure, cached_environment, render, render_string
from responder.drafting.used import marked_used
from responder.knowledge.retrieve import ScoredSnippet

__all__ = ["EMPTY_ENTITIES", "DraftResult", "TemplateRef", "choose_template", "compose_draft"]

FALLBACK_FLAG = "template in the default language: none in the customer's language ({})"
NOT_FOR_FLAG = "{action} left out of the draft: its answer {key} is not for this customer ({why})"


@dataclass(frozen=True)
class TemplateRef:
    """A live template version as the drafting core sees it."""

    body: str
    id: int | None = None
    version: int = 1


@dataclass(frozen=True)
class DraftResult:
    body: str
    template_id: int | None
    grounding: dict[str, Any]
    error: str = ""
    flags: tuple[str, ...] = field(default=())
    # The chosen action's paragraph as it was rendered into the body ("" without one), for
    # adding it to a draft a person edited.
    action_text: str = ""
    # Each snippet's text as rendered for this draft (by key, the action's included), to tell
    # which of them a person's edited text still holds.
    snippet_texts: Mapping[str, str] = field(default_factory=dict)


def choose_template(
    templates: Mapping[str, Any], intent: str, language: str, default_language: str, tone: str = ""
) -> tuple[str | None, bool]:
    """The intent's template in the customer's language (tone variant first), else in the
    default language; the flag says the default language had to be used."""
    tones = (tone, "") if tone else ("",)
    for lang in dict.fromkeys((language, default_language)):
        for variant in tones:
            key = template_key(f"intents/{intent}", lang, variant)
            if key in templates:
                return key, lang != language
    return None, False


def _snippet_record(s: ScoredSnippet, text: str = "") -> dict[str, Any]:
    """`text` is the snippet as rendered for this draft ("" when it was not: another
    language), kept so a person's later version can be judged by it (`used.marked_used`)."""
    return {
        "key": s.snippet.key,
        "version": s.snippet.version,
        "id": s.snippet.id,
        "score": s.score,
        "similarity": s.similarity,
        "language": s.snippet.language,
        "text": text,
        "used": False,
    }


def compose_draft(
    *,
    templates: Mapping[str, TemplateRef | str],
    intent: str | None,
    language: str,
    customer: CustomerContext,
    subject: str,
    new_text: str,
    snippets: Sequence[ScoredSnippet],
    drafting: DraftingSettings,
    entities: Mapping[str, list[str]] | None = None,
    tone: str = "",
    actions: Sequence[Mapping[str, str]] = (),
    chosen_action: Mapping[str, str] | None = None,
    action_snippet: ScoredSnippet | None = None,
    action_not_for: Sequence[str] = (),
    template_ids: Mapping[str, int] | None = None,
    channel: str = "email",
    incidents: Sequence[Mapping[str, Any]] = (),
    incident: Mapping[str, Any] | None = None,
) -> DraftResult:
    """`templates` maps loader names to TemplateRef (or bare bodies, with `template_ids`).
    `channel` is what the reply goes out on, `email` or the platform (`whatsapp`, `messenger`,
    `instagram`, `x`), as `message.channel`: a DM's layout can sign off in one line.
    `incidents` are the active network incidents and `incident` the one that fits the message
    (None: no known fault there), as `responder.drafting.incident_facts` reads them for an
    outage message (none for other intents).
    `action_not_for` says why `action_snippet` is not for this customer today
    (`retrieve.restrictions`, the rule retrieval obeys): it stays out of the text, and a flag
    tells the reviewer why."""
    refs = {
        k: v if isinstance(v, TemplateRef) else TemplateRef(v, (template_ids or {}).get(k))
        for k, v in templates.items()
    }
    found = {**EMPTY_ENTITIES, **{k: list(v) for k, v in (entities or {}).items()}}
    grounding: dict[str, Any] = {
        "intent": intent,
        "language": language,
        "tone": tone,
        "customer_id": customer.customer_id,
        "entities": found,
        "snippets": [_snippet_record(s) for s in snippets],
    }
    if not intent or intent == UNKNOWN:
        return DraftResult("", None, grounding, "the intent is uncertain: no template was guessed")
    key, fell_back = choose_template(templates, intent, language, drafting.default_language, tone)
    if key is None:
        return DraftResult("", None, grounding, f"no template for intent {intent!r}")
    ref = refs[key]
    template_language = key[len(f"intents/{intent}.") :].split(".")[0]
    grounding["template"] = {
        "key": key,
        "id": ref.id,
        "version": ref.version,
        "language": template_language,
        "tone": tone if key.endswith(f".{tone}.j2") and tone else "",
    }
    # Dates and amounts follow the language the reply is written in: a French customer answered
    # from the English template reads "9 April 2027", not "9 avril 2027" inside English text.
    locale = drafting.locales.get(template_language) or drafting.locales.get(language, "en_IE")
    context: dict[str, Any] = {
        "customer": customer.for_template(),
        "message": {"subject": subject, "new_text": new_text, "channel": channel},
        "company": {
            "name": drafting.company_name,
            "signature": drafting.signature,
            "support_url": drafting.support_url,
        },
        "entities": found,
        "tone": tone,
        "actions": [dict(a) for a in actions],
        "chosen_action": dict(chosen_action) if chosen_action else None,
        "incidents": [dict(i) for i in incidents],
        "incident": dict(incident) if incident else None,
    }
    # Only snippets in the template's language go into the text: a German reply never gets
    # an English paragraph; the others stay listed (unused) for the reviewer.
    usable = [s for s in snippets if s.snippet.language == template_language]
    failing = key
    try:
        rendered = []
        for s in usable:
            failing = f"snippet {s.snippet.key} v{s.snippet.version}"
            body = render_string(s.snippet.body, context, failing, locale, drafting.currency)
            rendered.append({"id": s.snippet.key, "title": s.snippet.title, "body": body.strip()})
        context["snippets"] = rendered
        context["snippet"] = rendered[0] if rendered else None
        context["action_snippet"] = None
        if (
            action_snippet is not None
            and not action_not_for
            and action_snippet.snippet.language == template_language
        ):
            failing = f"snippet {action_snippet.snippet.key} v{action_snippet.snippet.version}"
            text = render_string(
                action_snippet.snippet.body, context, failing, locale, drafting.currency
            )
            context["action_snippet"] = {
                "id": action_snippet.snippet.key,
                "title": action_snippet.snippet.title,
                "body": text.strip(),
            }
        failing = key
        env = cached_environment({k: t.body for k, t in refs.items()}, locale, drafting.currency)
        body = render(env, key, context)
    except TemplateFailure as exc:
        grounding["template_error"] = {
            "template": exc.template,
            "failing": failing,
            "problem": exc.problem,
        }
        # A syntax error in the layout it extends is that file's, and its line is there.
        where = exc.template if failing == key else failing
        return DraftResult("", ref.id, grounding, f"{where}: {exc.problem}")
    # Templates may pick among the snippets, or quote only part of one: a snippet is used when
    # the draft holds its whole rendered text.
    rendered_now = [*context["snippets"], context["action_snippet"] or {}]
    texts = {r["id"]: r["body"] for r in rendered_now if r}
    records = [_snippet_record(s, texts.get(s.snippet.key, "")) for s in snippets]
    grounding["snippets"] = marked_used(records, body)
    if action_snippet is not None:
        action_record = _snippet_record(action_snippet, texts.get(action_snippet.snippet.key, ""))
        if action_not_for:
            action_record["not_for"] = list(action_not_for)
        grounding["action_snippet"] = marked_used([action_record], body)[0]
    flags = _flags(language if fell_back else "", chosen_action, action_snippet, action_not_for)
    grounding["flags"] = list(flags)
    action_text = (context["action_snippet"] or {}).get("body", "")
    return DraftResult(body, ref.id, grounding, "", flags, action_text, texts)


def _flags(
    fell_back_from: str,
    chosen_action: Mapping[str, str] | None,
    action_snippet: ScoredSnippet | None,
    action_not_for: Sequence[str],
) -> tuple[str, ...]:
    """What the reviewer is warned of beside the draft; `fell_back_from` is the customer's
    language when its template was missing ("" when it was not)."""
    flags = [FALLBACK_FLAG.format(language_name(fell_back_from))] if fell_back_from else []
    if action_snippet is not None and action_not_for:
        chosen = chosen_action or {}
        action = chosen.get("label") or chosen.get("name") or "The chosen action"
        why = ", ".join(action_not_for)
        flags.append(NOT_FOR_FLAG.format(action=action, key=action_snippet.snippet.key, why=why))
    return tuple(flags)


def used_snippet_ids(grounding: Mapping[str, Any]) -> set[int]:
    """The snippet versions whose text went into the draft, the offered action's included."""
    records = [*grounding.get("snippets", []), grounding.get("action_snippet") or {}]
    return {r["id"] for r in records if r.get("used") and r.get("id") is not None}


def used_snippet_keys(grounding: Mapping[str, Any]) -> set[str]:
    """The snippets (by key) whose text went into the draft as it was written."""
    records = [*grounding.get("snippets", []), grounding.get("action_snippet") or {}]
    return {r["key"] for r in records if r.get("used") and r.get("key")}
