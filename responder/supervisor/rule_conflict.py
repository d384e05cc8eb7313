"""What a refused save of the rules ran into: the saves made since the version it was made on,
and a line diff of their change (and of this person's, when they typed the whole text), so the
supervisor merges deliberately instead of saving blindly over someone else's change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from responder.config import Settings
from responder.supervisor.content_edit import diff_lines
from responder.supervisor.rule_edit import RuleHistory, as_toml, history


@dataclass(frozen=True)
class Conflict:
    """`read` is the version the edit was made on (0: config.toml's); `live` is in force now."""

    kind: str
    read: int
    since: list[RuleHistory]  # the saves made after `read`, newest (the live one) first
    theirs: list[tuple[str, str]]  # read -> live: what the other saves changed
    mine: list[tuple[str, str]]  # read -> the refused text; empty for a form's change

    @property
    def by(self) -> RuleHistory:
        return self.since[0]

    @property
    def live(self) -> int:
        return self.since[0].version

    @property
    def live_text(self) -> str:
        return self.since[0].text


def _name(version: int) -> str:
    return f"version {version}" if version else "config.toml's rules"


def _text(versions: list[RuleHistory], settings: Settings, kind: str, version: int) -> str:
    """The TOML of one version; 0 is config.toml's rules, as the editor showed them."""
    if not version:
        return as_toml(settings.tone if kind == "tone" else settings.actions)
    return next((v.text for v in versions if v.version == version), "")


def conflict(
    session: Session, settings: Settings, kind: str, read: int, mine: str | None = None
) -> Conflict | None:
    """The saves since `read`, or None when `read` is still live (nothing ran into)."""
    versions = history(session, kind)
    since = [v for v in versions if v.version > read]
    if not since:
        return None
    started = _text(versions, settings, kind, read)
    live = since[0]
    theirs = diff_lines(started, live.text, _name(read), f"version {live.version} (live)")
    typed = diff_lines(started, mine, _name(read), "yours") if mine is not None else []
    return Conflict(kind, read, since, theirs, typed)
