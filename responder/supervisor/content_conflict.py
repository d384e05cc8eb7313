"""What a refused template or snippet save ran into: the versions saved since the one the
editor was opened on, and line diffs of their change and of this supervisor's, so they merge
by hand and save over the colleague's version on purpose instead of undoing it unseen (as the
rules editor does: `rule_conflict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from responder.db.models import Snippet, Template
from responder.supervisor.content_edit import diff_lines, template_versions
from responder.supervisor.content_files import snippet_file_text
from responder.supervisor.snippet_edit import SnippetFields, _snippet_version, snippet_versions


@dataclass(frozen=True)
class SavedSince:
    version: int
    author: str
    at: datetime


@dataclass(frozen=True)
class ContentConflict:
    """`read` is the version the edit was made on; `since[0]` is live now."""

    read: int
    since: list[SavedSince]  # newest (the live one) first
    theirs: list[tuple[str, str]]  # read -> live: what the colleagues changed
    mine: list[tuple[str, str]]  # read -> the refused text (and fields)
    live_text: str

    @property
    def live(self) -> int:
        return self.since[0].version

    @property
    def by(self) -> str:
        return self.since[0].author


def version_text(version: Template | Snippet) -> str:
    """What a diff compares: a snippet's fields differ too, so it reads as its file."""
    return snippet_file_text(version) if isinstance(version, Snippet) else version.body


def content_conflict(
    session: Session,
    item: Template | Snippet,
    read: int,
    body: str,
    fields: SnippetFields | None = None,
) -> ContentConflict | None:
    """The saves after `read` of `item`'s template or snippet, or None when there are none;
    `body` (and for a snippet `fields`) is what the supervisor typed."""
    versions: list[Template] | list[Snippet]
    if isinstance(item, Snippet):
        versions = snippet_versions(session, item.key)
    else:
        versions = template_versions(session, item)
    since = [v for v in versions if v.version > read]
    if not since:
        return None
    base = next((v for v in versions if v.version == read), None)
    started, name = (version_text(base), f"version {read}") if base else ("", "(nothing)")
    live = since[0]
    if isinstance(live, Snippet):
        typed = fields or SnippetFields.of(base or live)
        mine = snippet_file_text(_snippet_version(live.key, 0, typed, body, ""))
    else:
        mine = body.replace("\r\n", "\n")
    return ContentConflict(
        read=read,
        since=[SavedSince(v.version, v.author, v.created_at) for v in since],
        theirs=diff_lines(started, version_text(live), name, f"version {live.version} (live)"),
        mine=diff_lines(started, mine, name, "yours"),
        live_text=version_text(live),
    )
