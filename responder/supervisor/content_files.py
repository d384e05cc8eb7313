"""Live content to files and back, so supervisors' edits can be kept (and reviewed) in git.

`export_content` writes the live template and snippet versions and the active classifier
examples in the seed formats; `import_content` loads files as new versions where they differ
from what is live. Both are idempotent: running either twice changes nothing the second time.
Export writes each file whole, over whatever the file said: one that cannot be read (not UTF-8,
a broken header, a broken CSV) is moved aside to `NAME.malformed`, named with what was wrong with
it, and the live content written in its place.
Importing never brings a retired template or snippet back (restoring, with its checks, does),
nor switches off a snippet an action rule offers. `seed_content`, at every start, loads only
what the database lacks, held to the same checks file by file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from responder.classify.definitions import (
    DefinitionError,
    definition_names,
    load_definition,
    read_examples_csv,
)
from responder.config import Settings
from responder.content import TemplateFile, live_templates, template_file, template_key
from responder.db.models import ClassifierExample, Snippet, Template
from responder.knowledge.snippet_files import SnippetFileError, SnippetSource, parse_snippet
from responder.review import audit
from responder.supervisor.content_edit import validate_snippet, validate_template
from responder.supervisor.snippet_edit import (
    SNIPPET_KEY,
    SnippetFields,
    _named_by_actions,
    check_snippet_fields,
    live_snippets_all,
)
from responder.supervisor.template_create import LAYOUT, new_template_problem

HEADER_LISTS = ("intents", "tags")
RESTORE_TO_OFFER = "restore it in its editor to offer it again"


@dataclass
class ContentReport:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_retired: list[str] = field(default_factory=list)  # files asking for a retired item
    refused: list[str] = field(default_factory=list)  # files not imported (or written), with why
    replaced: dict[str, str] = field(default_factory=dict)  # export: path -> what was wrong
    templates: int = 0
    snippets: int = 0
    examples: int = 0
    doing: str = "imported"  # what a refusal says was not done: imported, or seeded at start

    def refuse(self, path: Path, problem: str, line: int | None = None) -> None:
        self.refused.append(f"{path}{f':{line}' if line else ''}: not {self.doing}: {problem}")

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


def _write(
    path: Path, text: str, report: ContentReport, same: Callable[[str], bool] | None = None
) -> int:
    """1 when `text` is written over the file, 0 when the file already says it (its text,
    or, by `same`, what its text means). A file that cannot be read is moved aside and said in
    `report.replaced`; one that cannot be written (a folder in its
    place, no permission) is left, in `report.refused`, and the export goes on."""
    try:
        if path.exists():
            try:
                existing = _text(path, advice="").replace("\r\n", "\n").replace("\r", "\n")
                if existing == text or (same is not None and same(existing)):
                    return 0
            except (Unreadable, SnippetFileError, DefinitionError) as exc:
                kept = _keep_aside(path)
                where = f"line {exc.line}: " if exc.line else ""
                report.replaced[str(path)] = f"{where}{exc.problem}; it is kept as {kept}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        report.refused.append(f"{path}: not written: {exc.strerror or exc}")
        return 0
    report.written.append(str(path))
    return 1


def _keep_aside(path: Path) -> Path:
    """What a supervisor typed into a file that cannot be read is not thrown away by export."""
    kept = path.with_name(f"{path.name}.malformed")
    number = 1
    while kept.exists():
        number += 1
        kept = path.with_name(f"{path.name}.malformed-{number}")
    path.replace(kept)
    return kept


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


def _same_snippet(path: Path, snippet: Snippet) -> Callable[[str], bool]:
    """An existing file that says the same thing is left alone, whatever its header order."""

    def same(text: str) -> bool:
        source = parse_snippet(text, path)
        return source.key == snippet.key and _snippet_fields(source) == _snippet_fields(snippet)

    return same


def _same_examples(path: Path, pairs: list[tuple[str, str]]) -> Callable[[str], bool]:
    """The same examples, however the file quotes them."""
    return lambda _: [(e.text, e.label) for e in read_examples_csv(path)] == pairs


def export_content(session: Session, templates_dir: Path, classifiers_dir: Path) -> ContentReport:
    report = ContentReport()
    for key, template in sorted(live_templates(session, switched_off=True).items()):
        path = templates_dir / key
        if template.active:
            report.templates += _write(path, template.body, report)
        elif path.exists():  # the files mirror what drafts use: a fresh install must not revive it
            try:
                path.unlink()
            except OSError as exc:
                report.refused.append(f"{path}: not removed: {exc.strerror or exc}")
                continue
            report.removed.append(str(path))
            report.templates += 1
    for snippet in sorted(live_snippets_all(session), key=lambda s: s.key):
        path = templates_dir / "snippets" / f"{snippet.key}.md"
        text = snippet_file_text(snippet)
        report.snippets += _write(path, text, report, _same_snippet(path, snippet))
    names = sorted(set(session.scalars(select(ClassifierExample.classifier).distinct())))
    for name in names:
        rows = session.execute(
            select(ClassifierExample.text, ClassifierExample.label)
            .where(ClassifierExample.classifier == name, ClassifierExample.status == "active")
            .order_by(ClassifierExample.id)
        ).all()
        path = classifiers_dir / f"{name}.csv"
        pairs = [(r.text, r.label) for r in rows]
        text = examples_csv_text(pairs)
        report.examples += _write(path, text, report, _same_examples(path, pairs))
    return report


def import_content(
    session: Session,
    settings: Settings,
    templates_dir: Path,
    classifiers_dir: Path,
    author: str = "import",
) -> ContentReport:
    """Files become new versions where they differ; new classifier examples are added active.
    A retired item keeps only a file's words (it stays retired, said in `kept_retired`). A file
    that cannot be read, or whose new version the editor would refuse (it does not render,
    names an unknown intent or plan, switches off what an action rule offers, ...), is left
    out with why (said in `refused`); the other files are imported."""
    report = ContentReport()
    # Examples first: a new intent's label comes with them, and its template and snippets
    # are checked against the intents there are after this import.
    for name in definition_names(classifiers_dir) if classifiers_dir.is_dir() else []:
        try:
            report.examples += _import_examples(session, classifiers_dir, name, author)
        except DefinitionError as exc:
            report.refuse(exc.path, exc.problem, exc.line)
    _import_templates(session, settings, templates_dir, author, report)
    folder = templates_dir / "snippets"
    if folder.is_dir():
        _import_snippets(session, settings, folder, author, report)
    session.flush()
    return report


def seed_content(
    session: Session, settings: Settings, templates_dir: Path, classifiers_dir: Path
) -> ContentReport:
    """What every start does: the files only fill gaps (a template or snippet whose key the
    database lacks, retired or not; a classifier without examples), since the database is the
    source of truth. Each is held to `import_content`'s checks, so a file it would refuse is
    left out with why (said in `refused`, "not seeded") rather than going live unchecked or
    stopping the start; the other files are seeded, by author "seed" and without audit
    entries, as before any person acted."""
    report = ContentReport(doing="seeded")
    if classifiers_dir.is_dir():  # first, as for an import: templates name their labels
        _seed_examples(session, classifiers_dir, report)
    _import_templates(session, settings, templates_dir, "seed", report, seeding=True)
    folder = templates_dir / "snippets"
    if folder.is_dir():
        _import_snippets(session, settings, folder, "seed", report, seeding=True)
    session.flush()
    return report


def _seed_examples(session: Session, folder: Path, report: ContentReport) -> None:
    """A classifier's examples are seeded once, all or none: after that supervisors own them."""
    present = set(session.scalars(select(ClassifierExample.classifier).distinct()))
    for name in definition_names(folder):
        if name in present:
            continue
        try:
            examples = load_definition(folder, name).examples
        except DefinitionError as exc:
            report.refuse(exc.path, exc.problem, exc.line)
            continue
        rows = [
            {"classifier": name, "label": e.label, "text": e.text, "source": "seed"}
            for e in examples
        ]
        session.execute(insert(ClassifierExample), rows)
        report.examples += len(rows)


#: A syntax error as rendering words it: "template 'snippet roaming-cap': syntax error on
#: line 3: ..." or, through a draft, "intents/roaming.en.j2: syntax error on line 17: ...".
SYNTAX_ERROR = re.compile(
    r"^(?:template )?'?(?P<name>[^':]+)'?: syntax error on line (?P<line>\d+)"
)


def _located(problem: str, name: str, first_line: int) -> tuple[str, int | None]:
    """A syntax error in this file's own text (not in a layout it extends) at the file's line:
    a snippet's body starts below its header, at `first_line`."""
    found = SYNTAX_ERROR.match(problem)
    if found is None or found["name"] != name:
        return problem, None
    line = int(found["line"]) + first_line - 1
    start, end = found.span("line")
    return problem[:start] + str(line) + problem[end:], line


class Unreadable(Exception):
    """A file that is not UTF-8 text: its line and the byte that is not."""

    def __init__(self, path: Path, problem: str, line: int) -> None:
        super().__init__(problem)
        self.path, self.problem, self.line = path, problem, line


def _text(path: Path, advice: str = "; save it as UTF-8") -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"not UTF-8 text (byte 0x{data[exc.start]:02x}){advice}"
        raise Unreadable(path, problem, line) from exc


def _template_files(folder: Path) -> list[Path]:
    """Layouts first, so an intent template is checked against the layout this import brings."""
    paths = folder.rglob("*.j2") if folder.is_dir() else []
    return sorted(paths, key=lambda p: (not p.name.startswith("layout."), p))


def _import_templates(
    session: Session,
    settings: Settings,
    folder: Path,
    author: str,
    report: ContentReport,
    *,
    seeding: bool = False,
) -> None:
    """`seeding`: only files for a key the database lacks, unaudited (`seed_content`)."""
    live = live_templates(session, switched_off=True)
    for path in _template_files(folder):
        named = template_file(folder, path, "")
        key = template_key(named.name, named.language, named.tone)
        current = live.get(key)
        if seeding and current is not None:
            continue
        try:
            item = replace(named, body=_text(path))
        except Unreadable as exc:
            report.refuse(path, exc.problem, exc.line)
            continue
        unchanged = current is not None and current.body == item.body
        if not unchanged and (problem := _template_problem(session, settings, item, current)):
            report.refuse(path, *_located(problem, key, 1))
            continue
        if current is not None and not current.active:  # export removes a retired one's file
            report.kept_retired.append(
                f"{folder / key}: template {key} kept retired: {RESTORE_TO_OFFER}"
            )
        if unchanged:
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
        if not seeding:
            audit(session, author, "template.import", "template", key, version=version.version)
        report.templates += 1


def _template_problem(
    session: Session, settings: Settings, item: TemplateFile, current: Template | None
) -> str | None:
    """What the template editor says of this text (and, for a template the database lacks,
    the new-template form of its name)."""
    if current is None:
        if item.name != "layout" and not item.name.startswith("intents/"):
            return (
                "a template file is layout.LANGUAGE.j2 or intents/INTENT.LANGUAGE.j2 "
                "(or intents/INTENT.LANGUAGE.TONE.j2)"
            )
        intent = LAYOUT if item.name == "layout" else item.name.removeprefix("intents/")
        if problem := new_template_problem(session, settings, intent, item.language, item.tone):
            return problem
    if not item.body.strip():
        return "the template is empty"
    shape = current or Template(name=item.name, language=item.language, tone=item.tone)
    return validate_template(session, settings, shape, item.body)


def _import_snippets(
    session: Session,
    settings: Settings,
    folder: Path,
    author: str,
    report: ContentReport,
    *,
    seeding: bool = False,
) -> None:
    """`seeding`: only files for an id the database lacks, unaudited (`seed_content`)."""
    snippets = {s.key: s for s in live_snippets_all(session)}
    read: list[tuple[Path, SnippetSource]] = []
    for path in sorted(folder.glob("*.md")):
        try:
            source = parse_snippet(_text(path), path, strict=True)
        except (Unreadable, SnippetFileError) as exc:
            report.refuse(path, exc.problem, exc.line)
            continue
        if not (seeding and source.key in snippets):
            read.append((path, source))
    files_of: dict[str, list[Path]] = {}
    for path, source in read:
        files_of.setdefault(source.key, []).append(path)
    for path, source in read:
        if others := [str(p) for p in files_of[source.key] if p != path]:
            # Which file's words would win is not for the file order to decide.
            problem = f"the id {source.key} is also {', '.join(others)}'s: one file per snippet"
            report.refuse(path, problem)
            continue
        current = snippets.get(source.key)
        fields = _snippet_fields(source)
        retired = current is not None and not current.active
        if retired:
            fields["active"] = False  # a file from before it was retired: words only
        unchanged = current is not None and _snippet_fields(current) == fields
        if not unchanged and (
            problem := _snippet_problem(session, settings, source, current, fields)
        ):
            located = _located(problem, f"snippet {source.key}", source.body_line)
            report.refuse(path, *located)
            continue
        if retired and source.active:
            report.kept_retired.append(
                f"{path}: snippet {source.key} kept retired: {RESTORE_TO_OFFER}"
            )
        if unchanged:
            continue
        version = Snippet(
            key=source.key,
            version=(current.version + 1) if current else 1,
            author=author,
            **fields,  # type: ignore[arg-type]
        )
        session.add(version)
        if not seeding:
            audit(session, author, "snippet.import", "snippet", source.key, version=version.version)
        report.snippets += 1


def _snippet_problem(
    session: Session,
    settings: Settings,
    source: SnippetSource,
    current: Snippet | None,
    fields: dict[str, object],
) -> str | None:
    """What the snippet editor says on save (or the new-snippet form, for a new id)."""
    if current is None and not SNIPPET_KEY.fullmatch(source.key):
        return f"the id {source.key!r} must be 2-100 lower-case letters, digits and hyphens"
    filters = dict(source.filters)
    checked = SnippetFields(
        title=source.title.strip(),
        intents=source.intents,
        tags=source.tags,
        language=source.language,
        active=bool(fields["active"]),
        plans=_listed(filters.get("plans")),
        tiers=_listed(filters.get("tiers")),
        valid_from=str(filters.get("valid_from") or ""),
        valid_until=str(filters.get("valid_until") or ""),
    )
    switching_off = not checked.active and (current is None or current.active)
    return (
        check_snippet_fields(session, settings, checked)
        or validate_snippet(source.key, source.body, settings, source.language)
        or (_named_by_actions(session, settings, source.key) if switching_off else None)
    )


def _listed(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _import_examples(session: Session, folder: Path, name: str, author: str) -> int:
    """The examples the classifier's file adds (a file with a bad row adds none)."""
    present = {
        (text, label)
        for text, label in session.execute(
            select(ClassifierExample.text, ClassifierExample.label).where(
                ClassifierExample.classifier == name, ClassifierExample.status == "active"
            )
        )
    }
    added = 0
    for example in read_examples_csv(folder / f"{name}.csv"):
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
    return added
