"""Classifier definitions: `<name>.toml` (labels, threshold) plus `<name>.csv` (text,label).

A definition that does not parse, names an unknown label or has too few examples is refused
with the file, the line and the problem, because supervisors edit these files by hand.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


class DefinitionError(Exception):
    """Names the file, the line (when known) and what is wrong."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    line: int = 0


@dataclass(frozen=True)
class ClassifierDefinition:
    name: str
    description: str
    labels: dict[str, str]
    threshold: float
    min_examples: int
    examples: tuple[Example, ...] = field(default=())
    #: Each label in words for the pages ("Billing dispute"); a label without one is absent.
    titles: dict[str, str] = field(default_factory=dict)


def _records(path: Path, handle: TextIO) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted text may span lines)."""
    reader = csv.reader(handle, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DefinitionError(
                path, f"bad CSV in the record starting here: {exc}", start
            ) from exc
        yield start, row


def read_examples_csv(path: Path, labels: set[str] | None = None) -> list[Example]:
    """Rows of `text,label` (or `text,category`); blank texts and unknown labels are errors."""
    examples: list[Example] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            records = _records(path, handle)
            _, header = next(records, (1, []))
            if not header:
                raise DefinitionError(path, "empty file; expected a header `text,label`", 1)
            columns = [c.strip().lower() for c in header]
            if "text" not in columns or not ({"label", "category"} & set(columns)):
                raise DefinitionError(path, f"header must be `text,label`, got {header!r}", 1)
            text_at = columns.index("text")
            label_at = columns.index("label" if "label" in columns else "category")
            for line, row in records:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) <= max(text_at, label_at):
                    raise DefinitionError(
                        path, f"expected {len(columns)} columns, got {len(row)}", line
                    )
                text, label = row[text_at].strip(), row[label_at].strip()
                if not text:
                    raise DefinitionError(path, "empty text", line)
                if not label:
                    raise DefinitionError(path, "empty label", line)
                if labels is not None and label not in labels:
                    raise DefinitionError(path, f"unknown label {label!r}", line)
                examples.append(Example(text=text, label=label, line=line))
    except UnicodeDecodeError as exc:
        raise DefinitionError(path, f"not UTF-8 ({exc.reason})") from exc
    if not examples:
        raise DefinitionError(path, "no examples after the header")
    return examples


def _title_line(text: str, label: str) -> int | None:
    """The line of `title` under `[labels.<label>]`, for the message about a bad one."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.replace(" ", "").strip("[]") in {
                f"labels.{label}",
                f'labels."{label}"',
            }
        elif inside and re.match(r"title\s*=", stripped):
            return number
    return None


def read_labels(toml_path: Path) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The parsed file, each label's description and each label's title (where it has one)."""
    if not toml_path.exists():
        raise DefinitionError(toml_path, "definition file not found")
    try:
        text = toml_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError(toml_path, f"not UTF-8 ({exc.reason})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)$", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        problem = str(exc)[: found.start()].strip() if found else str(exc)
        raise DefinitionError(toml_path, f"bad TOML: {problem}", line) from exc
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, dict) or not raw_labels:
        raise DefinitionError(toml_path, "needs at least one [labels.NAME] table")
    labels = {
        str(key): str(value.get("description", "")) if isinstance(value, dict) else ""
        for key, value in raw_labels.items()
    }
    titles: dict[str, str] = {}
    for key, value in raw_labels.items():
        title = value.get("title") if isinstance(value, dict) else None
        if title is None:
            continue
        if not isinstance(title, str) or not title.strip():
            raise DefinitionError(
                toml_path,
                f"the title of label {key!r} must be words in quotes",
                _title_line(text, str(key)),
            )
        titles[str(key)] = title.strip()
    return data, labels, titles


def load_definition(folder: Path, name: str) -> ClassifierDefinition:
    toml_path = folder / f"{name}.toml"
    csv_path = folder / f"{name}.csv"
    data, labels, titles = read_labels(toml_path)
    threshold = data.get("threshold", 0.0)
    min_examples = data.get("min_examples", 10)
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise DefinitionError(toml_path, "threshold must be a number between 0 and 1")
    if not isinstance(min_examples, int) or min_examples < 1:
        raise DefinitionError(toml_path, "min_examples must be a positive whole number")
    if not csv_path.exists():
        raise DefinitionError(csv_path, "examples file not found")
    examples = read_examples_csv(csv_path, set(labels))
    counts = {label: 0 for label in labels}
    for example in examples:
        counts[example.label] += 1
    short = {label: n for label, n in counts.items() if n < min_examples}
    if short:
        detail = ", ".join(f"{label} has {n}" for label, n in sorted(short.items()))
        raise DefinitionError(csv_path, f"too few examples (at least {min_examples}): {detail}")
    return ClassifierDefinition(
        name=str(data.get("name", name)),
        description=str(data.get("description", "")),
        labels=labels,
        threshold=float(threshold),
        min_examples=min_examples,
        examples=tuple(examples),
        titles=titles,
    )


def definition_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))
