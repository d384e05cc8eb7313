"""Seed content (templates, snippets, classifier examples) moves between files and database.

Files are the seed: on first start they are loaded (`supervisor/content_files.seed_content`,
with `responder import-content`'s checks); afterwards the database is the source of truth, and
edits there create new versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.db.models import Snippet, Template


@dataclass(frozen=True)
class TemplateFile:
    name: str
    language: str
    tone: str
    body: str


def template_key(name: str, language: str, tone: str = "") -> str:
    """The Jinja2 loader name, as the file is named: `intents/roaming.en.j2`."""
    return f"{name}.{language}{'.' + tone if tone else ''}.j2"


def template_file(folder: Path, path: Path, body: str) -> TemplateFile:
    """What a file under `folder` is, by its name: `intents/roaming.en.empathetic.j2`."""
    relative = path.relative_to(folder).as_posix()[: -len(".j2")]
    stem, _, rest = relative.partition(".")
    language, _, tone = rest.partition(".")
    return TemplateFile(stem, language or "en", tone, body)


def live_templates(session: Session, *, switched_off: bool = False) -> dict[str, Template]:
    """Highest version per (name, language, tone), keyed by loader name; with `switched_off`
    also those whose highest version is switched off (the editor lists them all)."""
    live: dict[str, Template] = {}
    for template in session.scalars(select(Template).order_by(Template.version)):
        live[template_key(template.name, template.language, template.tone)] = template
    return live if switched_off else {k: t for k, t in live.items() if t.active}


def live_snippets(session: Session) -> list[Snippet]:
    latest: dict[str, Snippet] = {}
    for snippet in session.scalars(select(Snippet).order_by(Snippet.version)):
        latest[snippet.key] = snippet
    return [s for s in latest.values() if s.active]
