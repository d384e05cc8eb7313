"""The action rules' TOML changed in place: what a supervisor typed around the changed rule
stays as typed, whichever way the rules are written."""

from __future__ import annotations

import tomllib

import msgspec

from responder.supervisor.rule_edit import convert, parse
from responder.supervisor.rule_toml import moved, placed, rewritten
from tests.supervisor.test_rule_form import NOTED_RULES, PASS_NOTE, REFUND_NOTE

ESCALATE = {
    "name": "escalate",
    "label": "Escalate to a supervisor",
    "snippet": "complaint-acknowledge",
    "min_contacts": 3,
}


def test_an_unchanged_rule_leaves_the_text_as_it_was() -> None:
    assert placed(NOTED_RULES, 2, {**ESCALATE, "min_contacts": 3}) == NOTED_RULES


def test_removing_the_first_rule_keeps_the_note_above_the_next() -> None:
    text = placed(NOTED_RULES, 0, None)
    assert text.startswith("contact_days = 14\n\n" + REFUND_NOTE)
    assert PASS_NOTE not in text, "a rule's note goes with it"
    assert [r["name"] for r in tomllib.loads(text)["rules"]] == ["roaming_refund", "escalate"]


def test_a_rule_added_or_moved_keeps_a_trailing_comment_last() -> None:
    text = placed(NOTED_RULES + "\n# Reviewed with billing in November.\n", None, ESCALATE)
    assert text.endswith("min_contacts = 3\n\n# Reviewed with billing in November.\n")
    assert text.count("[[rules]]") == 4
    text = moved(text, 3, 0)
    assert text.endswith("min_contacts = 3\n\n# Reviewed with billing in November.\n")
    assert tomllib.loads(text)["rules"][0]["name"] == "escalate"


def test_rules_written_as_an_inline_list_are_changed_in_it() -> None:
    text = (
        "contact_days = 14\n"
        "# both roaming rules\n"
        "rules = [\n"
        '  { name = "a", label = "A", snippet = "s" },\n'
        '  { name = "b", label = "B", snippet = "s" },\n'
        "]\n"
    )
    text = moved(placed(text, None, {"name": "c", "label": "C", "snippet": "s"}), 2, 0)
    assert "# both roaming rules\nrules = [" in text
    assert [r["name"] for r in tomllib.loads(text)["rules"]] == ["c", "a", "b"]


def test_rules_saved_as_data_into_an_inline_list_stay_valid_toml_with_its_comments() -> None:
    """tomlkit, filling an inline table in place, left `label = "B"  }` where a key went and
    `tiers = ["Best"]}` where one came: the rule is written again, padded as the others."""
    text = (
        "contact_days = 14\n"
        "rules = [\n"
        "  # the pass first\n"
        '  { name = "a", label = "A", snippet = "s" },\n'
        '  { name = "b", label = "B", snippet = "s", intents = ["roaming"] },  # billing agreed\n'
        '  { name = "c", label = "C", snippet = "s" },\n'
        "]\n"
    )
    old = msgspec.to_builtins(parse("actions", text))
    assert rewritten(text, old, old) == text
    rules = old["rules"]
    changed = {**rules[1], "intents": [], "tiers": ["Best"]}
    new = {**old, "rules": [rules[0], changed, {"name": "d", "label": "D", "snippet": "s"}]}
    new = msgspec.to_builtins(convert("actions", new))
    saved = rewritten(text, old, new)
    assert msgspec.to_builtins(parse("actions", saved)) == new
    assert tomllib.loads(saved)["rules"][1] == {
        "name": "b",
        "label": "B",
        "snippet": "s",
        "intents": [],
        "tiers": ["Best"],
    }
    assert "  # the pass first\n" in saved and "  # billing agreed\n" in saved
    assert '{ name = "b", label = "B", snippet = "s", intents = [], tiers = ["Best"] }' in saved
    assert '{ name = "c"' not in saved and '  { name = "d", label = "D", snippet = "s" },' in saved


def test_a_rule_renamed_in_its_place_keeps_the_comment_above_it() -> None:
    """Saved as data, a renamed rule is no longer matched by name; standing where the old one
    stood, the old name gone, it is the same rule renamed, and its note stays above it."""
    old = msgspec.to_builtins(parse("actions", NOTED_RULES))
    rules = old["rules"]
    renamed = {**rules[1], "name": "roaming_credit"}
    new = {**old, "rules": [rules[0], renamed, rules[2]]}
    saved = rewritten(NOTED_RULES, old, new)
    assert msgspec.to_builtins(parse("actions", saved)) == new
    assert saved == NOTED_RULES.replace('"roaming_refund"', '"roaming_credit"')
    assert REFUND_NOTE.replace("roaming_refund", "roaming_credit") in saved
