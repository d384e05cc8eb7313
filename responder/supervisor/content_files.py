"""Live content to files and back, so supervisors' edits can be kept (and reviewed) in git.

`export_content` writes the live template and snippet versions and the active classifier
examples in the seed formats; `import_content` loads files as new versions where they differ
from what is live. Both are idempotent: running either twice changes nothing the second time.
Importing never brings a retired template or snippet back (restoring, with its checks, does),
nor switches off a snippet an action rule offers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.classify.definitions import definition_names, read_examples_csv
from responder.config import Settings
from responder.content import live_templates, read_template_folder, template_key
from responder.db.models import ClassifierExample, Snippet, Template
from responder.knowledge.snippet_files import SnippetFileError, SnippetSource, parse_snippet
from responder.review import audit
from responder.supervisor.snippet_edit import _named_by_actions, live_snippets_all

HEADER_LISTS = ("intents", "tags")
RESTORE_TO_OFFER = "restore it in its editor to offer it again"


@dataclass
class ContentReport:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_retired: list[str] = field(default_factory=list)  # files asking for a retired item
    refused: list[str] = field(default_factory=list)  # files not imported, each with why
    templates: int = 0
    snippets: int = 0
    examples: int = 0

    def lines(self) -> list[str]:
        return [
            f"templates: {self.templates}",
            f"snippets: {self.snippets}",
            f"examples: {self.examples}",
        ]


def snippet_file_text(snippet: Snippet) -> str:
    """The seed format: a `---` header of `key: value` lines, then the body."""
    header = [f"id: {snippet.key}", f"title: {snippet.title}"]
    for key in HEADER_LISTS:
        values = list(getattr(snippet, key) or [])
        if values:
            header.append(f"{key}: {', '.join(values)}")
    header.append(f"language: {snippet.language}")
    filters = dict(snippet.filters or {})
    for key in ("plans", "tiers"):
        if filters.get(key):
            header.append(f"{key}: {', '.join(filters[key])}")
    for key in ("valid_from", "valid_until"):
        if filters.get(key):
            header.append(f"{key}: {filters[key]}")
    if not snippet.active:
        header.append("offered: no")
    return "---\n" + "\n".join(header) + "\n---\n" + snippet.body.strip() + "\n"


def examples_csv_text(rows: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, text: str, report: ContentReport) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    report.written.append(str(path))
    return True


def _snippet_fields(source: SnippetSource | Snippet) -> dict[str, object]:
    return {
        "title": source.title,
        "intents": list(source.intents or ()),
        "tags": list(source.tags or ()),
        "language": source.language,
        "body": source.body.strip(),
        "filters": dict(source.filters or {}),
        "active": source.active,
    }


def _same_snippet(path: Path, snippet: Snippet) -> bool:
    """An existing file that says the same thing is left alone, whatever its header order."""
    if not path.exists():
        return False
    try:
        source = parse_snippet(path.read_text(encoding="utf-8"), path)
    except SnippetFileError:
        return False
    return source.key == snippet.key and _snippet_fields(source) == _snippet_fields(snippet)


def export_content(session: Session, templates_dir: Path, classifiers_dir: Path) -> ContentReport:
    report = ContentReport()
    for key, template in sorted(live_templates(session, switched_off=True).items()):
        path = templates_dir / key
        if template.active:
            report.templates += _write(path, template.body, report)
        elif path.exists():  # the files mirror what drafts use: a fresh install must not revive it
            path.unlink()
            report.removed.append(str(path))
            report.templates += 1
    for snippet in sorted(live_snippets_all(session), key=lambda s: s.key):
        path = templates_dir / "snippets" / f"{snippet.key}.md"
        if not _same_snippet(path, snippet):
            report.snippets += _write(path, snippet_file_text(snippet), report)
    names = sorted(set(session.scalars(select(ClassifierExample.classifier).distinct())))
    for name in names:
        rows = session.execute(
            select(ClassifierExample.text, ClassifierExample.label)
            .where(ClassifierExample.classifier == name, ClassifierExample.status == "active")
            .order_by(ClassifierExample.id)
        ).all()
        path = classifiers_dir / f"{name}.csv"
        pairs = [(r.text, r.label) for r in rows]
        if path.exists() and [(e.text, e.label) for e in read_examples_csv(path)] == pairs:
            continue
        report.examples += _write(path, examples_csv_text(pairs), report)
    return report


def import_content(
    session: Session,
    settings: Settings,
    templates_dir: Path,
    classifiers_dir: Path,
    author: str = "import",
) -> ContentReport:
    """Files become new versions where they differ; new classifier examples are added active.
    A retired item keeps only a file's words (it stays retired, said in `kept_retired`); a
    snippet file switching off what an action rule offers is left out (said in `refused`), the
    other files imported."""
    report = ContentReport()
    live = live_templates(session, switched_off=True)
    for item in read_template_folder(templates_dir):
        key = template_key(item.name, item.language, item.tone)
        current = live.get(key)
        if current is not None and not current.active:  # export removes a retired one's file
            report.kept_retired.append(
                f"{templates_dir / key}: template {key} kept retired: {RESTORE_TO_OFFER}"
            )
        if current is not None and current.body == item.body:
            continue
        version = Template(
            name=item.name,
            language=item.language,
            tone=item.tone,
            version=(current.version + 1) if current else 1,
            body=item.body,
            active=current.active if current else True,  # a retired one stays retired
            author=author,
        )
        session.add(version)
        audit(session, author, "template.import", "template", key, version=version.version)
        report.templates += 1
    snippets = {s.key: s for s in live_snippets_all(session)}
    folder = templates_dir / "snippets"
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        source = parse_snippet(path.read_text(encoding="utf-8"), path)
        current = snippets.get(source.key)
        fields = _snippet_fields(source)
        if current is not None and not current.active:
            fields["active"] = False  # a file from before it was retired: words only
            if source.active:
                report.kept_retired.append(
                    f"{path}: snippet {source.key} kept retired: {RESTORE_TO_OFFER}"
                )
        elif not source.active:
            problem = _named_by_actions(session, settings, source.key)
            if problem:
                report.refused.append(f"{path}: not imported: {problem}")
                continue
        if current is not None and _snippet_fields(current) == fields:
            continue
        version = Snippet(
            key=source.key,
            version=(current.version + 1) if current else 1,
            author=author,
            **fields,  # type: ignore[arg-type]
        )
        session.add(version)
        audit(session, author, "snippet.import", "snippet", source.key, version=version.version)
        report.snippets += 1
    for name in definition_names(classifiers_dir) if classifiers_dir.is_dir() else []:
        present = {
            (text, label)
            for text, label in session.execute(
                select(ClassifierExample.text, ClassifierExample.label).where(
                    ClassifierExample.classifier == name, ClassifierExample.status == "active"
                )
            )
        }
        added = 0
        for example in read_examples_csv(classifiers_dir / f"{name}.csv"):
            if (example.text, example.label) in present:
                continue
            present.add((example.text, example.label))
            session.add(
                ClassifierExample(
                    classifier=name,
                    label=example.label,
                    text=example.text,
                    source="import",
                    created_by=author,
                )
            )
            added += 1
        if added:
            audit(session, author, "examples.import", "classifier", name, added=added)
        report.examples += added
    session.flush()
    return report
