"""Supervisors edit the tone and action rules: invalid edits are refused with the reason and
never saved; a saved version changes the next draft's tone and suggested actions."""

from __future__ import annotations

import re
import tomllib

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.db.models import AuditEntry, Channel, Draft, Message, RuleVersion
from responder.db.session import transaction
from responder.drafting.rule_versions import current_rules
from responder.pipeline.stages import draft_stage
from responder.runtime import Runtime
from responder.supervisor.rule_edit import RulesError, as_toml, live_text, save_rules
from responder.web.app import create_app
from tests.helpers import api_token, staff
from tests.test_web_security import csrf, login

ROAMING_REFUND = """contact_days = 14

[[rules]]
name = "roaming_refund"
label = "Refund the roaming charge"
snippet = "billing-dispute-review"
intents = ["roaming"]
"""


def classified_message(rt: Runtime, number: int) -> int:
    """A roaming email from an unknown sender, classified and waiting for its draft."""
    with transaction(rt.factory) as session:
        channel = session.scalar(select(Channel).where(Channel.name == "support"))
        if channel is None:
            channel = Channel(name="support", kind="maildir", address="support@example.test")
            session.add(channel)
            session.flush()
        message = Message(
            channel_id=channel.id,
            external_key=f"rules{number}",
            raw=b"",
            state="classified",
            sender_address=f"traveller{number}@example.test",
            sender_name="Aoife Murphy",
            subject="Roaming charges on my bill",
            text="I was charged 80 euro for roaming in Spain.",
            new_text="I was charged 80 euro for roaming in Spain.",
            intent="roaming",
            intent_confidence=0.9,
            language="en",
            classification={"sentiment": {"label": "neutral"}},
        )
        session.add(message)
        session.flush()
        return message.id


def drafted(rt: Runtime, number: int) -> dict[str, object]:
    message_id = classified_message(rt, number)
    draft_stage(rt, [message_id])
    with rt.factory() as session:
        draft = session.scalar(select(Draft).where(Draft.message_id == message_id))
        assert draft is not None
        return draft.grounding


def versions(rt: Runtime) -> int:
    with rt.factory() as session:
        return session.scalar(select(func.count(RuleVersion.id))) or 0


TYPO = ROAMING_REFUND.replace('["roaming"]', '["roming"]')
NO_SNIPPET = ROAMING_REFUND.replace("billing-dispute-review", "no-such-snippet")
NO_NAME = ROAMING_REFUND.replace('name = "roaming_refund"\n', "")
WARM = '[[rules]]\ntone = "warm"\n'
RULE = ROAMING_REFUND.removeprefix("contact_days = 14\n")
THIRD_RULE_TYPO = (
    ROAMING_REFUND
    + RULE.replace("roaming_refund", "rule_2")
    + RULE.replace("roaming_refund", "rule_3").replace("-review", "-reviw")
)
INVALID = [
    ("tone", 'default = "formal"\n[[rules]\ntone = "x"', "not valid TOML"),
    (
        "tone",
        WARM + 'intents = ["roaming"]',
        "rule 1: unknown field 'intents': the fields here are tone, tiers, sentiments",
    ),
    ("tone", WARM + 'tiers = "Best"', "rule 1, tiers: Expected `array`, got `str`"),
    ("tone", WARM + 'tier = ["Best"]', "rule 1: unknown field 'tier': did you mean 'tiers'?"),
    ("tone", WARM + 'tiers = ["Platinum"]', "unknown tier 'Platinum' in rule 1: known: "),
    ("tone", '[[rules]]\ntone = "Very Warm"', "must be lower-case"),
    ("actions", TYPO, "unknown intent 'roming' in rule 1: did you mean 'roaming'?"),
    (
        "actions",
        THIRD_RULE_TYPO,
        "unknown snippet 'billing-dispute-reviw' in rule 3: did you mean 'billing-dispute-review'?",
    ),
    (
        "actions",
        ROAMING_REFUND.replace("snippet =", "snipet ="),
        "rule 1: unknown field 'snipet': did you mean 'snippet'?",
    ),
    ("actions", NO_SNIPPET, "unknown snippet 'no-such-snippet' in rule 1: no snippet is named"),
    ("actions", NO_NAME, "rule 1: Object missing required field `name`"),
    (
        "actions",
        ROAMING_REFUND + 'churn = ["extreme"]\n',
        "unknown churn level 'extreme' in rule 1: known: high, low, medium",
    ),
]


@pytest.mark.parametrize(("kind", "text", "problem"), INVALID)
def test_invalid_rules_are_refused_with_the_reason(
    rt: Runtime, kind: str, text: str, problem: str
) -> None:
    with transaction(rt.factory) as session, pytest.raises(RulesError) as refused:
        save_rules(session, rt.settings, kind, "sue", text=text)
    assert problem in str(refused.value)
    assert "roaming-world-pass" not in str(refused.value), "not every snippet listed"
    assert versions(rt) == 0


def test_the_config_rules_round_trip_through_the_editor(rt: Runtime) -> None:
    """What the editor shows first (config.toml's rules as TOML) is itself valid."""
    with transaction(rt.factory) as session:
        for kind, section in (("tone", rt.settings.tone), ("actions", rt.settings.actions)):
            save_rules(session, rt.settings, kind, "sue", text=as_toml(section))
        rules = current_rules(session, rt.settings)
    assert rules.versions == {"tone": 1, "actions": 1}
    assert rules.tone == rt.settings.tone and rules.actions == rt.settings.actions


def test_page_refuses_an_invalid_edit_then_a_valid_one_changes_the_next_draft(
    rt: Runtime,
) -> None:
    staff(rt, "sue", "supervisor")
    before = drafted(rt, 1)
    assert [a["name"] for a in before["actions"]] == ["roaming_pass"]
    assert before["tone"] == "" and before["rules_version"] == {"tone": None, "actions": None}
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/rules")
        assert "config.toml (not edited yet)" in page.text and "roaming-world-pass" in page.text
        token = csrf(client, "/supervisor/rules")

        refused = client.post(
            "/supervisor/rules/actions/save", data={"text": TYPO, "_csrf_token": token}
        )
        assert refused.status_code == 422
        error = re.search(r'id="actions-error">([^<]*)<', refused.text).group(1)
        assert "Not saved: unknown intent &#39;roming&#39; in rule 1: did you mean" in error
        assert "[&#34;roming&#34;]" in refused.text, "the supervisor's text stays in the editor"
        assert versions(rt) == 0

        saved = client.post(
            "/supervisor/rules/actions/save", data={"text": ROAMING_REFUND, "_csrf_token": token}
        )
        assert "version 1 of the action rules is live" in saved.text
        toned = client.post(
            "/supervisor/rules/tone/save",
            data={"text": '[[rules]]\ntone = "apologetic"\n', "_csrf_token": token},
        )
        assert "version 1 of the tone rules is live" in toned.text
        assert 'id="actions-history"' in toned.text and "sue" in toned.text

    after = drafted(rt, 2)
    assert [a["name"] for a in after["actions"]] == ["roaming_refund"]
    assert after["tone"] == "apologetic"
    assert after["rules_version"] == {"tone": 1, "actions": 1}
    with rt.factory() as session:
        audit = session.scalars(
            select(AuditEntry.object_id).where(AuditEntry.action == "rules.save")
        ).all()
    assert audit == ["actions", "tone"]


def test_api_reads_and_saves_rules_with_the_same_checks(rt: Runtime) -> None:
    staff(rt, "sue", "supervisor")
    staff(rt, "alice", "agent")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        live = client.get("/api/supervisor/rules", headers=auth).json()
        assert live["tone"]["version"] is None
        assert live["actions"]["rules"]["rules"][0]["name"] == "retention_offer"
        bad = client.post(
            "/api/supervisor/rules/tone",
            headers=auth,
            json={"rules": {"rules": [{"tone": "warm", "sentiments": ["grumpy"]}]}},
        )
        assert (
            bad.status_code == 422
            and "unknown sentiment 'grumpy' in rule 1" in bad.json()["detail"]
        )
        good = client.post(
            "/api/supervisor/rules/tone",
            headers=auth,
            json={
                "rules": {"default": "", "rules": [{"tone": "warm", "sentiments": ["negative"]}]}
            },
        )
        assert good.status_code == 201, good.text
        assert good.json()["tone"]["version"] == 1
        agent = client.post(
            "/api/supervisor/rules/tone", headers=api_token(client, "alice"), json={"text": ""}
        )
        assert agent.status_code == 403
    assert versions(rt) == 1


def test_an_api_save_made_on_rules_saved_over_since_is_refused(rt: Runtime) -> None:
    """Two saves made on the same version: the second silently undid the first."""
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        api = "/api/supervisor/rules/tone"
        read = client.get("/api/supervisor/rules", headers=auth).json()["tone"]["version"]
        warm = {"default": "", "rules": [{"tone": "warm", "sentiments": ["negative"]}]}
        first = client.post(api, headers=auth, json={"rules": warm, "version": read})
        assert first.status_code == 201, first.text
        formal = {"rules": {"default": "formal", "rules": []}}
        stale = client.post(api, headers=auth, json={**formal, "version": read})
        assert stale.status_code == 409, stale.text
        assert "version 1 is live" in stale.json()["detail"]
        assert stale.json()["extra"] == {"version": 1}
        live = client.get("/api/supervisor/rules", headers=auth).json()["tone"]
        assert (live["version"], live["rules"]["rules"][0]["tone"]) == (1, "warm")
        assert versions(rt) == 1
        current = client.post(api, headers=auth, json={**formal, "version": 1})
        assert current.status_code == 201, current.text
        assert current.json()["tone"]["version"] == 2
        unchecked = client.post(api, headers=auth, json={"rules": warm})
        assert unchecked.json()["tone"]["version"] == 3, "without a version it overwrites"
        schema = client.get("/schema/openapi.json", headers=auth).json()
        documented = schema["paths"]["/api/supervisor/rules/{kind}"]["post"]
        assert "409" in documented["responses"]
        body = schema["components"]["schemas"]["ApiRules"]["properties"]["version"]
        assert "409" in str(body)


def test_every_problem_is_listed_and_rules_are_counted_from_one(rt: Runtime) -> None:
    """Six rules with mistakes in the second and the sixth: both said, as people count them."""
    rules = [ROAMING_REFUND] + [
        ROAMING_REFUND.split("\n", 2)[2].replace("roaming_refund", f"rule_{n}") for n in range(5)
    ]
    text = "".join(rules)
    second, sixth = text.split("[[rules]]")[2], text.split("[[rules]]")[6]
    text = text.replace(second, second.replace('["roaming"]', '["roming"]'))
    text = text.replace(sixth, sixth.replace("billing-dispute-review", "no-such-snippet"))
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/supervisor/rules").text
        assert ">Save action rules</button>" in page and "Save actions rules" not in page
        refused = client.post(
            "/supervisor/rules/actions/save",
            data={"text": text, "_csrf_token": csrf(client, "/supervisor/rules")},
        )
    assert refused.status_code == 422
    box = refused.text.split('id="actions-error">', 1)[1].split("</div>", 1)[0]
    problems = re.findall(r"<li>(.*?)</li>", box, re.S)
    assert [p.split(":")[0] for p in problems] == [
        "Unknown intent &#39;roming&#39; in rule 2",
        "Unknown snippet &#39;no-such-snippet&#39; in rule 6",
    ]
    assert "Not saved: 2 problems" in box
    assert "rules[" not in refused.text
    assert versions(rt) == 0


def test_a_contact_window_too_long_to_be_a_date_is_refused_not_saved(rt: Runtime) -> None:
    """A million days reaches back before year 1: saved, it made every next draft fail
    (OverflowError working out the window's start), so it is refused like any other value."""
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sue")
        for days, status, said in (
            (1_000_000, 422, "contact_days: must be 36500 (100 years) or fewer"),
            (10**20, 400, "rules.contact_days: 100000000000000000000 is out of range"),
        ):
            refused = client.post(
                "/api/supervisor/rules/actions",
                headers=auth,
                json={"rules": {"contact_days": days, "rules": []}, "version": 0},
            )
            assert refused.status_code == status, refused.text
            assert said in refused.json()["detail"]
        login(client, "sue")
        page = client.post(
            "/supervisor/rules/actions/save",
            data={
                "text": ROAMING_REFUND.replace("14", "1000000"),
                "_csrf_token": csrf(client, "/supervisor/rules"),
            },
        )
        assert page.status_code == 422
    assert versions(rt) == 0
    assert [a["name"] for a in drafted(rt, 1)["actions"]] == ["roaming_pass"]
    # A version saved before the check holds 10**20 days: every draft raised OverflowError;
    # it drafts with the longest window, and the rules editor still shows the number to correct.
    huge = ROAMING_REFUND.replace("14", str(10**20))
    with transaction(rt.factory) as session:
        session.add(RuleVersion(kind="actions", version=1, rules=tomllib.loads(huge), text=huge))
    assert [a["name"] for a in drafted(rt, 2)["actions"]] == ["roaming_refund"]
    with rt.factory() as session:
        assert current_rules(session, rt.settings).actions.contact_days == 36500
        assert str(10**20) in live_text(session, rt.settings, "actions"), "the page's, to correct"
