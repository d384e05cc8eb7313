"""Supervisors retire a snippet or a template (an ended promotion, a withdrawn answer) and
restore it. Retired is the switched-off state drafts already honour: the live version has
`active` False, so retrieval, the template choice, the insert list, export and the seeding at
start all leave it out, while every version stays for the history and the drafts that used it.

Retiring and restoring each add a version with the same words (history is never rewritten) and
an audit entry; the reason given is kept in the retiring entry's detail, which is where the
list and the editor read who retired it, when and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.classify.language import language_name
from responder.classify.titles import code_in_words
from responder.config import Settings
from responder.content import live_templates, template_key
from responder.db.models import AuditEntry, Snippet, Template
from responder.review import audit
from responder.supervisor.content_edit import (
    EXTENDS_LAYOUT,
    ContentError,
    _needed,
    _template,
    template_versions,
    validate_snippet,
    validate_template,
)
from responder.supervisor.snippet_edit import (
    SnippetFields,
    _named_by_actions,
    _snippet,
    _snippet_version,
    check_snippet_fields,
    snippet_versions,
)

REASON_LENGTH = 500


@dataclass(frozen=True)
class Retired:
    """Who took an item out of new drafts, when and why ("" when no reason was given, or when
    it was switched off from the editor before retiring had a reason)."""

    by: str
    at: datetime
    reason: str
    version: int


def _reason(reason: str | None) -> dict[str, str]:
    """The audit detail's reason, trimmed; none at all when none was given (the audit page
    would show an empty "reason:")."""
    said = " ".join((reason or "").split())[:REASON_LENGTH]
    return {"reason": said} if said else {}


def retire_snippet(
    session: Session, settings: Settings, snippet_id: int, author: str, reason: str = ""
) -> Snippet:
    """A version with the same words, switched off: no new draft retrieves or offers it."""
    live = snippet_versions(session, _snippet(session, snippet_id).key)[0]
    if not live.active:
        raise ContentError(f"snippet {live.key} is retired already")
    problem = _named_by_actions(session, settings, live.key)
    if problem:
        raise ContentError(
            f"not retired: {problem.replace('switching the snippet off', 'retiring it')}"
        )
    fields = dataclasses.replace(SnippetFields.of(live), active=False)
    version = _snippet_version(live.key, live.version + 1, fields, live.body, author)
    session.add(version)
    session.flush()
    audit(
        session,
        author,
        "snippet.retire",
        "snippet",
        live.key,
        version=version.version,
        **_reason(reason),
    )
    return version


def restore_snippet(session: Session, settings: Settings, snippet_id: int, author: str) -> Snippet:
    """The latest version's words and fields offered again, held to the checks an edit is
    (an intent or plan removed meanwhile is named, not restored into drafts)."""
    live = snippet_versions(session, _snippet(session, snippet_id).key)[0]
    if live.active:
        raise ContentError(f"snippet {live.key} is not retired")
    fields = dataclasses.replace(SnippetFields.of(live), active=True)
    problem = check_snippet_fields(session, settings, fields) or validate_snippet(
        live.key, live.body, settings, fields.language
    )
    if problem:
        raise ContentError(f"not restored: {problem}; edit it, then restore it")
    version = _snippet_version(live.key, live.version + 1, fields, live.body, author)
    session.add(version)
    session.flush()
    audit(session, author, "snippet.restore", "snippet", live.key, version=version.version)
    return version


def retire_template(
    session: Session, settings: Settings, template_id: int, author: str, reason: str = ""
) -> Template:
    """A version with the same words, switched off: drafts choose as if it did not exist. Even
    an intent's last template may go (its messages then reach a person with no draft, as an
    intent without a template always has); a layout other templates extend may not."""
    live = template_versions(session, _template(session, template_id))[0]
    if not live.active:
        raise ContentError(f"template {_key(live)} is retired already")
    if live.name == "layout":
        problem = _needed(session, settings, live)
        if problem:
            raise ContentError(f"not retired: {problem.replace('switch them off', 'retire them')}")
    version = _template_copy(session, live, author, active=False)
    audit(
        session,
        author,
        "template.retire",
        "template",
        _key(live),
        version=version.version,
        **_reason(reason),
    )
    return version


def restore_template(
    session: Session, settings: Settings, template_id: int, author: str
) -> Template:
    """The latest version's words chosen again, if they still render."""
    live = template_versions(session, _template(session, template_id))[0]
    if live.active:
        raise ContentError(f"template {_key(live)} is not retired")
    layout = _retired_layout(session, live)
    if layout:
        raise ContentError(
            f"not restored: the layout it extends, {layout}, is retired: restore it first"
        )
    problem = validate_template(session, settings, live, live.body)
    if problem:
        raise ContentError(f"not restored: {problem}; edit it, then restore it")
    version = _template_copy(session, live, author, active=True)
    audit(session, author, "template.restore", "template", _key(live), version=version.version)
    return version


def _retired_layout(session: Session, template: Template) -> str | None:
    """The retired layout this template extends: restoring a language's templates begins with
    its layout (its templates' render fails without it, and editing them is not the cure)."""
    extended = EXTENDS_LAYOUT.search(template.body) if template.name != "layout" else None
    if extended is None:
        return None
    key = template_key("layout", extended.group(1))
    layout = live_templates(session, switched_off=True).get(key)
    return key if layout is not None and not layout.active else None


def _template_copy(session: Session, live: Template, author: str, *, active: bool) -> Template:
    """The next version: the live one's words, switched on or off."""
    version = Template(
        name=live.name,
        language=live.language,
        tone=live.tone,
        version=live.version + 1,
        body=live.body,
        active=active,
        author=author,
    )
    session.add(version)
    session.flush()
    return version


def _key(template: Template) -> str:
    return template_key(template.name, template.language, template.tone)


def retiring_warnings(
    session: Session,
    settings: Settings,
    template: Template,
    titles: Callable[[str], str] = code_in_words,
) -> list[str]:
    """What drafts lose when this template goes, for the confirm step to say before it does;
    the intent named in words (`titles`: the app's label titles)."""
    if not template.name.startswith("intents/"):
        return []
    intent = f"“{titles(template.name.removeprefix('intents/'))}”"
    default = language_name(settings.drafting.default_language)
    others = [
        t
        for t in live_templates(session).values()
        if t.name == template.name and _key(t) != _key(template)
    ]
    if not others:
        return [
            f"This is the last template for {intent}: new {intent} messages get no draft "
            "and wait for a person to write the reply, until a template is restored or added."
        ]
    # A plain template's tone variants stay: the messages the tone rules give such a tone are
    # drafted with them as before (`compose.choose_template` tries the tone first).
    toned = sorted({t.tone for t in others if t.tone and t.language == template.language})
    still = (
        f" Messages the tone rules give the {' or '.join(t.replace('_', ' ') for t in toned)} "
        f"tone still get its {language_name(template.language)} template."
        if toned and not template.tone
        else ""
    )
    if template.language == settings.drafting.default_language and not template.tone:
        own = sorted(
            {
                language_name(t.language)
                for t in others
                if not t.tone
                if t.language != template.language
            }
        )
        rest = f" (only {', '.join(own)} {'has' if len(own) == 1 else 'have'} one)" if own else ""
        return [
            f"Every language falls back to this template: once it is retired, {intent} "
            f"messages in {default} and in the languages without their own template{rest} get "
            f"no draft and wait for a person.{still}"
        ]
    if not template.tone:
        return [
            f"Messages in {language_name(template.language)} then get the {default} template "
            f"(flagged as in another language), or none if that is retired too.{still}"
        ]
    return []


def retired_items(
    session: Session, kind: str, live: Sequence[Template | Snippet]
) -> dict[int, Retired]:
    """For each retired item among `live` (the highest versions), keyed by its id: who switched
    it off, when and why, from the version that did and its audit entry."""
    object_type = "template" if kind == "templates" else "snippet"
    off = [item for item in live if not item.active]
    if not off:
        return {}
    keys = {_item_key(item): item for item in off}
    reasons: dict[tuple[str, int], str] = {}
    for entry in session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == object_type,
            AuditEntry.action == f"{object_type}.retire",
            AuditEntry.object_id.in_(sorted(keys)),
        )
    ):
        detail = entry.detail or {}
        reasons[(entry.object_id, int(detail.get("version") or 0))] = str(
            detail.get("reason") or ""
        )
    found: dict[int, Retired] = {}
    for key, item in keys.items():
        went = _switched_off_version(session, item)
        found[item.id] = Retired(
            went.author, went.created_at, reasons.get((key, went.version), ""), went.version
        )
    return found


def retired_one(session: Session, item: Template | Snippet) -> Retired | None:
    """The editor's: None while the item is offered."""
    kind = "templates" if isinstance(item, Template) else "snippets"
    return retired_items(session, kind, [item]).get(item.id)


def _item_key(item: Template | Snippet) -> str:
    return _key(item) if isinstance(item, Template) else item.key


def _switched_off_version(session: Session, live: Template | Snippet) -> Template | Snippet:
    """The oldest version of the run of switched-off ones ending at `live`: an edit made while
    retired does not make its author the one who retired it."""
    versions = (
        template_versions(session, live)
        if isinstance(live, Template)
        else snippet_versions(session, live.key)
    )
    went: Template | Snippet = live
    for version in versions:
        if version.active:
            break
        went = version
    return went
