"""The tone and action rules in force: a supervisor's latest saved version, else config.toml.

Rules are edited in the web UI and stored versioned in `rule_versions`, so every worker and web
process drafts with the same rules; config.toml's `[tone]` and `[actions]` are the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from responder.config import MAX_CONTACT_DAYS, ActionSettings, Settings, ToneSettings
from responder.db.models import RuleVersion

KINDS = ("tone", "actions")


@dataclass(frozen=True)
class CurrentRules:
    tone: ToneSettings
    actions: ActionSettings
    versions: dict[str, int | None]  # kind -> live version; None = config.toml


def latest_version(session: Session, kind: str) -> RuleVersion | None:
    return session.scalar(
        select(RuleVersion)
        .where(RuleVersion.kind == kind)
        .order_by(RuleVersion.version.desc())
        .limit(1)
    )


def _in_force(actions: ActionSettings) -> ActionSettings:
    """A version saved before `contact_days` was range-checked may hold a window no date
    reaches back to (10**20 days), which failed every draft: it counts as the longest window a
    save may set. Its stored text keeps the number, so the rules page shows it to correct."""
    days = min(max(actions.contact_days, 1), MAX_CONTACT_DAYS)
    if days == actions.contact_days:
        return actions
    return msgspec.structs.replace(actions, contact_days=days)


def current_rules(session: Session, settings: Settings) -> CurrentRules:
    tone, actions = latest_version(session, "tone"), latest_version(session, "actions")
    return CurrentRules(
        tone=msgspec.convert(tone.rules, ToneSettings) if tone else settings.tone,
        actions=_in_force(msgspec.convert(actions.rules, ActionSettings))
        if actions
        else settings.actions,
        versions={
            "tone": tone.version if tone else None,
            "actions": actions.version if actions else None,
        },
    )
