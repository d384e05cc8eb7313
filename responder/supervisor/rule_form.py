"""One action rule as words and as a form, for supervisors who do not write TOML.

The form's fields become the rule's plain data, put into the live `[actions]` TOML at its place
(`rule_toml`), and go through `rule_edit.save_rules` like the TOML editor's text: the same checks,
the same versions and audit. Nothing here judges a value; it only says where a refusal belongs,
in the words the form shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from responder.config import ActionRule
from responder.supervisor.rule_edit import Problem
from responder.supervisor.snippet_edit import comma_list


@dataclass(frozen=True)
class Condition:
    """One thing a rule may look at: its key in the rule, how the form's select says it."""

    key: str
    words: str  # "intent is", read before the values
    number: bool = False  # one whole number rather than a list of names


CONDITIONS = (
    Condition("intents", "intent is"),
    Condition("tiers", "customer value tier is"),
    Condition("churn", "churn risk is"),
    Condition("sentiments", "sentiment is"),
    Condition("plans", "plan starts with"),
    Condition("addons_with", "add-ons include"),
    Condition("addons_without", "add-ons do not include"),
    Condition("min_contacts", "recent contacts at least", number=True),
    Condition("min_open_cases", "open cases at least", number=True),
)
BY_KEY = {c.key: c for c in CONDITIONS}
#: The form's labels of the rule's own fields (a condition is named by its words).
LABELS = {"name": "Name", "label": "Label", "snippet": "Snippet it adds"}
#: Empty condition rows the form offers beyond those the rule has.
SPARE_ROWS = 2


@dataclass
class ConditionRow:
    key: str = ""
    value: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class RuleFields:
    """The form as typed (kept as typed when refused), with problems beside each field."""

    name: str = ""
    label: str = ""
    snippet: str = ""
    conditions: list[ConditionRow] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)  # name, label, snippet
    general: list[str] = field(default_factory=list)  # about the rules, not one field

    def rows(self, spare: int = SPARE_ROWS) -> list[ConditionRow]:
        return self.conditions + [ConditionRow() for _ in range(spare)]


def _values(rule: ActionRule, key: str) -> str:
    value = getattr(rule, key)
    if value is None or value == []:
        return ""
    return str(value) if isinstance(value, int) else ", ".join(value)


def fields_of(rule: ActionRule) -> RuleFields:
    """A saved rule, as the edit form shows it."""
    rows = [ConditionRow(c.key, _values(rule, c.key)) for c in CONDITIONS if _values(rule, c.key)]
    return RuleFields(rule.name, rule.label, rule.snippet, rows)


#: A condition row's field as the form names it; ASCII digits only ("²" is a digit to
#: `str.isdigit` but no number to `int`).
_ROW = re.compile(r"condition-([0-9]{1,6})")


def from_form(form: Mapping[str, Any]) -> RuleFields:
    """The posted form: `name`, `label`, `snippet`, and `condition-N` / `value-N` pairs."""

    def text(name: str) -> str:
        value = form.get(name, "")
        return (value[-1] if isinstance(value, list) else str(value)).strip()

    rows_posted = sorted((match[1] for name in form if (match := _ROW.fullmatch(name))), key=int)
    rows = [ConditionRow(text(f"condition-{n}"), text(f"value-{n}")) for n in rows_posted]
    rows = [row for row in rows if row.value]  # a row left empty is no condition
    return RuleFields(text("name"), text("label"), text("snippet"), rows)


def _number(value: str) -> int | str:
    """A whole number as a number; anything else as typed, for the config's types to refuse."""
    try:
        return int(value)
    except ValueError:
        return value


def rule_data(fields: RuleFields) -> dict[str, Any]:
    """The rule as config.toml would hold it. A row naming no known condition, or a number
    given twice, is a problem of the form itself (TOML cannot say either)."""
    data: dict[str, Any] = {"name": fields.name, "label": fields.label, "snippet": fields.snippet}
    for row in fields.conditions:
        condition = BY_KEY.get(row.key)
        if condition is None:
            row.problems.append("choose what this condition looks at")
        elif condition.number and condition.key in data:
            row.problems.append(f"'{condition.words}' is given twice: keep one")
        elif condition.number:
            data[condition.key] = _number(row.value)
        else:
            data[condition.key] = list(
                dict.fromkeys([*data.get(row.key, []), *comma_list(row.value)])
            )
    return data


def _in_words(problem: Problem) -> str:
    """A refusal beside its field, naming the field as the form labels it ("Recent contacts at
    least: must be 0 or more"), not by its TOML key; a number the types refused says so."""
    about = str(problem.field)
    condition = BY_KEY.get(about)
    bare = problem.bare
    if condition is not None and condition.number and bare.startswith("Expected `int"):
        bare = "must be a whole number, such as 3"
    label = LABELS.get(about) or (condition.words if condition else about)
    return f"{label[:1].upper()}{label[1:]}: {bare}"


def file_problems(fields: RuleFields, index: int, problems: Sequence[Problem]) -> None:
    """Each refusal beside the field it is about; the rest (other rules) above the form."""
    for problem in problems:
        about = problem.field
        if problem.rule != index or about is None:
            fields.general.append(problem)
        elif about in LABELS:
            fields.problems.setdefault(about, []).append(_in_words(problem))
        else:
            rows = [row for row in fields.conditions if row.key == about]
            for row in rows:
                row.problems.append(_in_words(problem))
            if not rows:
                fields.general.append(problem)


def sentence(rule: ActionRule, contact_days: int) -> str:
    """When the rule applies, in words: "intent is roaming and churn risk is high"."""
    parts = []
    for condition in CONDITIONS:
        value = getattr(rule, condition.key)
        if value is None or value == []:
            continue
        if condition.key == "min_contacts":
            parts.append(f"at least {value} contacts in the last {contact_days} days")
        elif condition.key == "min_open_cases":
            parts.append(f"at least {value} open cases")
        else:
            parts.append(f"{condition.words} {' or '.join(value)}")
    return " and ".join(parts) if parts else "always (it names no condition)"
