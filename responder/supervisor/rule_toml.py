"""The action rules' stored TOML changed in place, so a form's save leaves the rest as typed.

A save from the one-rule form (add, edit, remove, move) changes only that rule's lines in the
text the TOML editor shows: comments, blank lines and the layout of every other rule stay, and
an edited rule keeps the lines whose value did not change. A save of the whole section as data
(the JSON API: `rewritten`) makes the same edits, found by comparing the rules before and
after. Comments and blank lines directly above a `[[rules]]` header belong to that rule and
travel with it (tomlkit files them at the end of the rule before), so a note about rule 2
stays above rule 2 when rule 1 moves or goes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from difflib import SequenceMatcher
from typing import Any

import msgspec
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
    if isinstance(rules, Array):
        padded = not rules or rules[0].as_string().startswith("{ ")
        return _inline(tomlkit.inline_table(), rule, padded)
    table = tomlkit.table()
    _fill(table, rule)
    table.trivia.indent = "\n"  # a blank line between rules, as the rest are written
    return table


def _inline(old: InlineTable, rule: Mapping[str, Any], padded: bool) -> InlineTable:
    """An inline rule written again as text: filled in place, tomlkit leaves a doubled space
    where a key went and none before `}` after one it adds. Values that did not change keep
    their text; `padded`: spaces inside the braces (`{ name = "a" }`)."""
    pad = " " if padded else ""
    order = [key for key in old if key in rule] + [key for key in rule if key not in old]
    kept = {key for key in old if key in rule and old[key] == rule[key]}
    pairs = ", ".join(
        f"{key} = {old[key].as_string() if key in kept else _value(rule[key])}" for key in order
    )
    made: InlineTable = tomlkit.parse(f"rule = {{{pad}{pairs}{pad}}}")["rule"]
    return made


def _value(value: Any) -> str:
    return tomlkit.item(value).as_string()


def _refill(rules: AoT | Array, index: int, rule: Mapping[str, Any]) -> None:
    """Rule `index` changed to `rule`: a table's lines in place, an inline table rewritten."""
    table = rules[index]
    if isinstance(table, InlineTable):
        if table.unwrap() != dict(rule):
            rules[index] = _inline(table, rule, table.as_string().startswith("{ "))
    else:
        _fill(table, rule)


def _rules(doc: TOMLDocument) -> AoT | Array:
    """The document's rules; none yet (or `rules = []`) become `[[rules]]` tables."""
    rules = doc.get("rules")
    if isinstance(rules, AoT | Array) and (rules or _rules_at(doc) != len(doc.body) - 1):
        return rules
    if rules is not None:
        del doc["rules"]
    doc.append("rules", tomlkit.aot())
    return doc["rules"]


def _edit(
    text: str,
    change: Callable[[AoT | Array], None],
    keys: Callable[[TOMLDocument], None] | None = None,
) -> str:
    doc, above, end = _detach(tomlkit.parse(text))
    if keys is not None:
        keys(doc)
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
            _refill(rules, index, rule)

    return _edit(text, change)


def moved(text: str, index: int, to: int) -> str:
    """The text with rule `index` taken out and put back at `to`, its lines as they were."""

    def change(rules: AoT | Array) -> None:
        table = rules[index]
        del rules[index]
        rules.insert(to, table)

    return _edit(text, change)


def rewritten(text: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The text, which reads as section `old`, changed in place to say section `new` (both as
    the config's types give them: every field, None where unset). A rule equal in both keeps
    its lines; a changed one (an action rule of the same name, or renamed where it stood, its
    old name gone; tone rules, which have none, in order) keeps its place, its unchanged lines
    and the lines above it; one no longer there goes with them; a new one is put where it
    stands in `new`, at the end when it is last.
    Other keys change only where their value did."""
    before, after = list(old.get("rules", [])), list(new.get("rules", []))
    plan = _pairs(before, after)
    kept = {i for _, i in plan if i is not None}

    def keys(doc: TOMLDocument) -> None:
        for key, value in new.items():
            if key == "rules" or old.get(key) == value:
                continue
            if value is None:
                if key in doc:
                    del doc[key]
            else:
                doc[key] = value

    def change(rules: AoT | Array) -> None:
        for j, i in plan:
            if i is not None and before[i] != after[j]:
                _refill(rules, i, _written(after[j], rules[i]))
        for i in reversed(range(len(rules))):
            if i not in kept:
                del rules[i]
        for j, i in plan:  # in order, so every rule before j is in place
            if i is None:
                _insert(rules, j, _new(rules, _written(after[j], {})))

    return _edit(text, change, keys)


def _pairs(before: list[Any], after: list[Any]) -> list[tuple[int, int | None]]:
    """For each rule of `after` (by index), the rule of `before` it is (None: a new one)."""
    plan: list[tuple[int, int | None]] = []
    same = SequenceMatcher(None, [_key(r) for r in before], [_key(r) for r in after], False)
    for tag, i1, i2, j1, j2 in same.get_opcodes():
        if tag == "equal":
            plan += zip(range(j1, j2), range(i1, i2), strict=True)
            continue
        names = SequenceMatcher(
            None, [r.get("name") for r in before[i1:i2]], [r.get("name") for r in after[j1:j2]]
        )
        for named, k1, k2, m1, m2 in names.get_opcodes():
            if named == "equal":  # changed; tone rules have no name: paired in order
                plan += [(j1 + m, i1 + k1 + m - m1) for m in range(m1, m2)]
            else:
                plan += _renamed(before, after, range(i1 + k1, i1 + k2), range(j1 + m1, j1 + m2))
    return plan


def _renamed(
    before: list[Any], after: list[Any], old: range, new: range
) -> list[tuple[int, int | None]]:
    """Rules `new` of `after` standing where rules `old` of `before` stood: each is the old rule
    at its place, renamed, when its name is new and the old one's is gone from `after` (so its
    comment stays); otherwise a new rule."""
    names_before = {r.get("name") for r in before}
    names_after = {r.get("name") for r in after}
    plan: list[tuple[int, int | None]] = []
    for offset, j in enumerate(new):
        i = old[offset] if offset < len(old) else None
        renamed = (
            i is not None
            and after[j].get("name") not in names_before
            and before[i].get("name") not in names_after
        )
        plan.append((j, i if renamed else None))
    return plan


def _key(rule: Mapping[str, Any]) -> bytes:
    return msgspec.json.encode(rule, order="sorted")


def _written(rule: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """The rule as the TOML holds it: no key for a condition that is not set (TOML has no
    None), though an empty list the text already has keeps its line."""
    return {
        key: value
        for key, value in rule.items()
        if value is not None and (value != [] or key in table)
    }


def _insert(rules: AoT | Array, index: int, table: Table | InlineTable) -> None:
    if index >= len(rules):
        rules.append(table)
    else:
        rules.insert(index, table)
