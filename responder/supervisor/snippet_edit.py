"""Supervisors edit answer snippets: a new version when the words or the fields change (title,
intents, tags, language, plan, tier and date filters, switched on or off), a new snippet, and
roll-back. Each is checked before it goes live and audit-logged."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.config import Settings
from responder.db.models import Snippet
from responder.drafting.rule_versions import current_rules
from responder.review import audit
from responder.supervisor.content_edit import (
    ROLLBACK_WORDS,
    ContentError,
    Preview,
    checked_base,
    preview_source,
    render_snippet,
    validate_snippet,
)
from responder.supervisor.examples import labels


def snippet_versions(session: Session, key: str) -> list[Snippet]:
    return list(
        session.scalars(select(Snippet).where(Snippet.key == key).order_by(Snippet.version.desc()))
    )


def _snippet(session: Session, snippet_id: int) -> Snippet:
    snippet = session.get(Snippet, snippet_id)
    if snippet is None:
        raise ContentError(f"snippet {snippet_id} not found")
    return snippet


def snippet_preview(
    session: Session,
    settings: Settings,
    snippet_id: int,
    body: str,
    message_id: int | None,
    customer_id: int | None = None,
    language: str | None = None,
) -> Preview:
    """`language`: the editor form's, when it names one; else the stored snippet's."""
    snippet = _snippet(session, snippet_id)
    return preview_snippet_text(
        session, settings, snippet.key, body, message_id, customer_id, language or snippet.language
    )


def preview_snippet_text(
    session: Session,
    settings: Settings,
    key: str,
    body: str,
    message_id: int | None,
    customer_id: int | None = None,
    language: str = "en",
) -> Preview:
    """A snippet's text as a draft would read it, saved or not (a new snippet has no id yet):
    in its language's locale, as drafts and an inserted answer render it."""
    try:
        source = preview_source(session, settings, message_id, customer_id)
    except ContentError as exc:
        return Preview("", str(exc))
    return render_snippet(body, key or "(new)", source, settings, language)


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
    based_on: int | None = None,
    over: int | None = None,
    **detail: Any,
) -> Snippet:
    """A new live version when the body or a field changed, only if it renders and names
    intents and a language that exist; switching a snippet off keeps it out of new drafts.
    `based_on`, the version the editor was opened on: a colleague's change of the words or
    fields since refuses the save (`StaleContent`) rather than undo it; `over`, see
    `checked_base`."""
    snippet = _snippet(session, snippet_id)
    versions = snippet_versions(session, snippet.key)
    live = versions[0]
    body = body.replace("\r\n", "\n").strip()
    fields = fields or SnippetFields.of(live)
    fields = dataclasses.replace(fields, title=fields.title.strip() or live.title)
    if body == live.body.strip() and fields == SnippetFields.of(live):
        return live
    detail.update(checked_base(versions, based_on, over, same_snippet))
    problem = (
        check_snippet_fields(session, settings, fields)
        or validate_snippet(live.key, body, settings, fields.language)
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


def same_snippet(one: Snippet, other: Snippet) -> bool:
    """The same words and fields; switched on or off aside (the editor keeps that as it is
    unless its select is changed, so a colleague's retire or restore is no conflict)."""
    return one.body.strip() == other.body.strip() and dataclasses.replace(
        SnippetFields.of(one), active=True
    ) == dataclasses.replace(SnippetFields.of(other), active=True)


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
    existing = snippet_versions(session, key)
    if existing:
        how = "" if existing[0].active else ", retired: restore it in its editor"
        raise ContentError(f"not created: a snippet {key!r} exists already{how}")
    body = body.replace("\r\n", "\n").strip()
    problem = check_snippet_fields(session, settings, fields) or validate_snippet(
        key, body, settings, fields.language
    )
    if problem:
        raise ContentError(f"not created: {problem}")
    snippet = _snippet_version(key, 1, fields, body, author)
    session.add(snippet)
    session.flush()
    audit(session, author, "snippet.create", "snippet", key, version=1)
    return snippet


def rollback_snippet(
    session: Session,
    settings: Settings,
    snippet_id: int,
    author: str,
    *,
    based_on: int | None = None,
) -> Snippet:
    """The old version's words and fields come back; whether it is switched on stays as is.
    `based_on`: the live version the page showed; a colleague's save since refuses it."""
    old = _snippet(session, snippet_id)
    versions = snippet_versions(session, old.key)
    live = versions[0]
    if old.id == live.id:
        raise ContentError(f"version {old.version} is already the live version")
    checked_base(versions, based_on, None, same_snippet, **ROLLBACK_WORDS)
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


def live_snippets_all(session: Session) -> list[Snippet]:
    """The highest version per key, switched off ones included (the editor lists them all)."""
    latest: dict[str, Snippet] = {}
    for snippet in session.scalars(select(Snippet).order_by(Snippet.version)):
        latest[snippet.key] = snippet
    return list(latest.values())
