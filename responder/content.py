"""Seed content (templates, snippets, classifier examples) moves between files and database.

Files are the seed: on first start they are loaded; afterwards the database is the source of
truth, and edits there create new versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from responder.classify.definitions import definition_names, load_definition
from responder.db.models import ClassifierExample, Snippet, Template
from responder.knowledge.snippet_files import read_snippet_folder


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


def read_template_folder(folder: Path) -> list[TemplateFile]:
    return [
        template_file(folder, path, path.read_text(encoding="utf-8"))
        for path in sorted(folder.rglob("*.j2"))
    ]


def seed_templates(session: Session, folder: Path, author: str = "seed") -> int:
    """Files whose (name, language, tone) the database lacks; one query and one insert, since
    every process start seeds."""
    present = set(session.execute(select(Template.name, Template.language, Template.tone)).tuples())
    rows = [
        {
            "name": item.name,
            "language": item.language,
            "tone": item.tone,
            "version": 1,
            "body": item.body,
            "author": author,
        }
        for item in read_template_folder(folder)
        if (item.name, item.language, item.tone) not in present
    ]
    if rows:
        session.execute(insert(Template), rows)
    return len(rows)


def seed_snippets(session: Session, folder: Path, author: str = "seed") -> int:
    present = set(session.scalars(select(Snippet.key).distinct()))
    rows = [
        {
            "key": item.key,
            "version": 1,
            "title": item.title,
            "intents": list(item.intents),
            "tags": list(item.tags),
            "language": item.language,
            "body": item.body,
            "filters": dict(item.filters),
            "active": item.active,
            "author": author,
        }
        for item in read_snippet_folder(folder)
        if item.key not in present
    ]
    if rows:
        session.execute(insert(Snippet), rows)
    return len(rows)


def seed_classifier_examples(session: Session, folder: Path) -> int:
    """A classifier's examples are seeded once: after that supervisors own them."""
    present = set(session.scalars(select(ClassifierExample.classifier).distinct()))
    rows = [
        {"classifier": name, "label": e.label, "text": e.text, "source": "seed"}
        for name in definition_names(folder)
        if name not in present
        for e in load_definition(folder, name).examples
    ]
    if rows:
        session.execute(insert(ClassifierExample), rows)
    return len(rows)


def seed_all(session: Session, templates_dir: Path, classifiers_dir: Path) -> dict[str, int]:
    return {
        "templates": seed_templates(session, templates_dir),
        "snippets": seed_snippets(session, templates_dir / "snippets")
        if (templates_dir / "snippets").is_dir()
        else 0,
        "examples": seed_classifier_examples(session, classifiers_dir)
        if classifiers_dir.is_dir()
        else 0,
    }


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
