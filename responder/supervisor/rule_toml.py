"""The action rules' stored TOML changed in place, so a form's save leaves the rest as typed.

A save from the one-rule form (add, edit, remove, move) changes only that rule's lines in the
text the TOML editor shows: comments, blank lines and the layout of every other rule stay, and
an edited rule keeps the lines whose value did not change. Comments and blank lines directly
above a `[[rules]]` header belong to that rule and travel with it (tomlkit files them at the end
of the rule before), so a note about rule 2 stays above rule 2 when rule 1 moves or goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

Body = list[tuple[Any, Item]]


def _cut_tail(body: Body) -> str:
    """Takes the comments and blank lines that close a body off it; returns them as text."""
    cut = len(body)
    while cut and body[cut - 1][0] is None and isinstance(body[cut - 1][1], Comment | Whitespace):
        cut -= 1
    tail = "".join(item.as_string() for _, item in body[cut:])
    del body[cut:]  # keyless items at the end: no key's index moves
    return tail


def _rules_at(doc: TOMLDocument) -> int | None:
    return next(
        (n for n, (key, _) in enumerate(doc.body) if key is not None and key.key == "rules"),
        None,
    )


def _detach(doc: TOMLDocument) -> tuple[TOMLDocument, list[tuple[Table, str]], str]:
    """The document without the lines above each `[[rules]]` table (returned with their table)
    and after the last one (they stay last)."""
    at = _rules_at(doc)
    rules = doc.body[at][1] if at is not None else None
    if not isinstance(rules, AoT) or not rules.body:
        return doc, [], ""
    head = doc.body[:at]
    above = [_cut_tail(head)] + [_cut_tail(t.value.body) for t in rules.body[:-1]]
    end = _cut_tail(rules.body[-1].value.body)
    indents = [lines + t.trivia.indent for t, lines in zip(rules.body, above, strict=True)]
    for table in rules.body:
        table.trivia.indent = ""
    rebuilt = tomlkit.document()
    for key, item in head + doc.body[at:]:
        rebuilt.add(key, item) if key is not None else rebuilt.add(item)
    return rebuilt, list(zip(rules.body, indents, strict=True)), end


def _fill(table: Table | InlineTable, rule: Mapping[str, Any]) -> None:
    """The rule's keys set in place: a value that did not change keeps its line as typed, a
    key the rule no longer has goes, a new one is added after the others."""
    for key in [k for k in table if k not in rule]:
        del table[key]
    for key, value in rule.items():
        if key not in table or table[key] != value:
            table[key] = value


def _new(rules: AoT | Array, rule: Mapping[str, Any]) -> Table | InlineTable:
    table = tomlkit.inline_table() if isinstance(rules, Array) else tomlkit.table()
    _fill(table, rule)
    if isinstance(table, Table):
        table.trivia.indent = "\n"  # a blank line between rules, as the rest are written
    return table


def _rules(doc: TOMLDocument) -> AoT | Array:
    """The document's rules; none yet (or `rules = []`) become `[[rules]]` tables."""
    rules = doc.get("rules")
    if isinstance(rules, AoT | Array) and (rules or _rules_at(doc) != len(doc.body) - 1):
        return rules
    if rules is not None:
        del doc["rules"]
    doc.append("rules", tomlkit.aot())
    return doc["rules"]


def _edit(text: str, change: Any) -> str:
    doc, above, end = _detach(tomlkit.parse(text))
    change(_rules(doc))
    # Put back only now: tomlkit indents keys added to a table like its header's indent.
    for table, indent in above:
        table.trivia.indent = indent
    return tomlkit.dumps(doc) + end


def placed(text: str, index: int | None, rule: Mapping[str, Any] | None) -> str:
    """The text with rule `index` replaced by `rule` (index None: added at the end; rule None:
    removed)."""

    def change(rules: AoT | Array) -> None:
        if index is None:
            rules.append(_new(rules, rule or {}))
        elif rule is None:
            del rules[index]
        else:
            _fill(rules[index], rule)

    return _edit(text, change)


def moved(text: str, index: int, to: int) -> str:
    """The text with rule `index` taken out and put back at `to`, its lines as they were."""

    def change(rules: AoT | Array) -> None:
        table = rules[index]
        del rules[index]
        rules.insert(to, table)

    return _edit(text, change)
