"""Supervisors who do not write TOML manage action rules with a form: the list says each rule in
words, a rule added, edited or moved there changes the next drafts' suggested actions (comments
typed in the TOML stay), a bad value is refused beside its field in the form's words with what
was typed kept, and removing asks first."""

from __future__ import annotations

import html
import re

from litestar.testing import TestClient
from sqlalchemy import select

from responder.db.models import AuditEntry, RuleVersion
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.supervisor.test_rules import drafted, versions
from tests.test_web_security import csrf, login


def _form(page: str) -> dict[str, str]:
    """The form's fields as the page filled them (inputs, and each select's chosen option)."""
    fields = dict(
        re.findall(r'<input (?:type="hidden" )?name="([^"]+)"[^>]*?value="([^"]*)"', page)
    )
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        fields[name] = chosen.group(1) if chosen else ""
    return {name: html.unescape(value) for name, value in fields.items()}


def _rule_row(page: str, number: int) -> str:
    return html.unescape(page.split(f'id="action-rule-{number}"', 1)[1].split("</tr>", 1)[0])


def _offered(rt: Runtime, number: int) -> list[str]:
    return [a["name"] for a in drafted(rt, number)["actions"]]


NEW_RULE = {
    "name": "roaming_refund",
    "label": "Refund the roaming charge",
    "snippet": "billing-dispute-review",
    "condition-0": "intents",
    "value-0": "roaming, port_out",
    "condition-1": "sentiments",
    "value-1": "neutral",
    "condition-2": "",
    "value-2": "",
}


def test_the_list_says_each_rule_in_words(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/rules").text
    first, third, fourth = (_rule_row(page, n) for n in (1, 3, 4))
    assert "customer value tier is Best and churn risk is high" in first
    assert "Offer the loyalty discount" in first and "retention-offer-best" in first
    assert "intent is roaming and add-ons do not include World Roam Pass or EU Roam Pass" in third
    assert "at least 3 contacts in the last 14 days" in fourth
    assert 'href="/supervisor/action-rules/new"' in page and "Edit as TOML" in page


def test_a_rule_added_with_the_form_is_offered_on_a_matching_draft(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    assert _offered(rt, 1) == ["roaming_pass"]
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = _form(client.get("/supervisor/action-rules/new").text)
        assert form["version"] == "0" and form["snippet"] == ""
        saved = client.post("/supervisor/action-rules/new", data={**form, **NEW_RULE})
        assert saved.status_code == 200, saved.text
        assert "Saved: added action rule 6 &#39;roaming_refund&#39;; version 1" in saved.text
        row = _rule_row(saved.text, 6)
        assert "intent is roaming or port_out and sentiment is neutral" in row
        assert "Refund the roaming charge" in row and "billing-dispute-review" in row
        assert "name = &#34;roaming_refund&#34;" in saved.text, "the TOML editor shows it too"
    assert _offered(rt, 2) == ["roaming_pass", "roaming_refund"]
    with rt.factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "rules.save")).one()
    assert entry.actor == "sue" and entry.detail["change"] == "added rule 6 'roaming_refund'"


def test_editing_a_rule_keeps_the_rest_and_changes_the_next_draft(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = _form(client.get("/supervisor/action-rules/3").text)
        assert form["name"] == "roaming_pass" and form["snippet"] == "roaming-world-pass"
        assert (form["condition-0"], form["value-0"]) == ("intents", "roaming")
        assert (form["condition-1"], form["value-1"]) == (
            "addons_without",
            "World Roam Pass, EU Roam Pass",
        )
        form.update({"value-0": "port_out", "label": "Suggest the World Roam Pass abroad"})
        saved = client.post("/supervisor/action-rules/3", data=form)
        assert "Saved: edited action rule 3" in saved.text
        row = _rule_row(saved.text, 3)
        assert "Suggest the World Roam Pass abroad" in row and "intent is port_out and" in row
        assert "Offer the loyalty discount" in _rule_row(saved.text, 1)
        stale = client.post("/supervisor/action-rules/3", data={**form, "label": "Old"})
        assert stale.status_code == 409, "the form was opened at version 0; 1 is live now"
        assert "changed while this form was open (version 1 is live" in stale.text
        assert _form(stale.text)["label"] == "Old"
        again = client.post("/supervisor/action-rules/3", data={**form, "version": "1"})
        assert again.status_code == 422 and "no change: version 1 already says this" in again.text
    assert _offered(rt, 1) == []


def test_an_invalid_value_is_refused_beside_its_field_with_the_input_kept(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    typo = {
        **NEW_RULE,
        "value-0": "roming",
        "condition-2": "min_contacts",
        "value-2": "-1",
        "label": "",
    }
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        form = _form(client.get("/supervisor/action-rules/new").text)
        refused = client.post("/supervisor/action-rules/new", data={**form, **typo})
        assert refused.status_code == 422
        page = html.unescape(refused.text)
        beside = dict(re.findall(r'id="([\w-]+)-error">([^<]*)<', page))
        # named as the form labels the field, not by the TOML key (min_contacts, label)
        assert beside["condition-0"] == "Intent is: 'roming' is unknown; did you mean 'roaming'?"
        assert beside["condition-2"] == "Recent contacts at least: must be 0 or more"
        assert beside["rule-label"] == "Label: empty"
        kept = _form(refused.text)
        assert kept["value-0"] == "roming" and kept["value-2"] == "-1"
        assert kept["name"] == "roaming_refund" and kept["snippet"] == "billing-dispute-review"

        words = client.post(
            "/supervisor/action-rules/new",
            data={**form, **NEW_RULE, "condition-2": "min_open_cases", "value-2": "two"},
        )
        assert words.status_code == 422
        error = html.unescape(words.text).split('id="condition-2-error">', 1)[1]
        assert error.startswith("Open cases at least: must be a whole number, such as 3<")
    assert versions(rt) == 0


def test_removing_a_rule_asks_first_and_the_draft_no_longer_offers_it(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/rules").text
        button = re.search(r'<button[^>]*id="remove-rule-3"[^>]*>', page).group(0)
        assert 'data-confirm="Remove rule 3 (Suggest the World Roam Pass)?' in button
        token = csrf(client, "/supervisor/rules")
        stale = client.post(
            "/supervisor/action-rules/3/remove", data={"version": "7", "_csrf_token": token}
        )
        assert stale.status_code == 409
        assert "Not removed: the action rules changed" in html.unescape(stale.text)
        removed = client.post(
            "/supervisor/action-rules/3/remove", data={"version": "0", "_csrf_token": token}
        )
        text = html.unescape(removed.text)
        assert "Removed action rule 3 'roaming_pass'; version 1" in text
        assert (
            "roaming-world-pass" not in text.split('id="action-rules"', 1)[1].split("</table>")[0]
        )
        assert "at least 3 contacts" in _rule_row(removed.text, 3), "the next rule moved up"
    assert _offered(rt, 1) == []
    with rt.factory() as session:
        change = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "rules.save")
        ).one()["change"]
    assert change == "removed rule 3 'roaming_pass'"


NOTED_RULES = """contact_days = 14

# The pass first: most travellers want it more than a refund.
[[rules]]
name = "roaming_pass"
label = "Suggest the World Roam Pass"
snippet = "roaming-world-pass"
intents = ["roaming"]

# Refunds only after the pass; ask billing before promising one.
[[rules]]
name = "roaming_refund"  # agreed with billing
label = "Refund the roaming charge"
snippet = "billing-dispute-review"
intents = ["roaming"]

[[rules]]
name = "escalate"
label = "Escalate to a supervisor"
snippet = "complaint-acknowledge"
min_contacts = 3
"""
PASS_NOTE = "# The pass first: most travellers want it more than a refund.\n[[rules]]\n"
REFUND_NOTE = (
    "# Refunds only after the pass; ask billing before promising one.\n[[rules]]\n"
    'name = "roaming_refund"  # agreed with billing\n'
)


def _toml(page: str) -> str:
    return html.unescape(page.split('id="actions-text"', 1)[1].split(">", 1)[1].split("</")[0])


def test_moving_a_rule_changes_the_order_of_the_offered_actions(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        token = csrf(client, "/supervisor/rules")
        client.post(
            "/supervisor/rules/actions/save", data={"text": NOTED_RULES, "_csrf_token": token}
        )
        page = client.get("/supervisor/rules").text
        assert "Order matters: every rule that holds offers its action" in page
        assert 'id="move-up-1"' not in page and 'id="move-down-3"' not in page
        move = re.search(
            r'<form[^>]*action="/supervisor/action-rules/1/move".*?</form>', page, re.S
        )
        assert 'name="_csrf_token"' in move.group(0) and 'id="move-down-1"' in move.group(0)
        assert _offered(rt, 1) == ["roaming_pass", "roaming_refund"]

        form = _form(client.get("/supervisor/action-rules/1").text)
        edited = client.post(
            "/supervisor/action-rules/1", data={**form, "label": "Offer the World Roam Pass"}
        )
        assert "Saved: edited action rule 1" in html.unescape(edited.text)
        text = _toml(edited.text)
        assert PASS_NOTE + 'name = "roaming_pass"\nlabel = "Offer the World Roam Pass"' in text
        assert REFUND_NOTE in text, "the note above rule 2 survives an edit of rule 1"

        down = {"version": "2", "direction": "down", "_csrf_token": token}
        moved = client.post("/supervisor/action-rules/1/move", data=down)
        assert moved.status_code == 200
        assert "Moved action rule 1 'roaming_pass' down: it is rule 2 now; version 3" in (
            html.unescape(moved.text)
        )
        assert "roaming_refund" in _rule_row(moved.text, 1)
        assert "roaming_pass" in _rule_row(moved.text, 2)
        text = _toml(moved.text)
        assert text.startswith("contact_days = 14\n\n" + REFUND_NOTE), "each note kept its rule"
        assert "\n\n" + PASS_NOTE + 'name = "roaming_pass"' in text
        assert _offered(rt, 2) == ["roaming_refund", "roaming_pass"]

        stale = client.post("/supervisor/action-rules/2/move", data={**down, "direction": "up"})
        assert stale.status_code == 409, "the page was opened at version 2; 3 is live now"
        assert "Not moved: the action rules changed (version 3 is live" in html.unescape(stale.text)
        up = client.post(
            "/supervisor/action-rules/2/move", data={**down, "version": "3", "direction": "up"}
        )
        assert "it is rule 1 now; version 4" in html.unescape(up.text)
        assert _toml(up.text) == NOTED_RULES.replace("Suggest the", "Offer the")
    assert _offered(rt, 3) == ["roaming_pass", "roaming_refund"]
    with rt.factory() as session:
        changes = session.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.action == "rules.save")
            .order_by(AuditEntry.id)
        ).all()
    assert [c.get("change") for c in changes] == [
        None,
        "edited rule 1 'roaming_pass'",
        "moved rule 1 'roaming_pass' to 2",
        "moved rule 2 'roaming_pass' to 1",
    ]


def test_agents_cannot_open_or_post_the_rule_form(rt: Runtime) -> None:
    staff(rt, "cliodhna", "agent")
    with TestClient(create_app(rt)) as client:
        login(client, "cliodhna")
        token = csrf(client)
        for path in ("/supervisor/action-rules/new", "/supervisor/action-rules/1"):
            assert client.get(path).status_code == 403
            assert client.post(path, data={**NEW_RULE, "_csrf_token": token}).status_code == 403
        for action in ("remove", "move"):
            gone = client.post(
                f"/supervisor/action-rules/1/{action}",
                data={"version": "0", "direction": "down", "_csrf_token": token},
            )
            assert gone.status_code == 403
    assert versions(rt) == 0


def test_rules_saved_as_data_through_the_api_keep_the_comments_typed_in_the_toml(
    rt: Runtime,
) -> None:
    """The API wrote the stored TOML afresh from the data, dropping every comment."""
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        api = "/api/supervisor/rules/actions"
        typed = client.post(api, headers=auth, json={"text": NOTED_RULES})
        assert typed.status_code == 201, typed.text
        section = typed.json()["actions"]["rules"]
        pass_rule, refund, escalate = section["rules"]
        refund["label"] = "Refund the roaming charge in full"
        added = {"name": "retention_offer", "label": "Offer a loyalty discount"}
        section["rules"] = [refund, escalate, {**added, "snippet": "retention-offer-best"}]
        saved = client.post(api, headers=auth, json={"rules": section})
        assert saved.status_code == 201, saved.text
        assert [r["name"] for r in saved.json()["actions"]["rules"]["rules"]] == [
            "roaming_refund",
            "escalate",
            "retention_offer",
        ]
        assert pass_rule["name"] == "roaming_pass"
    with rt.factory() as session:
        text = session.scalars(select(RuleVersion.text).order_by(RuleVersion.id.desc())).first()
    assert text == (
        "contact_days = 14\n\n"
        + REFUND_NOTE
        + 'label = "Refund the roaming charge in full"\n'
        + NOTED_RULES.split('label = "Refund the roaming charge"\n', 1)[1]
        + '\n[[rules]]\nname = "retention_offer"\nlabel = "Offer a loyalty discount"\n'
        + 'snippet = "retention-offer-best"\n'
    ), "the removed rule's note went with it, the changed one's stayed, the new one is last"
