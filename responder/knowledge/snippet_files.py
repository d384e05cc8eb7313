"""Answer snippets as files: a `---` header of `key: value` lines, then the body."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LIST_KEYS = {"intents", "tags", "plans", "tiers"}
#: The header's keys, in the order `responder export` writes them.
HEADER_KEYS = (
    "id",
    "title",
    "intents",
    "tags",
    "language",
    "plans",
    "tiers",
    "valid_from",
    "valid_until",
    "offered",
)


class SnippetFileError(Exception):
    """Names the file, the line (when known) and what is wrong."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{self.where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class SnippetSource:
    key: str
    title: str
    body: str
    intents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str = "en"
    filters: dict[str, object] = field(default_factory=dict)
    active: bool = True  # `offered: no` in the header: kept, but in no draft
    body_line: int = 0  # the file's line the body starts on, for an error in the body


def parse_snippet(text: str, path: Path, *, strict: bool = False) -> SnippetSource:
    """`strict` (an import) also refuses a header key it does not know, or one given twice:
    a typo such as `intent:` would otherwise offer the snippet for every intent. Seeding at
    start-up stays lenient, as it always was."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise SnippetFileError(path, "snippet must start with a `---` header", 1)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise SnippetFileError(path, "header has no closing `---`") from None
    header: dict[str, str] = {}
    offered = True
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep:
            raise SnippetFileError(path, f"expected `key: value`, got {line!r}", number)
        if strict and key not in HEADER_KEYS:
            known = ", ".join(HEADER_KEYS)
            raise SnippetFileError(
                path, f"unknown header key {key!r} (the keys are {known})", number
            )
        if strict and key in header:
            raise SnippetFileError(path, f"`{key}` is given twice", number)
        header[key] = value.strip()
        if key == "offered":
            if value.strip().lower() not in ("yes", "no"):
                raise SnippetFileError(path, f"`offered` is yes or no, got {value!r}", number)
            offered = value.strip().lower() == "yes"
    if not header.get("id"):
        raise SnippetFileError(path, "header needs an `id`")
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise SnippetFileError(path, "snippet body is empty")
    body_line = next(i for i in range(end + 1, len(lines)) if lines[i].strip()) + 1

    def as_list(key: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in header.get(key, "").split(",") if v.strip())

    filters: dict[str, object] = {k: list(as_list(k)) for k in ("plans", "tiers") if k in header}
    for key in ("valid_from", "valid_until"):
        if header.get(key):
            filters[key] = header[key]
    return SnippetSource(
        key=header["id"],
        title=header.get("title", header["id"]),
        body=body,
        intents=as_list("intents"),
        tags=as_list("tags"),
        language=header.get("language", "en") or "en",
        filters=filters,
        active=offered,
        body_line=body_line,
    )
