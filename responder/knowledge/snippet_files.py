"""Answer snippets as files: a `---` header of `key: value` lines, then the body."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LIST_KEYS = {"intents", "tags", "plans", "tiers"}


class SnippetFileError(Exception):
    pass


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


def parse_snippet(text: str, path: Path) -> SnippetSource:
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise SnippetFileError(f"{path}:1: snippet must start with a `---` header")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise SnippetFileError(f"{path}: header has no closing `---`") from None
    header: dict[str, str] = {}
    offered = True
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise SnippetFileError(f"{path}:{number}: expected `key: value`, got {line!r}")
        header[key.strip().lower()] = value.strip()
        if key.strip().lower() == "offered":
            if value.strip().lower() not in ("yes", "no"):
                raise SnippetFileError(f"{path}:{number}: `offered` is yes or no, got {value!r}")
            offered = value.strip().lower() == "yes"
    if not header.get("id"):
        raise SnippetFileError(f"{path}: header needs an `id`")
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise SnippetFileError(f"{path}: snippet body is empty")

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
    )


def read_snippet_folder(folder: Path) -> list[SnippetSource]:
    return [
        parse_snippet(path.read_text(encoding="utf-8"), path)
        for path in sorted(folder.glob("*.md"))
    ]
