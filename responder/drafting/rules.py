"""Tone and suggested actions from rules in config.toml: plain functions over plain data.

The facts come from the customer context and the classification. Churn risk and sentiment are
produced by other parts (the customer view, the sentiment classifier) and may be missing: read
them with `label_of`, and a missing value is "" for churn (no churn rule fires) and "neutral"
for sentiment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from responder.config import ActionRule, ToneRule


@dataclass(frozen=True)
class DraftFacts:
    """What the rules may look at; see DESIGN.md for where each value comes from."""

    intent: str = ""
    tier: str = ""
    churn: str = ""
    sentiment: str = "neutral"
    plan: str = ""
    addons: tuple[str, ...] = ()
    contacts: int = 1
    open_cases: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["addons"] = list(self.addons)
        return data


@dataclass(frozen=True)
class OfferedAction:
    name: str
    label: str
    snippet: str
    rules: tuple[int, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "snippet": self.snippet}


def label_of(value: object, default: str = "") -> str:
    """A classifier output stored as `{"label": ...}`, `{"level": ...}` or a bare string."""
    if isinstance(value, Mapping):
        value = value.get("label") or value.get("level")
    return str(value).lower() if value else default


def choose_tone(rules: Sequence[ToneRule], default: str, *, tier: str, sentiment: str) -> str:
    for rule in rules:
        if rule.tiers and tier not in rule.tiers:
            continue
        if rule.sentiments and sentiment not in rule.sentiments:
            continue
        return rule.tone
    return default


def rule_holds(rule: ActionRule, facts: DraftFacts) -> bool:
    addons = {a.lower() for a in facts.addons}
    checks = (
        not rule.intents or facts.intent in rule.intents,
        not rule.tiers or facts.tier in rule.tiers,
        not rule.churn or facts.churn in [c.lower() for c in rule.churn],
        not rule.sentiments or facts.sentiment in [s.lower() for s in rule.sentiments],
        not rule.plans or any(facts.plan.startswith(p) for p in rule.plans),
        not rule.addons_with or any(a.lower() in addons for a in rule.addons_with),
        not any(a.lower() in addons for a in rule.addons_without),
        rule.min_contacts is None or facts.contacts >= rule.min_contacts,
        rule.min_open_cases is None or facts.open_cases >= rule.min_open_cases,
    )
    return all(checks)


def offered_actions(rules: Sequence[ActionRule], facts: DraftFacts) -> list[OfferedAction]:
    """One offer per action name, in rule order, remembering which rules (by index) fired."""
    offers: dict[str, OfferedAction] = {}
    for number, rule in enumerate(rules):
        if not rule_holds(rule, facts):
            continue
        known = offers.get(rule.name)
        fired = (*known.rules, number) if known else (number,)
        offers[rule.name] = OfferedAction(rule.name, rule.label, rule.snippet, fired)
    return list(offers.values())
